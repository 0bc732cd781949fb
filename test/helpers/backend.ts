// Which database backend the suite runs on: `npm test` runs every test file on SQLite, then
// again on PostgreSQL (POSTLINE_TEST_BACKEND=postgres, scripts/test.ts), except files marked
// `// backend: sqlite-only` in their first lines (they test SQLite itself: WAL, disk full…).
// On PostgreSQL each store or server gets a database of its own, created from a template
// that scripts/test.ts migrated once, so tests stay as independent as separate data dirs.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { openStore, type Store, type StoreOptions } from '../../src/store/index.ts';

export type TestBackend = 'sqlite' | 'postgres';
export const TEST_BACKEND: TestBackend = process.env.POSTLINE_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
export const PG_ADMIN_URL = process.env.POSTLINE_TEST_PG_URL ?? 'postgres://postline:postline@127.0.0.1:5432/postgres';
/**
 * The test run (scripts/test.ts sets its own pid): each run has its own template and its
 * databases carry the run's id, so two runs on one cluster (a developer's file while CI runs)
 * never drop each other's databases. PostgreSQL tests therefore run through scripts/test.ts
 * (`POSTLINE_TEST_BACKENDS=postgres npm test -- test/x.test.ts`), which makes the template.
 */
export const PG_RUN = process.env.POSTLINE_TEST_PG_RUN ?? '';
export const PG_TEMPLATE_PREFIX = 'postline_test_template';
const PG_TEMPLATE = `${PG_TEMPLATE_PREFIX}_${PG_RUN}`;
export const PG_TEST_PREFIX = 'pl_t_';

/** A new test database name: `pl_t_<run>_<pid>_<random>`. */
function newDatabaseName(): string {
  if (!PG_RUN) throw new Error('PostgreSQL tests run through scripts/test.ts, which makes their template: POSTLINE_TEST_BACKENDS=postgres npm test -- <files>');
  return `${PG_TEST_PREFIX}${PG_RUN}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

function urlFor(database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/** A fresh, migrated PostgreSQL database (its URL), or null on SQLite. */
export async function testDatabaseUrl(): Promise<string | null> {
  if (TEST_BACKEND !== 'postgres') return null;
  const name = newDatabaseName();
  // CREATE DATABASE … TEMPLATE fails while another session is connected to the template;
  // only scripts/test.ts ever is, before the tests start. Retry briefly anyway.
  for (let i = 0; ; i++) {
    try {
      await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${PG_TEMPLATE}`));
      return urlFor(name);
    } catch (err) {
      if (i >= 20 || !/being accessed by other users/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
}

/** A fresh, migrated PostgreSQL database whatever the suite's backend (tests of PostgreSQL itself). */
export async function newPostgresDatabase(): Promise<string> {
  const name = newDatabaseName();
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${PG_TEMPLATE}`));
  return urlFor(name);
}

/** Drops a database made by testDatabaseUrl (best effort: the next run's setup drops leftovers). */
export async function dropTestDatabase(url: string | null | undefined): Promise<void> {
  if (!url) return;
  const name = new URL(url).pathname.slice(1);
  if (!name.startsWith(PG_TEST_PREFIX)) return;
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined);
}

// One database per data dir within a test process: a CLI run, a server and a store opened on
// the same data dir must see the same data, as they do on SQLite.
const byDataDir = new Map<string, Promise<string | null>>();

function databaseForDataDir(dataDir: string): Promise<string | null> {
  const key = resolve(dataDir);
  let url = byDataDir.get(key);
  if (!url) byDataDir.set(key, url = testDatabaseUrl());
  return url;
}

/** The PostgreSQL database of a data dir (made on first use), or null on SQLite. */
export function databaseUrlOf(dataDir: string): Promise<string | null> {
  return databaseForDataDir(dataDir);
}

/**
 * `env` for a server or CLI on the suite's backend: on PostgreSQL, POSTLINE_DATABASE_URL of
 * the database that belongs to env's POSTLINE_DATA_DIR (unless env names one already).
 */
export async function withBackend<E extends Record<string, string | undefined>>(env: E): Promise<E> {
  if (TEST_BACKEND !== 'postgres' || env.POSTLINE_DATABASE_URL || !env.POSTLINE_DATA_DIR) return env;
  const url = await databaseForDataDir(env.POSTLINE_DATA_DIR);
  return url ? { ...env, POSTLINE_DATABASE_URL: url } : env;
}

/** openStore on the suite's backend (the data dir's own database on PostgreSQL). */
export async function openTestStore(options: StoreOptions): Promise<Store> {
  const url = options.databaseUrl ?? await databaseForDataDir(options.dataDir);
  return openStore({ ...options, databaseUrl: url });
}

/**
 * Rows of a read-only query against the database of a running or stopped server (by its
 * env: POSTLINE_DATABASE_URL on PostgreSQL, else <data dir>/postline.db). Write the SQL with
 * `?` placeholders and nothing backend-specific.
 */
export async function queryServerDb<R>(server: { readonly dataDir: string; readonly env: Record<string, string> }, text: string, params: unknown[] = []): Promise<R[]> {
  const url = server.env.POSTLINE_DATABASE_URL;
  if (url && /^postgres(ql)?:/.test(url)) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      let n = 0;
      return (await c.query(text.replace(/\?/g, () => `$${++n}`), params)).rows as R[];
    } finally {
      await c.end();
    }
  }
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(server.dataDir, 'postline.db'), { readOnly: true });
  try {
    return db.prepare(text).all(...(params as never[])) as R[];
  } finally {
    db.close();
  }
}
