// Copies a whole instance from SQLite to PostgreSQL (`postline migrate`, issue 7): every table
// the migrations made, in foreign-key order, ids kept (serial ids too, then each sequence set
// past them), spooled bodies moved into messages.body (on PostgreSQL every body lives in the
// row: every node must read every message). Batches are keyset pages of the source's primary
// key, each inserted in one transaction on the target, so memory stays flat whatever the
// table sizes. The source is read inside one read transaction: a consistent snapshot (WAL),
// though writes a live server makes after it starts are not copied (docs/cli.md says: stop it).
import { stat, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { openStore, isPostgresUrl, redactUrl, type Store } from './open-store.ts';

export type CopyDatabaseErrorCode =
  | 'MIGRATE_BAD_SOURCE' | 'MIGRATE_BAD_TARGET' | 'MIGRATE_TARGET_NOT_EMPTY' | 'MIGRATE_SCHEMA_MISMATCH' | 'MIGRATE_COPY_FAILED' | 'MIGRATE_ABORTED';

export class CopyDatabaseError extends Error {
  readonly code: CopyDatabaseErrorCode;
  constructor(code: CopyDatabaseErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface CopyProgress {
  readonly table: string;
  readonly copied: number;
  /** Rows in the source table when its copy started. */
  readonly total: number;
  readonly done: boolean;
}

export interface CopyDatabaseOptions {
  /** `sqlite:PATH` */
  readonly from: string;
  /** `postgres://…`: an empty database (or one holding only the schema). */
  readonly to: string;
  /** Where the source's spool/ is; default the directory of the SQLite file. */
  readonly sourceDataDir?: string;
  /** Rows per keyset page and per multi-row INSERT (fewer when a table has many columns). */
  readonly batchRows?: number;
  /** Message bytes per batch of the messages table (its rows carry bodies up to 1 MiB inline, more spooled). */
  readonly batchBytes?: number;
  readonly onProgress?: (progress: CopyProgress) => void;
  readonly signal?: AbortSignal;
}

export interface CopyDatabaseReport {
  /** Row counts per table after the copy, both sides. */
  readonly tables: Record<string, { source: number; target: number }>;
  /** True when every table has as many rows on the target as on the source. */
  readonly verified: boolean;
  /** Bodies read from the source's spool into messages.body. */
  readonly spooledBodies: number;
  /** Messages whose spool file was gone (removed once every recipient was final); copied without a body. */
  readonly missingBodies: readonly string[];
}

const DEFAULT_BATCH_ROWS = 1000;
const DEFAULT_BATCH_BYTES = 16 * 1024 * 1024;
/** PostgreSQL's bind-parameter limit per statement (a 16-bit count in the wire protocol). */
const MAX_PARAMETERS = 65_535;

interface TablePlan {
  readonly name: string;
  readonly columns: readonly string[];
  readonly key: readonly string[];
  readonly intColumns: ReadonlySet<string>;
  readonly serialId: boolean;
}

type Row = Record<string, unknown>;

/**
 * Copies the SQLite instance at `from` into the PostgreSQL database at `to` (schema made by
 * openStore's migrations), refusing a target that holds any row. Throws CopyDatabaseError.
 */
export async function copyDatabase(options: CopyDatabaseOptions): Promise<CopyDatabaseReport> {
  if (!options.from.startsWith('sqlite:')) throw new CopyDatabaseError('MIGRATE_BAD_SOURCE', `--from must be sqlite:PATH, not "${options.from}"`);
  if (!isPostgresUrl(options.to)) throw new CopyDatabaseError('MIGRATE_BAD_TARGET', `--to must be a postgres:// URL, not "${redactUrl(options.to)}"`);
  const file = resolve(options.from.slice('sqlite:'.length).replace(/^\/\//, ''));
  // openStore would create an empty database where none exists: a typo must not "succeed".
  const found = await stat(file).catch(() => null);
  if (!found?.isFile()) throw new CopyDatabaseError('MIGRATE_BAD_SOURCE', `no SQLite database at ${file}`);
  const source = await openStore({ dataDir: options.sourceDataDir ?? dirname(file), databaseUrl: `sqlite:${file}` });
  // The target store's spool is never written (bodies go into rows); a scratch dir keeps it off the user's disk.
  const scratch = await mkdtemp(join(tmpdir(), 'postline-migrate-'));
  let target: Store | null = null;
  try {
    target = await openStore({ dataDir: scratch, databaseUrl: options.to, applicationName: 'postline-migrate', pool: { size: 2, connectTimeoutMs: 10_000, statementTimeoutMs: 600_000 } });
    return await copyOpen(source, target, options);
  } finally {
    await target?.close();
    await source.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

async function copyOpen(source: Store, target: Store, options: CopyDatabaseOptions): Promise<CopyDatabaseReport> {
  const src = source.db as unknown as Kysely<any>;
  const dst = target.db as unknown as Kysely<any>;
  const plans = await planTables(src, dst);
  const occupied: string[] = [];
  for (const plan of plans) if (await countRows(dst, plan.name) > 0) occupied.push(plan.name);
  if (occupied.length) {
    throw new CopyDatabaseError('MIGRATE_TARGET_NOT_EMPTY', `the target database already holds rows (${occupied.join(', ')}): migrate into an empty database`);
  }
  // One read transaction over the whole copy: every page and the final counts see the same
  // snapshot (SQLite WAL). DEFERRED takes no write lock (the adapter turns a bare BEGIN into IMMEDIATE).
  await sql`begin deferred`.execute(src);
  try {
    const spooled = { count: 0, missing: [] as string[] };
    for (const plan of plans) {
      const total = await countRows(src, plan.name);
      options.onProgress?.({ table: plan.name, copied: 0, total, done: false });
      const copied = plan.name === 'messages'
        ? await copyMessages(source, dst, plan, total, options, spooled)
        : await copyTable(src, dst, plan, total, options);
      options.onProgress?.({ table: plan.name, copied, total, done: true });
    }
    await setSequences(dst, plans);
    // The old node's claims and job leases mean nothing to the new nodes: in-flight work is
    // due again now (as a restart would make it), and every job is free to be taken.
    await dst.updateTable('recipients').set({ status: 'deferred', lease_owner: null, lease_expires_at: null, next_attempt_at: Date.now() })
      .where('status', '=', 'inflight').execute();
    await dst.updateTable('cluster_leases').set({ expires_at: 0 }).execute();
    const tables: Record<string, { source: number; target: number }> = {};
    let verified = true;
    for (const plan of plans) {
      const counts = { source: await countRows(src, plan.name), target: await countRows(dst, plan.name) };
      tables[plan.name] = counts;
      if (counts.source !== counts.target) verified = false;
    }
    return { tables, verified, spooledBodies: spooled.count, missingBodies: spooled.missing };
  } finally {
    await sql`commit`.execute(src).catch(() => undefined);
  }
}

/** Every table of the target schema (kysely's own excluded), parents before children, with its key. */
async function planTables(src: Kysely<any>, dst: Kysely<any>): Promise<TablePlan[]> {
  const targetTables = (await dst.introspection.getTables()).filter((t) => !t.isView);
  const sourceTables = new Map((await src.introspection.getTables()).filter((t) => !t.isView).map((t) => [t.name, t]));
  const keys = await primaryKeys(dst);
  const plans = new Map<string, TablePlan>();
  for (const t of targetTables) {
    const s = sourceTables.get(t.name);
    if (!s) throw new CopyDatabaseError('MIGRATE_SCHEMA_MISMATCH', `table ${t.name} exists on the target but not in the source`);
    const sourceColumns = new Set(s.columns.map((c) => c.name));
    const missing = t.columns.filter((c) => !sourceColumns.has(c.name)).map((c) => c.name);
    if (missing.length) throw new CopyDatabaseError('MIGRATE_SCHEMA_MISMATCH', `table ${t.name}: the source lacks column(s) ${missing.join(', ')}`);
    const key = keys.get(t.name);
    if (!key?.length) throw new CopyDatabaseError('MIGRATE_SCHEMA_MISMATCH', `table ${t.name} has no primary key to page by`);
    plans.set(t.name, {
      name: t.name,
      columns: t.columns.map((c) => c.name),
      key,
      intColumns: new Set(t.columns.filter((c) => /^int[248]$/.test(c.dataType)).map((c) => c.name)),
      serialId: t.columns.some((c) => c.name === 'id' && c.isAutoIncrementing),
    });
  }
  for (const name of sourceTables.keys()) {
    if (!plans.has(name)) throw new CopyDatabaseError('MIGRATE_SCHEMA_MISMATCH', `table ${name} exists in the source but not on the target`);
  }
  return foreignKeyOrder([...plans.values()], await foreignKeys(dst));
}

// PostgreSQL catalogs: kysely's introspection lists columns but not keys.
async function primaryKeys(dst: Kysely<any>): Promise<Map<string, string[]>> {
  const { rows } = await sql<{ table_name: string; column_name: string }>`
    select kcu.table_name, kcu.column_name
    from information_schema.table_constraints tc
    join information_schema.key_column_usage kcu
      on kcu.constraint_name = tc.constraint_name and kcu.table_schema = tc.table_schema and kcu.table_name = tc.table_name
    where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = current_schema()
    order by kcu.table_name, kcu.ordinal_position`.execute(dst);
  const keys = new Map<string, string[]>();
  for (const r of rows) keys.set(r.table_name, [...keys.get(r.table_name) ?? [], r.column_name]);
  return keys;
}

async function foreignKeys(dst: Kysely<any>): Promise<Array<{ child: string; parent: string }>> {
  const { rows } = await sql<{ child: string; parent: string }>`
    select ch.relname as child, pa.relname as parent
    from pg_constraint c
    join pg_class ch on ch.oid = c.conrelid
    join pg_class pa on pa.oid = c.confrelid
    join pg_namespace n on n.oid = ch.relnamespace
    where c.contype = 'f' and n.nspname = current_schema()`.execute(dst);
  return rows;
}

/** Topological order (parents first); ties keep the given order, so runs are repeatable. */
function foreignKeyOrder(plans: TablePlan[], edges: ReadonlyArray<{ child: string; parent: string }>): TablePlan[] {
  const ordered: TablePlan[] = [];
  const done = new Set<string>();
  let pending = [...plans].sort((a, b) => a.name.localeCompare(b.name));
  while (pending.length) {
    const ready = pending.filter((p) => edges.every((e) => e.child !== p.name || e.parent === p.name || done.has(e.parent)));
    if (!ready.length) throw new CopyDatabaseError('MIGRATE_SCHEMA_MISMATCH', `foreign keys form a cycle among ${pending.map((p) => p.name).join(', ')}`);
    for (const p of ready) {
      ordered.push(p);
      done.add(p.name);
    }
    pending = pending.filter((p) => !done.has(p.name));
  }
  return ordered;
}

async function countRows(db: Kysely<any>, table: string): Promise<number> {
  const row = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Rows after `after` in key order: `(k1, k2) > (v1, v2)`, row values both backends know. */
function page(db: Kysely<any>, plan: TablePlan, after: Row | null, select: readonly string[] | '*', limit: number) {
  let q = db.selectFrom(plan.name);
  q = select === '*' ? q.selectAll() : q.select(select as string[]);
  if (after) {
    const keys = sql.join(plan.key.map((k) => sql.ref(k)));
    const values = sql.join(plan.key.map((k) => after[k]));
    q = q.where(sql<boolean>`(${keys}) > (${values})`);
  }
  for (const k of plan.key) q = q.orderBy(k);
  return q.limit(limit).execute() as Promise<Row[]>;
}

function rowsPerInsert(plan: TablePlan, options: CopyDatabaseOptions): number {
  return Math.max(1, Math.min(options.batchRows ?? DEFAULT_BATCH_ROWS, Math.floor(MAX_PARAMETERS / plan.columns.length)));
}

async function copyTable(src: Kysely<any>, dst: Kysely<any>, plan: TablePlan, total: number, options: CopyDatabaseOptions): Promise<number> {
  const limit = rowsPerInsert(plan, options);
  let copied = 0;
  let last: Row | null = null;
  for (;;) {
    assertNotAborted(options.signal);
    const rows = await page(src, plan, last, '*', limit);
    if (!rows.length) return copied;
    await insertBatch(dst, plan, rows);
    copied += rows.length;
    last = rows[rows.length - 1];
    options.onProgress?.({ table: plan.name, copied, total, done: false });
  }
}

/**
 * Messages in batches bounded by bytes as well as rows: a page of keys and sizes first, then
 * the full rows of as many as fit in `batchBytes` (at least one), spooled bodies read in.
 */
async function copyMessages(source: Store, dst: Kysely<any>, plan: TablePlan, total: number, options: CopyDatabaseOptions, spooled: { count: number; missing: string[] }): Promise<number> {
  const src = source.db as unknown as Kysely<any>;
  const limit = rowsPerInsert(plan, options);
  const budget = options.batchBytes ?? DEFAULT_BATCH_BYTES;
  let copied = 0;
  let last: Row | null = null;
  for (;;) {
    const keys = await page(src, plan, last, [...plan.key, 'size'], limit);
    if (!keys.length) return copied;
    last = keys[keys.length - 1];
    for (let i = 0; i < keys.length;) {
      assertNotAborted(options.signal);
      let bytes = 0;
      let j = i;
      while (j < keys.length && (j === i || bytes + Number(keys[j].size) <= budget)) bytes += Number(keys[j++].size);
      const ids = keys.slice(i, j).map((k) => k.id as string);
      const rows = await src.selectFrom('messages').selectAll().where('id', 'in', ids).orderBy('id').execute() as Row[];
      for (const row of rows) {
        if (row.body == null && typeof row.body_path === 'string') {
          const body = await readFile(join(source.spool.dir, row.body_path)).catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return null;
            throw new CopyDatabaseError('MIGRATE_COPY_FAILED', `message ${String(row.id)}: cannot read spool file ${row.body_path}: ${err.message}`, { cause: err });
          });
          if (body) spooled.count++;
          else spooled.missing.push(row.id as string);
          row.body = body;
        }
        row.body_path = null;
      }
      await insertBatch(dst, plan, rows);
      copied += rows.length;
      options.onProgress?.({ table: plan.name, copied, total, done: false });
      i = j;
    }
  }
}

async function insertBatch(dst: Kysely<any>, plan: TablePlan, rows: readonly Row[]): Promise<void> {
  const values = rows.map((row) => {
    const out: Row = {};
    for (const c of plan.columns) out[c] = convert(row[c], plan.intColumns.has(c));
    return out;
  });
  try {
    await dst.transaction().execute((trx) => trx.insertInto(plan.name).values(values).execute());
  } catch (err) {
    const first = plan.key.map((k) => `${k}=${String(rows[0][k])}`).join(',');
    throw new CopyDatabaseError('MIGRATE_COPY_FAILED', `table ${plan.name}: inserting ${rows.length} row(s) from ${first} failed: ${(err as Error).message}`, { cause: err });
  }
}

function convert(value: unknown, integer: boolean): unknown {
  if (value === undefined) return null;
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  // SQLite keeps a REAL in an INTEGER column as given; PostgreSQL refuses "12.5" for integer.
  if (integer && typeof value === 'number' && !Number.isInteger(value)) return Math.round(value);
  return value;
}

/** Serial ids were inserted as they were: move each sequence past them, or the next insert collides. */
async function setSequences(dst: Kysely<any>, plans: readonly TablePlan[]): Promise<void> {
  for (const plan of plans.filter((p) => p.serialId)) {
    await sql`select setval(pg_get_serial_sequence(${plan.name}, 'id'), max(id)) from ${sql.table(plan.name)} having max(id) is not null`.execute(dst);
  }
}

function assertNotAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CopyDatabaseError('MIGRATE_ABORTED', 'migration interrupted; drop the target database and run it again');
}
