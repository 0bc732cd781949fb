// Opens the store: the database (embedded SQLite, or PostgreSQL shared by several nodes),
// its migrations, the group-commit writer and the spool for large bodies. The dialect
// differences live here and in sqlite/ and postgres/; the repositories are written once.
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import { MIGRATIONS } from './migrations/index.ts';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Database } from './database.ts';
import { NodeSqliteDatabase } from './sqlite/sqlite-adapter.ts';
import { WriteBatcher } from './write-batcher.ts';
import { Spool } from './spool.ts';
import { WalFile } from './sqlite/wal-file.ts';
import { startWalCheckpoints } from './sqlite/wal-checkpoints.ts';
import { bodyPathIfFinal } from './repos/messages.ts';
import type { WriteLock } from './write-lock.ts';
import { PgPool } from './postgres/pg-pool.ts';
import { QueueNotifier } from './postgres/queue-notifier.ts';


class StaticMigrations implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export interface StoreOptions {
  readonly dataDir: string;
  readonly databaseUrl?: string | null;
  /** Bodies up to this size are kept in the database row. */
  readonly inlineBodyLimitBytes?: number;
  /** Shared with the other threads of this process that open the same database. */
  readonly writeLock?: WriteLock;
  /**
   * WAL checkpoints (SQLite). 'auto' (default): the connection that commits past
   * wal_autocheckpoint copies the WAL into the database right then, inside its transaction,
   * which stalls it (and the shared write lock) for tens of ms. 'none': this connection never
   * checkpoints (the server's API/SMTP thread). 'background': none inside commits, but a
   * PASSIVE checkpoint every 250 ms from a timer, outside any transaction, which writers do
   * not wait for; given the process's `writeLock`, it also lets the WAL start over
   * (sqlite/wal-checkpoints.ts). The delivery thread does this for the process.
   */
  readonly checkpoints?: 'auto' | 'none' | 'background';
  /** A background checkpoint failed (the next one retries; a WAL that keeps failing grows). */
  readonly onCheckpointError?: (err: unknown) => void;
  /** PostgreSQL connection pool (config `database.*`). */
  readonly pool?: { readonly size: number; readonly connectTimeoutMs: number; readonly statementTimeoutMs: number };
  /** Names this process's connections in pg_stat_activity. */
  readonly applicationName?: string;
}

/** What `openStore` needs from the configuration. */
export function storeOptionsOf(config: { readonly data_dir: string; readonly database: { readonly url: string | null; readonly pool_size: number; readonly connect_timeout: number; readonly statement_timeout: number } }): StoreOptions {
  return {
    dataDir: config.data_dir,
    databaseUrl: config.database.url,
    pool: { size: config.database.pool_size, connectTimeoutMs: config.database.connect_timeout, statementTimeoutMs: config.database.statement_timeout },
  };
}

export function isPostgresUrl(url: string | null | undefined): boolean {
  return !!url && /^postgres(ql)?:\/\//i.test(url);
}

/** A message stored as what it is made from (`messages.body_render`), to be made now. */
export interface DeferredBody {
  readonly messageId: string;
  readonly tenantId: string | null;
  /** The `body_render` JSON. */
  readonly spec: string;
  readonly createdAt: number;
  /** The Message-ID given at expansion: the made message carries that one (the node making it may have another hostname). */
  readonly messageIdHeader: string | null;
}

/** Makes a deferred body; the same bytes every time for the same message. Throws UnmakeableBodyError when it never can. */
export type BodyRenderer = (body: DeferredBody) => Promise<Buffer>;

/** A deferred body that can never be made (what it is made from is gone): its recipients are cancelled, not retried. */
export class UnmakeableBodyError extends Error {
  readonly code: string = 'BODY_UNMAKEABLE';
}

export interface Store {
  readonly db: Kysely<Database>;
  readonly spool: Spool;
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs `work` in a shared, group-committed transaction; resolves after the commit is durable. */
  write<T>(work: (trx: Kysely<Database>) => Promise<T>, options?: { durable?: boolean }): Promise<T>;
  /** The message bytes, from the row or from the spool. */
  /** The message's bytes; a message made when sent (`body_render`) is made by `options.render`. */
  openBody(messageId: string, options?: { readonly render?: BodyRenderer }): Promise<Buffer | Readable>;
  writeStats(): { batches: number; writes: number };
  /**
   * Removes spool files no message needs any more (DATA cut short by a crash, or a message
   * finished just before one). Call before the listeners start, when no DATA can be in progress.
   */
  sweepSpool(): Promise<number>;
  /**
   * Tells every node's delivery workers that recipients became due (PostgreSQL NOTIFY after
   * a commit); a no-op on SQLite, where one process hands work over in memory.
   */
  notifyQueue(): void;
  /** Calls `listener` when any node notifies; answers the function that stops listening. */
  onQueueNotify(listener: () => void): () => void;
  close(): Promise<void>;
}

export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
}

