// A pg connection pool shaped for kysely's PostgresDialect, and for the store's conventions:
// times and ids are JavaScript numbers (int8 parsed as Number: milliseconds since the epoch
// and serial ids stay far below 2^53), flags are integer 0/1 as in SQLite (booleans bound
// as 1/0), and every connection gives up on a statement instead of waiting forever.
import pg from 'pg';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { bindParams } from '../bind-params.ts';

const INT8_OID = 20;
const NUMERIC_OID = 1700;
pg.types.setTypeParser(INT8_OID, (v) => Number(v));
// sum()/avg() over integer columns answer numeric: counters and averages here fit a double.
pg.types.setTypeParser(NUMERIC_OID, (v) => Number(v));

export interface PgPoolOptions {
  readonly url: string;
  readonly max: number;
  /** How long acquiring a connection may take before the caller is told the database is unavailable. */
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly applicationName: string;
}

/** Wraps a pooled client so parameters follow the store's conventions. */
function wrapClient(client: pg.PoolClient): PostgresPoolClient {
  return {
    get processID() {
      return (client as unknown as { processID?: number }).processID;
    },
    query: ((sqlOrCursor: unknown, parameters?: ReadonlyArray<unknown>) => {
      if (typeof sqlOrCursor === 'string') return client.query(sqlOrCursor, bindParams(parameters ?? []));
      return client.query(sqlOrCursor as never);
    }) as unknown as PostgresPoolClient['query'],
    release: (destroy?: boolean) => client.release(destroy),
  };
}

const HEARD = new WeakSet<pg.PoolClient>();

export class PgPool implements PostgresPool {
  readonly raw: pg.Pool;
  readonly options: object;

  constructor(options: PgPoolOptions) {
    this.raw = new pg.Pool({
      connectionString: options.url,
      max: options.max,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      application_name: options.applicationName,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its server (restart, network) emits here; without a listener
    // the process would die. The next query gets a fresh connection or a clear error.
    this.raw.on('error', () => undefined);
    this.options = this.raw.options;
  }

  async connect(): Promise<PostgresPoolClient> {
    const client = await this.raw.connect();
    // A checked-out client whose server goes away emits 'error' on itself (the pool listens
    // only while it is idle): unheard, that event would kill the process. The query in flight
    // rejects with the same error, which is what callers act on (451 / 503, retry).
    if (!HEARD.has(client)) {
      HEARD.add(client);
      client.on('error', () => undefined);
    }
    return wrapClient(client);
  }

  end(): Promise<void> {
    return this.raw.end();
  }
}
