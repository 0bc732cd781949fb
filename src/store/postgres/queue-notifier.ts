// LISTEN/NOTIFY between the nodes sharing a PostgreSQL database: a node that commits new or
// newly due recipients notifies `postline_queue`, and every node's delivery scheduler wakes
// at once instead of at its next poll. A notification carries no data (the queue table is
// the truth; a lost one costs at most a poll interval), so bursts are coalesced: one NOTIFY
// in flight and at most one more behind it.
import pg from 'pg';
import type { PgPool } from './pg-pool.ts';

export const QUEUE_CHANNEL = 'postline_queue';
const RECONNECT_MS = 1000;

export class QueueNotifier {
  readonly #pool: PgPool;
  readonly #listeners = new Set<() => void>();
  #client: pg.Client | null = null;
  #connecting: Promise<void> | null = null;
  #retry: NodeJS.Timeout | null = null;
  #closed = false;
  #sending = false;
  #again = false;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  notify(): void {
    if (this.#closed) return;
    if (this.#sending) {
      this.#again = true;
      return;
    }
    this.#sending = true;
    void this.#pool.raw.query(`select pg_notify('${QUEUE_CHANNEL}', '')`).catch(() => undefined).finally(() => {
      this.#sending = false;
      if (this.#again) {
        this.#again = false;
        this.notify();
      }
    });
  }

  listen(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (!this.#client && !this.#connecting) this.#connect();
    return () => this.#listeners.delete(listener);
  }

  #connect(): void {
    if (this.#closed) return;
    const options = this.#pool.raw.options;
    const client = new pg.Client({ connectionString: (options as { connectionString?: string }).connectionString, application_name: 'postline-listen' });
    client.on('notification', () => {
      for (const l of this.#listeners) l();
    });
    const fail = () => {
      if (this.#client === client) this.#client = null;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    client.on('error', fail);
    this.#connecting = client.connect()
      .then(() => client.query(`LISTEN ${QUEUE_CHANNEL}`))
      .then(() => {
        if (this.#closed) return void client.end().catch(() => undefined);
        this.#client = client;
        client.once('end', () => {
          if (!this.#closed) fail();
        });
        // Anything committed while not listening: wake the listeners once.
        for (const l of this.#listeners) l();
      })
      .catch(fail)
      .finally(() => {
        this.#connecting = null;
      });
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      if (!this.#client && !this.#connecting && this.#listeners.size) this.#connect();
    }, RECONNECT_MS);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    await this.#connecting?.catch(() => undefined);
    const c = this.#client;
    this.#client = null;
    if (c) await c.end().catch(() => undefined);
  }
}
