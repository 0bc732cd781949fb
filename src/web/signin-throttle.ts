// Sign-in throttling: failed attempts are counted per client IP and per account (email)
// within a window; past the limit that IP or account is refused (429 + Retry-After) until
// the window that started with its first failure ends. A success clears both counts.
// The same idea as ingress/auth-throttle.ts for SMTP AUTH, kept in memory per node: a
// restart forgets the counts, and N nodes allow N times the limit.

export interface SigninThrottleOptions {
  readonly maxFailuresPerIp: number;
  readonly maxFailuresPerAccount: number;
  readonly windowMs: number;
  /** Entries kept at most per kind; the oldest expired go first, then all (memory bound). */
  readonly maxTracked?: number;
}

interface Entry {
  failures: number;
  firstAt: number;
}

/** Refused: which limit, and whole seconds until it lifts (RFC 9110 §10.2.3 Retry-After). */
export interface ThrottleRefusal {
  readonly limit: 'ip' | 'account';
  readonly retryAfterSeconds: number;
}

export class SigninThrottle {
  readonly #options: SigninThrottleOptions;
  readonly #ips = new Map<string, Entry>();
  readonly #accounts = new Map<string, Entry>();

  constructor(options: SigninThrottleOptions) {
    this.#options = options;
  }

  /** Null when an attempt may proceed; else why not and for how long. Checked before the password is. */
  check(ip: string, account: string, now = Date.now()): ThrottleRefusal | null {
    const byIp = this.#blockedFor(this.#ips.get(ip), this.#options.maxFailuresPerIp, now);
    if (byIp > 0) return { limit: 'ip', retryAfterSeconds: byIp };
    const byAccount = this.#blockedFor(this.#accounts.get(account), this.#options.maxFailuresPerAccount, now);
    if (byAccount > 0) return { limit: 'account', retryAfterSeconds: byAccount };
    return null;
  }

  fail(ip: string, account: string, now = Date.now()): void {
    this.#count(this.#ips, ip, now);
    this.#count(this.#accounts, account, now);
  }

  succeed(ip: string, account: string): void {
    this.#ips.delete(ip);
    this.#accounts.delete(account);
  }

  #blockedFor(e: Entry | undefined, max: number, now: number): number {
    if (!e || e.failures < max) return 0;
    const left = e.firstAt + this.#options.windowMs - now;
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  #count(map: Map<string, Entry>, key: string, now: number): void {
    let e = map.get(key);
    if (!e || now - e.firstAt >= this.#options.windowMs) {
      if (!e && map.size >= (this.#options.maxTracked ?? 100_000)) this.#evict(map, now);
      e = { failures: 0, firstAt: now };
      map.set(key, e);
    }
    e.failures++;
  }

  #evict(map: Map<string, Entry>, now: number): void {
    for (const [k, e] of map) if (now - e.firstAt >= this.#options.windowMs) map.delete(k);
    if (map.size >= (this.#options.maxTracked ?? 100_000)) map.clear();
  }
}
