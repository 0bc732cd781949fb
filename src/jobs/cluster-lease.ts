// A cluster-wide background job runs on one node at a time: the node holding its lease
// (cluster_leases). The holder renews it each run; when the holder stops it gives the lease
// up, and when it dies the lease expires and another node takes the job over. On SQLite
// there is one node and the lease is always this node's, by the same code path.
import type { Logger } from 'pino';
import { dropClusterLease, takeClusterLease, type Store } from '../store/index.ts';

export class ClusterLease {
  readonly name: string;
  readonly #store: Store;
  readonly #owner: string;
  readonly #ttlMs: number;
  readonly #log: Logger | undefined;
  #held = false;
  #renewedAt = 0;

  constructor(options: { store: Store; name: string; owner: string; ttlMs: number; log?: Logger }) {
    this.#store = options.store;
    this.name = options.name;
    this.#owner = options.owner;
    this.#ttlMs = options.ttlMs;
    this.#log = options.log;
  }

  /**
   * Takes or renews the lease; false when another node holds it (or the database cannot be
   * reached). A lease held and renewed less than a third of its length ago is still ours: no
   * write (the webhook dispatcher asks every round, four times a second).
   */
  async hold(now = Date.now()): Promise<boolean> {
    if (this.#held && now - this.#renewedAt < this.#ttlMs / 3) return true;
    let held = false;
    try {
      held = await this.#store.write((trx) => takeClusterLease(trx, this.name, this.#owner, now, this.#ttlMs), { durable: false });
    } catch (err) {
      this.#log?.warn({ err, job: this.name }, 'could not take the job lease; skipping this run');
    }
    if (held !== this.#held) this.#log?.info({ job: this.name, owner: this.#owner }, held ? 'this node runs the job now' : 'another node runs the job now');
    this.#held = held;
    if (held) this.#renewedAt = now;
    return held;
  }

  /** True while this node holds the lease (as of the last hold()). */
  get held(): boolean {
    return this.#held;
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    await this.#store.write((trx) => dropClusterLease(trx, this.name, this.#owner), { durable: false }).catch(() => undefined);
  }
}
