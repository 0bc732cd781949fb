// Group commit: writes that arrive while a transaction is being built share it, so one
// fsync covers many messages (SMTP sessions each waiting for their 250). The batch is
// cut at the next turn of the event loop or at maxBatch, whichever comes first.
//
// The fsync itself runs off the event loop: node:sqlite is synchronous, and a COMMIT with
// synchronous=FULL would block every session while the disk flushes. Instead the database
// commits with synchronous=NORMAL (the WAL is appended, not flushed) and `syncDurable`
// flushes the WAL file on the thread pool; a write asking for durability resolves only
// after a flush that began after its commit. That is the durability of FULL, paid for
// once per group of commits and without stopping the loop.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.ts';
import type { WriteLock } from './write-lock.ts';

type Work<T> = (trx: Transaction<Database>) => Promise<T>;
interface Pending {
  work: Work<unknown>;
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface WriteBatcherOptions {
  readonly maxBatch?: number;
  /** Serialises write transactions with other threads' connections (see write-lock.ts). */
  readonly lock?: WriteLock;
  /** Makes every commit so far durable (e.g. fsync of the WAL); none means commits are. */
  readonly syncDurable?: () => Promise<void>;
}

export class WriteBatcher {
  readonly #db: Kysely<Database>;
  readonly #maxBatch: number;
  readonly #sync: Coalesced | null;
  readonly #lock: WriteLock | undefined;
  #pending: Pending[] = [];
  #running = false;
  #scheduled = false;
  #batches = 0;
  #writes = 0;

  constructor(db: Kysely<Database>, options: WriteBatcherOptions = {}) {
    this.#db = db;
    this.#maxBatch = options.maxBatch ?? 256;
    this.#sync = options.syncDurable ? new Coalesced(options.syncDurable) : null;
    this.#lock = options.lock;
  }

  /**
   * Runs `work` inside a transaction shared with other concurrent writes; resolves after
   * the COMMIT is on disk, or only after the COMMIT with `durable: false` (for writes whose
   * loss in a crash repeats work but loses nothing, such as delivery results).
   */
  write<T>(work: Work<T>, options: { durable?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, durable: options.durable ?? true, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  stats(): { batches: number; writes: number } {
    return { batches: this.#batches, writes: this.#writes };
  }

  #schedule(): void {
    if (this.#running || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#running || this.#pending.length === 0) return;
    this.#running = true;
    const batch = this.#pending.splice(0, this.#maxBatch);
    const settled: Array<{ item: Pending; ok: boolean; value: unknown }> = [];
    await this.#lock?.acquire();
    try {
      const results: unknown[] = [];
      await this.#db.transaction().execute(async (trx) => {
        for (const item of batch) results.push(await item.work(trx));
      });
      this.#batches++;
      this.#writes += batch.length;
      batch.forEach((item, i) => settled.push({ item, ok: true, value: results[i] }));
    } catch (err) {
      // One failed write fails the batch; if it was a single write's own fault, retry the
      // others alone so one bad row does not cost the rest their acceptance.
      if (batch.length > 1) {
        for (const item of batch) {
          try {
            settled.push({ item, ok: true, value: await this.#db.transaction().execute((trx) => item.work(trx)) });
          } catch (e) {
            settled.push({ item, ok: false, value: e });
          }
        }
      } else {
        settled.push({ item: batch[0], ok: false, value: err });
      }
    } finally {
      this.#lock?.release();
      // The next batch may commit while this one's flush is in flight.
      this.#running = false;
      if (this.#pending.length) this.#schedule();
    }
    const needsSync = this.#sync && settled.some((s) => s.ok && s.item.durable);
    let syncError: unknown = null;
    if (needsSync) {
      try {
        await this.#sync!.run();
      } catch (err) {
        syncError = err;
      }
    }
    for (const { item, ok, value } of settled) {
      if (!ok) item.reject(value);
      else if (item.durable && syncError) item.reject(syncError);
      else item.resolve(value);
    }
  }
}

/**
 * Runs an async action so that every caller gets a run that started after its call; calls
 * that arrive while one runs share the next run.
 */
class Coalesced {
  readonly #action: () => Promise<void>;
  #current: Promise<void> | null = null;
  #next: Promise<void> | null = null;

  constructor(action: () => Promise<void>) {
    this.#action = action;
  }

  run(): Promise<void> {
    if (!this.#current) {
      this.#current = this.#action().finally(() => {
        this.#current = null;
      });
      return this.#current;
    }
    this.#next ??= this.#current.catch(() => undefined).then(() => {
      this.#next = null;
      return this.run();
    });
    return this.#next;
  }
}
