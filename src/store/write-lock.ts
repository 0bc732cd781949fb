// A write lock shared by the threads of one process (ingress and delivery each have their
// own SQLite connection). SQLite's busy handler sleeps 1 ms, then 2, 5, 10 … when the other
// connection holds the write lock, although a transaction here lasts about 0.1 ms: measured,
// that sleeping took 10–17 % of each thread. Taking this lock first makes a writer wait
// exactly as long as the other transaction, and asynchronously (Atomics.waitAsync), so the
// event loop keeps serving sessions meanwhile.
//
// The lock also counts its waiters, so a holder can tell that another thread is waiting and
// commit early (write-batcher.ts): a long group of delivery settlements then no longer keeps
// the API's 202s waiting behind it.

const UNLOCKED = 0;
const LOCKED = 1;
/** Cell 0: the lock; cell 1: how many threads wait for it. */
const STATE = 0;
const WAITERS = 1;

export class WriteLock {
  readonly #cell: Int32Array;

  /** Pass the same buffer to every thread that writes to the database. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.#cell = new Int32Array(buffer);
  }

  get buffer(): SharedArrayBuffer {
    return this.#cell.buffer as SharedArrayBuffer;
  }

  /** Whether another writer waits for the lock now (always false with an old 4-byte buffer). */
  get contended(): boolean {
    return this.#cell.length > WAITERS && Atomics.load(this.#cell, WAITERS) > 0;
  }

  async acquire(): Promise<void> {
    if (Atomics.compareExchange(this.#cell, STATE, UNLOCKED, LOCKED) === UNLOCKED) return;
    const counted = this.#cell.length > WAITERS;
    if (counted) Atomics.add(this.#cell, WAITERS, 1);
    try {
      while (Atomics.compareExchange(this.#cell, STATE, UNLOCKED, LOCKED) !== UNLOCKED) {
        const waited = Atomics.waitAsync(this.#cell, STATE, LOCKED, 1000);
        if (waited.async) await waited.value;
      }
    } finally {
      if (counted) Atomics.sub(this.#cell, WAITERS, 1);
    }
  }

  release(): void {
    Atomics.store(this.#cell, STATE, UNLOCKED);
    Atomics.notify(this.#cell, STATE, 1);
  }
}
