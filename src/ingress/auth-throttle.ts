// AUTH failures per client IP: after `slowAfter` failures replies are delayed (growing,
// capped), after `blockAfter` the IP gets `421 4.7.0` until the window passes. Other
// clients are unaffected: the state is per IP and the delay is a timer, not a busy wait.
export interface AuthThrottleOptions {
  readonly slowAfter: number;
  readonly blockAfter: number;
  readonly windowMs: number;
  readonly maxTracked?: number;
}

interface Entry {
  failures: number;
  firstAt: number;
  blockedUntil: number;
}

export class AuthThrottle {
  readonly #options: AuthThrottleOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(options: AuthThrottleOptions) {
    this.#options = options;
  }

  isBlocked(ip: string, now = Date.now()): boolean {
    const e = this.#entries.get(ip);
    return !!e && e.blockedUntil > now;
  }

  /** Records a failure; returns how long to hold the reply, in ms. */
  fail(ip: string, now = Date.now()): number {
    let e = this.#entries.get(ip);
    if (!e || now - e.firstAt > this.#options.windowMs) {
      e = { failures: 0, firstAt: now, blockedUntil: 0 };
      if (this.#entries.size >= (this.#options.maxTracked ?? 100_000)) this.#evict(now);
      this.#entries.set(ip, e);
    }
    e.failures++;
    if (e.failures >= this.#options.blockAfter) e.blockedUntil = now + this.#options.windowMs;
    if (e.failures < this.#options.slowAfter) return 0;
    return Math.min(500 * 2 ** (e.failures - this.#options.slowAfter), 8000);
  }

  succeed(ip: string): void {
    this.#entries.delete(ip);
  }

  #evict(now: number): void {
    for (const [ip, e] of this.#entries) {
      if (now - e.firstAt > this.#options.windowMs && e.blockedUntil <= now) this.#entries.delete(ip);
    }
    if (this.#entries.size >= (this.#options.maxTracked ?? 100_000)) this.#entries.clear();
  }
}
