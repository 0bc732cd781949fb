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
//
// Each group starts its own flush right after its COMMIT (up to `maxSyncs` at once). Before,
// a group committed while a flush ran waited for that flush to come back through the event
// loop, then for one more: measured on the API bench (50 clients), waiting for the flush
// was 8–9 of the 12–15 ms a 202 took on average, and twice the flush itself at the median.
// And when the other thread waits for the write lock (WriteLock.contended), a long group
// commits after `sliceMs` and lets it in: a group of delivery settlements held the API's
// commits for up to 20 ms.
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
  /** Flushes (syncDurable) running at once at most; more callers share the next one. Default 4. */
  readonly maxSyncs?: number;
  /** When another thread waits for the lock, commit once the transaction has run this long (ms). Default 2. */
  readonly sliceMs?: number;
}

export class WriteBatcher {
  readonly #db: Kysely<Database>;
  readonly #maxBatch: number;
  readonly #sync: Coalesced | null;
  readonly #lock: WriteLock | undefined;
  readonly #sliceMs: number;
  #pending: Pending[] = [];
  #running = false;
  #scheduled = false;
  #batches = 0;
  #writes = 0;

  constructor(db: Kysely<Database>, options: WriteBatcherOptions = {}) {
    this.#db = db;
    this.#maxBatch = options.maxBatch ?? 256;
    this.#sync = options.syncDurable ? new Coalesced(options.syncDurable, options.maxSyncs ?? 4) : null;
    this.#lock = options.lock;
    this.#sliceMs = options.sliceMs ?? 2;
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
      const lock = this.#lock;
      const started = performance.now();
      await this.#db.transaction().execute(async (trx) => {
        for (const item of batch) {
          results.push(await item.work(trx));
          // Another thread waits for the lock: commit what is done and let it in; the rest
          // goes first in the next group, so the other thread waits a slice, not our group.
          if (lock?.contended && results.length < batch.length && performance.now() - started >= this.#sliceMs) break;
        }
      });
      if (results.length < batch.length) this.#pending.unshift(...batch.splice(results.length));
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
 * Runs an async action so that every caller gets a run that started after its call. Up to
 * `max` runs go at once; callers beyond that share the next run, which takes over the slot
 * of the first run to finish.
 */
class Coalesced {
  readonly #action: () => Promise<void>;
  readonly #max: number;
  #running = 0;
  #next: Promise<void> | null = null;
  #startNext: (() => void) | null = null;

  constructor(action: () => Promise<void>, max: number) {
    this.#action = action;
    this.#max = Math.max(1, max);
  }

  run(): Promise<void> {
    if (this.#running < this.#max) {
      this.#running++;
      return this.#start();
    }
    this.#next ??= new Promise<void>((resolve) => {
      this.#startNext = resolve;
    }).then(() => this.#start());
    return this.#next;
  }

  #start(): Promise<void> {
    return this.#action().finally(() => {
      const handOver = this.#startNext;
      if (!handOver) {
        this.#running--;
        return;
      }
      this.#startNext = null;
      this.#next = null;
      handOver();
    });
  }
}
