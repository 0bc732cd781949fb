// Adapts built-in node:sqlite to the database shape kysely's SqliteDialect drives
// (prepare → reader/all/run/iterate). Prepared statements are cached: kysely prepares
// every query afresh, and preparing costs more than running our small statements.
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { bindParams } from '../bind-params.ts';

const MAX_CACHED_STATEMENTS = 500;

function toParams(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return bindParams(parameters) as SQLInputValue[];
}

class CachedStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #stmt: StatementSync;

  constructor(stmt: StatementSync) {
    this.#stmt = stmt;
    this.reader = stmt.columns().length > 0;
  }
  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#stmt.all(...toParams(parameters));
  }
  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#stmt.run(...toParams(parameters));
  }
  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#stmt.iterate(...toParams(parameters)) as IterableIterator<unknown>;
  }
}

export class NodeSqliteDatabase implements SqliteDatabase {
  readonly raw: DatabaseSync;
  readonly #cache = new Map<string, CachedStatement>();

  constructor(path: string) {
    this.raw = new DatabaseSync(path, { timeout: 5000 });
    // WAL + synchronous=FULL: a COMMIT is on disk (WAL fsync) before it returns, and
    // readers (the CLI) never block the writer.
    this.raw.exec('PRAGMA journal_mode = WAL');
    this.raw.exec('PRAGMA synchronous = FULL');
    this.raw.exec('PRAGMA foreign_keys = ON');
    this.raw.exec('PRAGMA busy_timeout = 5000');
    // 16 MiB of page cache per connection (two: ingress and delivery) keeps the hot queue
    // pages in memory; bodies are read once per attempt and need not stay cached.
    this.raw.exec('PRAGMA cache_size = -16384');
    this.raw.exec('PRAGMA wal_autocheckpoint = 4000');
  }

  prepare(sql: string): SqliteStatement {
    // Write transactions take the write lock at BEGIN (IMMEDIATE): with two connections
    // (ingress and delivery threads) a deferred transaction that read first could not
    // upgrade after the other committed (SQLITE_BUSY_SNAPSHOT) and would fail whole.
    if (sql === 'begin') sql = 'begin immediate';
    // After SQLITE_FULL, IOERR or NOMEM SQLite may already have rolled the transaction back
    // ("Response To Errors Within A Transaction", sqlite.org/lang_transaction.html); a ROLLBACK
    // then fails with "no transaction is active" and kysely throws that instead of the error
    // that matters (a full disk must answer 452 4.3.1, not 451). Nothing left to undo: no-op.
    if (sql === 'rollback' && !this.raw.isTransaction) sql = 'select 1';
    let stmt = this.#cache.get(sql);
    if (!stmt) {
      if (this.#cache.size >= MAX_CACHED_STATEMENTS) this.#cache.clear();
      stmt = new CachedStatement(this.raw.prepare(sql));
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  close(): void {
    this.#cache.clear();
    if (this.raw.isOpen) this.raw.close();
  }
}
