// A write lock shared by the threads of one process (ingress and delivery each have their
// own SQLite connection). SQLite's busy handler sleeps 1 ms, then 2, 5, 10 … when the other
// connection holds the write lock, although a transaction here lasts about 0.1 ms: measured,
// that sleeping took 10–17 % of each thread. Taking this lock first makes a writer wait
// exactly as long as the other transaction, and asynchronously (Atomics.waitAsync), so the
// event loop keeps serving sessions meanwhile.

const UNLOCKED = 0;
const LOCKED = 1;

export class WriteLock {
  readonly #cell: Int32Array;

  /** Pass the same buffer to every thread that writes to the database. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.#cell = new Int32Array(buffer);
  }

  get buffer(): SharedArrayBuffer {
    return this.#cell.buffer as SharedArrayBuffer;
  }

  async acquire(): Promise<void> {
    while (Atomics.compareExchange(this.#cell, 0, UNLOCKED, LOCKED) !== UNLOCKED) {
      const waited = Atomics.waitAsync(this.#cell, 0, LOCKED, 1000);
      if (waited.async) await waited.value;
    }
  }

  release(): void {
    Atomics.store(this.#cell, 0, UNLOCKED);
    Atomics.notify(this.#cell, 0, 1);
  }
}
