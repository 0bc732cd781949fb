// Group commit: writes that arrive while a transaction is being built share it, so one
// fsync covers many messages (SMTP sessions each waiting for their 250). The batch is
// cut at the next turn of the event loop or at maxBatch, whichever comes first.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.ts';

type Work<T> = (trx: Transaction<Database>) => Promise<T>;
interface Pending {
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class WriteBatcher {
  readonly #db: Kysely<Database>;
  readonly #maxBatch: number;
  #pending: Pending[] = [];
  #running = false;
  #scheduled = false;
  #batches = 0;
  #writes = 0;

  constructor(db: Kysely<Database>, options: { maxBatch?: number } = {}) {
    this.#db = db;
    this.#maxBatch = options.maxBatch ?? 256;
  }

  /** Runs `work` inside a transaction shared with other concurrent writes; resolves after COMMIT. */
  write<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve: resolve as (v: unknown) => void, reject });
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
    const results: unknown[] = [];
    try {
      await this.#db.transaction().execute(async (trx) => {
        for (const item of batch) results.push(await item.work(trx));
      });
      this.#batches++;
      this.#writes += batch.length;
      batch.forEach((item, i) => item.resolve(results[i]));
    } catch (err) {
      // One failed write fails the batch; if it was a single write's own fault, retry the
      // others alone so one bad row does not cost the rest their acceptance.
      if (batch.length > 1) {
        for (const item of batch) {
          try {
            const value = await this.#db.transaction().execute((trx) => item.work(trx));
            item.resolve(value);
          } catch (e) {
            item.reject(e);
          }
        }
      } else {
        batch[0].reject(err);
      }
    } finally {
      this.#running = false;
      if (this.#pending.length) this.#schedule();
    }
  }
}
