// At most `max` tasks of one kind at a time; the others wait their turn in arrival order.
// Used where each task holds a lot of memory while it runs (scrypt, hashing a spooled body).
export class Gate {
  readonly max: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(max: number) {
    this.max = max;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active >= this.max) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    try {
      return await work();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }
}
