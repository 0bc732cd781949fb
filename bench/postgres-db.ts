// A PostgreSQL database of its own for each Postline-on-PostgreSQL relay run (issue 7): created
// empty (Postline migrates it at start), dropped afterwards even if a node still holds a
// connection. The CPU its server processes spend is sampled too: on PostgreSQL part of each
// message's work moves out of Postline into the backends that run its statements.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cpuMsOf } from './proc-stats.ts';
import { BenchSetupError } from './tools.ts';

/** Only databases with this prefix are ever created or dropped by the bench. */
export const BENCH_DB_PREFIX = 'pl_bench_';

export interface BenchDatabase {
  /** The new database's URL, for POSTLINE_DATABASE_URL. */
  readonly url: string;
  readonly name: string;
  /**
   * CPU ms used so far by the server processes connected to this database (their /proc stat),
   * keeping the last figure of a backend that has since exited; null when the server is not on
   * this machine. WAL writer and checkpointer serve every database and are not counted.
   */
  backendCpuMs(): Promise<number | null>;
  /** DROP DATABASE … WITH (FORCE); best effort, safe to call twice. */
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, application_name: 'postline-bench' });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Null when `adminUrl` answers, else why not (for the "skipped" line). */
export async function postgresProblem(adminUrl: string): Promise<string | null> {
  try {
    await withClient(adminUrl, (c) => c.query('select 1'));
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

/**
 * Drops the `pl_bench_<pid>_…` databases of bench processes that no longer run (a kill -9 or a
 * crash skips the drop); those of a bench still running, here or in another shell, are kept.
 */
export async function dropStaleBenchDatabases(adminUrl: string): Promise<string[]> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  try {
    return await withClient(adminUrl, async (c) => {
      const { rows } = await c.query<{ datname: string }>('select datname from pg_database where datname like $1', [`${BENCH_DB_PREFIX}%`]);
      const stale = rows.map((r) => r.datname).filter((name) => {
        const pid = Number(/^pl_bench_(\d+)_[0-9a-f]+$/.exec(name)?.[1] ?? NaN);
        return Number.isInteger(pid) && pid !== process.pid && !alive(pid);
      });
      for (const name of stale) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      return stale;
    });
  } catch {
    return []; // Best effort: the next run tries again.
  }
}

/** Creates `pl_bench_<pid>_<hex>` through `adminUrl`. Throws BenchSetupError. */
export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `${BENCH_DB_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  try {
    await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  } catch (err) {
    throw new BenchSetupError('BENCH_PG_CREATE', `CREATE DATABASE ${name} failed: ${(err as Error).message}`);
  }
  const lastCpu = new Map<number, number>();
  let local = true;
  let dropped = false;
  return {
    url: withDatabase(adminUrl, name),
    name,
    async backendCpuMs() {
      if (!local || dropped) return local ? [...lastCpu.values()].reduce((a, b) => a + b, 0) : null;
      try {
        const { rows } = await withClient(adminUrl, (c) => c.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [name]));
        const cpu = await Promise.all(rows.map((r) => cpuMsOf(r.pid)));
        rows.forEach((r, i) => {
          const ms = cpu[i];
          if (ms !== null) lastCpu.set(r.pid, Math.max(ms, lastCpu.get(r.pid) ?? 0));
        });
        // Backends listed but none readable: the server runs elsewhere (or in another pid namespace).
        if (rows.length > 0 && cpu.every((ms) => ms === null) && lastCpu.size === 0) local = false;
      } catch {
        // A failed sample keeps the previous figures.
      }
      return local ? [...lastCpu.values()].reduce((a, b) => a + b, 0) : null;
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined);
    },
  };
}