export async function openStore(options: StoreOptions): Promise<Store> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const url = options.databaseUrl;
  if (url && isPostgresUrl(url)) return openPostgresStore(options, dataDir, url);
  if (url && !url.startsWith('sqlite:')) {
    throw new StoreUnavailableError(`database url "${redactUrl(url)}" is not supported: use postgres://… or sqlite:PATH (or leave POSTLINE_DATABASE_URL unset for SQLite in the data dir)`);
  }
  return openSqliteStore(options, dataDir, url ? url.slice('sqlite:'.length).replace(/^\/\//, '') : join(dataDir, 'postline.db'));
}

export function redactUrl(url: string): string {
  return url.replace(/:[^:@/]*@/, ':***@');
}

async function migrate(db: Kysely<Database>): Promise<void> {
  // Unordered: migrations written on parallel branches may land in either order.
  const migrator = new Migrator({ db, provider: new StaticMigrations(), allowUnorderedMigrations: true });
  const { error } = await migrator.migrateToLatest();
  if (error) throw new StoreUnavailableError(`database migration failed: ${(error as Error).message}`, { cause: error });
}

async function openSqliteStore(options: StoreOptions, dataDir: string, file: string): Promise<Store> {
  const sqlite = new NodeSqliteDatabase(file);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db);
  const spool = new Spool(join(dataDir, 'spool'), { inlineLimitBytes: options.inlineBodyLimitBytes });
  await spool.init();
  // Commits append to the WAL (synchronous=NORMAL); durable writes then wait for an fsync
  // of the WAL file on the thread pool (see write-batcher.ts).
  const wal = await WalFile.open(file);
  sqlite.raw.exec('PRAGMA synchronous = NORMAL');
  const batcher = new WriteBatcher(db, { syncDurable: () => wal.sync(), lock: options.writeLock });
  if (options.checkpoints === 'none' || options.checkpoints === 'background') sqlite.raw.exec('PRAGMA wal_autocheckpoint = 0');
  const stopCheckpoints = options.checkpoints === 'background' ? startWalCheckpoints(() => sql`PRAGMA wal_checkpoint(PASSIVE)`.execute(db), options.writeLock, options.onCheckpointError ?? (() => undefined), () => {
    if (sqlite.raw.isTransaction) return false;
    sqlite.raw.exec('PRAGMA wal_checkpoint(PASSIVE)');
    return true;
  }) : () => undefined;
  return storeOver(db, spool, batcher, 'sqlite', {
    notifyQueue: () => undefined,
    onQueueNotify: () => () => undefined,
    async close() {
      stopCheckpoints();
      await db.destroy();
      await wal.close();
    },
  });
}

/**
 * PostgreSQL: commits are durable when they return (synchronous_commit on), so the batcher
 * needs no fsync of its own; it still groups concurrent writes into one transaction, which
 * saves a round trip and a WAL flush per message. Bodies always live in the row (bytea):
 * every node must read every message, and a spool file is one node's.
 */
async function openPostgresStore(options: StoreOptions, dataDir: string, url: string): Promise<Store> {
  const poolOptions = options.pool ?? { size: 10, connectTimeoutMs: 5000, statementTimeoutMs: 30_000 };
  const pool = new PgPool({
    url, max: poolOptions.size, connectTimeoutMs: poolOptions.connectTimeoutMs, statementTimeoutMs: poolOptions.statementTimeoutMs,
    applicationName: options.applicationName ?? 'postline',
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    // Nodes starting together: kysely's Migrator takes a PostgreSQL advisory lock, so one migrates and the others then find nothing to do.
    await migrate(db);
  } catch (err) {
    await db.destroy().catch(() => undefined);
    if (err instanceof StoreUnavailableError) throw err;
    throw new StoreUnavailableError(`cannot open the PostgreSQL database at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  const spool = new Spool(join(dataDir, 'spool'), { inlineLimitBytes: Number.MAX_SAFE_INTEGER });
  await spool.init();
  const batcher = new WriteBatcher(db, {});
  const notifier = new QueueNotifier(pool);
  return storeOver(db, spool, batcher, 'postgres', {
    notifyQueue: () => notifier.notify(),
    onQueueNotify: (listener) => notifier.listen(listener),
    async close() {
      await notifier.close();
      await db.destroy();
    },
  });
}

function storeOver(db: Kysely<Database>, spool: Spool, batcher: WriteBatcher, dialect: 'sqlite' | 'postgres', rest: Pick<Store, 'notifyQueue' | 'onQueueNotify' | 'close'>): Store {
  return {
    db,
    spool,
    dialect,
    write: (work, options) => batcher.write(work, options),
    async openBody(messageId, options) {
      const row = await db.selectFrom('messages').select(['body', 'body_path', 'body_render', 'message_id_header', 'created_at', 'tenant_id']).where('id', '=', messageId).executeTakeFirst();
      if (!row) throw new StoreUnavailableError(`message ${messageId} not found`);
      if (row.body) return Buffer.from(row.body.buffer, row.body.byteOffset, row.body.byteLength);
      if (row.body_path) return spool.open(row.body_path);
      if (row.body_render) {
        if (!options?.render) throw new StoreUnavailableError(`message ${messageId} is made when sent, and no renderer was given`);
        return options.render({ messageId, tenantId: row.tenant_id, spec: row.body_render, createdAt: Number(row.created_at), messageIdHeader: row.message_id_header });
      }
      throw new StoreUnavailableError(`message ${messageId} has no body`);
    },
    writeStats: () => batcher.stats(),
    async sweepSpool() {
      let removed = 0;
      for (const name of await spool.list()) {
        const row = await db.selectFrom('messages').select('id').where('body_path', '=', name).executeTakeFirst();
        // No row: DATA was cut short. A row whose recipients are all final: a crash came
        // between recording the last outcome and removing the file.
        if (!row || (await bodyPathIfFinal(db, row.id)) === name) {
          await spool.remove(name);
          removed++;
        }
      }
      return removed;
    },
    ...rest,
  };
}
