// AUTH failures per key (a client IP, or an account name): after `slowAfter` failures
// replies are delayed (`delayMs`, doubling, at most 16 times that), after `blockAfter` the key
// is refused until the window passes (421 4.7.0 for an IP, 454 4.7.0 for an account). Other
// clients are unaffected: the state is per key and the delay is a timer, not a busy wait.
export interface AuthThrottleOptions {
  readonly slowAfter: number;
  readonly blockAfter: number;
  readonly windowMs: number;
  /** First delay once slowing starts; default 500 ms. */
  readonly delayMs?: number;
  readonly maxTracked?: number;
}

interface Entry {
  failures: number;
  firstAt: number;
  blockedUntil: number;
}

export class AuthThrottle {
  #options: AuthThrottleOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(options: AuthThrottleOptions) {
    this.#options = options;
  }

  /** New thresholds (SIGHUP); failures already counted stay counted. */
  configure(options: AuthThrottleOptions): void {
    this.#options = options;
  }

  isBlocked(key: string, now = Date.now()): boolean {
    const e = this.#entries.get(key);
    return !!e && e.blockedUntil > now;
  }

  /** Records a failure; returns how long to hold the reply, in ms. */
  fail(key: string, now = Date.now()): number {
    let e = this.#entries.get(key);
    if (!e || now - e.firstAt > this.#options.windowMs) {
      e = { failures: 0, firstAt: now, blockedUntil: 0 };
      if (this.#entries.size >= (this.#options.maxTracked ?? 100_000)) this.#evict(now);
      this.#entries.set(key, e);
    }
    e.failures++;
    if (e.failures >= this.#options.blockAfter) e.blockedUntil = now + this.#options.windowMs;
    if (e.failures < this.#options.slowAfter) return 0;
    const base = this.#options.delayMs ?? 500;
    return Math.min(base * 2 ** (e.failures - this.#options.slowAfter), base * 16);
  }

  succeed(key: string): void {
    this.#entries.delete(key);
  }

  #evict(now: number): void {
    for (const [ip, e] of this.#entries) {
      if (now - e.firstAt > this.#options.windowMs && e.blockedUntil <= now) this.#entries.delete(ip);
    }
    if (this.#entries.size >= (this.#options.maxTracked ?? 100_000)) this.#entries.clear();
  }
}
