// API rate limits: a token bucket per API key, and one per client IP for requests that carry
// no valid key. A bucket holds up to `burst` tokens and refills at `rate` per second; each
// request takes one, and an empty bucket answers 429 with `Retry-After` (RFC 6585 §4,
// RFC 9110 §10.2.3) set to when the next token arrives. State is in memory, per node: a
// cluster of N nodes allows up to N × rate per key, which is what a limit against runaway
// clients needs (not a billing meter).
//
// The maps are bounded: an entry idle for burst/rate seconds is full again, the same as no
// entry, so it is dropped; past `maxEntries` the least recently used entry goes first (Map
// keeps insertion order and every hit re-inserts, so the front is the oldest).

export interface TokenBucketOptions {
  /** Tokens per second; 0 turns the limit off. */
  readonly rate: number;
  /** Bucket size: requests allowed at once after a quiet spell (at least 1). */
  readonly burst: number;
  /** Most buckets kept (default 100,000). */
  readonly maxEntries?: number;
}

/** The outcome of taking a token: allowed, or refused until `retryAfterSeconds` has passed. */
export type TakeResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly retryAfterSeconds: number; readonly firstInWindow: boolean };

interface Bucket {
  tokens: number;
  updatedAt: number;
  /** When a refusal of this bucket was last logged (0: never): refusals are logged once per window. */
  loggedAt: number;
}

/** How long one log line covers the refusals of one bucket. */
const LOG_WINDOW_MS = 60_000;

export class TokenBuckets {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxEntries: number;
  /** After this long without a request a bucket is full: the same as having none. */
  readonly #idleMs: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: TokenBucketOptions) {
    this.#rate = options.rate;
    this.#burst = Math.max(1, options.burst);
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#idleMs = this.#rate > 0 ? (this.#burst / this.#rate) * 1000 : 0;
  }

  get enabled(): boolean {
    return this.#rate > 0;
  }

  /** How many buckets are held (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for `id`. */
  take(id: string, now = Date.now()): TakeResult {
    if (!this.enabled) return { ok: true };
    const bucket = this.#refill(id, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return this.#refusal(bucket, now);
  }

  /** Refuses without taking when `id`'s bucket is empty; leaves a non-empty bucket as it is. */
  check(id: string, now = Date.now()): TakeResult {
    if (!this.enabled) return { ok: true };
    const bucket = this.#buckets.get(id);
    if (!bucket) return { ok: true };
    const refilled = this.#refill(id, now);
    return refilled.tokens >= 1 ? { ok: true } : this.#refusal(refilled, now);
  }

  #refusal(bucket: Bucket, now: number): TakeResult {
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.#rate));
    const firstInWindow = now - bucket.loggedAt >= LOG_WINDOW_MS;
    if (firstInWindow) bucket.loggedAt = now;
    return { ok: false, retryAfterSeconds, firstInWindow };
  }

  /** The bucket of `id` brought up to `now`, moved to the back of the LRU order. */
  #refill(id: string, now: number): Bucket {
    let bucket = this.#buckets.get(id);
    if (bucket) {
      this.#buckets.delete(id);
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.#rate);
      bucket.updatedAt = now;
    } else {
      this.#evict(now);
      bucket = { tokens: this.#burst, updatedAt: now, loggedAt: 0 };
    }
    this.#buckets.set(id, bucket);
    return bucket;
  }

  /** Drops idle (full) buckets from the front, then the oldest while over the bound. Amortised O(1). */
  #evict(now: number): void {
    for (const [id, bucket] of this.#buckets) {
      if (now - bucket.updatedAt < this.#idleMs && this.#buckets.size < this.#maxEntries) break;
      this.#buckets.delete(id);
    }
  }
}

export interface ApiRateLimitsConfig {
  readonly key_rate_per_second: number;
  readonly key_burst: number;
  readonly ip_rate_per_second: number;
  readonly ip_burst: number;
}

/** The two limiters of the API: per key (after authentication) and per IP (requests without a valid key). */
export interface ApiRateLimits {
  readonly perKey: TokenBuckets;
  readonly perIp: TokenBuckets;
}

export function createApiRateLimits(config: ApiRateLimitsConfig): ApiRateLimits {
  return {
    perKey: new TokenBuckets({ rate: config.key_rate_per_second, burst: config.key_burst, maxEntries: 100_000 }),
    perIp: new TokenBuckets({ rate: config.ip_rate_per_second, burst: config.ip_burst, maxEntries: 100_000 }),
  };
}
