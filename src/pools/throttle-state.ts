// Pacing state per (source address, destination), in memory on this node: the rate window of
// the destination's limits, an adaptive back-off after replies that signal rate limiting or
// reputation trouble, and a block after a 5.7.x refusal of the IP. Back-offs and blocks are
// reported through `onChange` so they are stored (the API shows them; a restart keeps them).
// The default source (no pool) is the address ''.
import type { Destination } from './destination.ts';
import { RateWindow } from './rate-window.ts';

export type ThrottleKind = 'backoff' | 'block';

export interface ThrottleRecord {
  readonly address: string;
  readonly destination: string;
  readonly kind: ThrottleKind;
  readonly until: number;
  readonly reason: string | null;
}

export interface ThrottleStateOptions {
  readonly backoffDurationMs: number;
  readonly backoffMaxConnections: number;
  readonly backoffPerMinute: number;
  readonly blockDurationMs: number;
  readonly onChange?: (record: ThrottleRecord) => void;
}

/** Why a source may not send to a destination right now. */
export interface ThrottleHold {
  readonly reason: 'rate' | 'backoff' | 'blocked';
  /** When it may (for a block: when the block ends). */
  readonly until: number;
}

interface Pair {
  rate: RateWindow | null;
  backoffUntil: number;
  backoff: RateWindow | null;
  backoffReason: string | null;
  blockedUntil: number;
  blockReason: string | null;
  lastUsed: number;
}

export class ThrottleState {
  readonly #options: ThrottleStateOptions;
  readonly #pairs = new Map<string, Pair>();

  constructor(options: ThrottleStateOptions) {
    this.#options = options;
  }

  /** Null when `address` may send one message to `destination` now. */
  check(address: string, destination: Destination, now: number): ThrottleHold | null {
    const pair = this.#pair(address, destination, now, false);
    if (!pair) return null;
    if (pair.blockedUntil > now) return { reason: 'blocked', until: pair.blockedUntil };
    if (pair.backoffUntil > now && pair.backoff) {
      const wait = pair.backoff.waitMs(now);
      if (wait > 0) return { reason: 'backoff', until: now + wait };
    }
    const wait = pair.rate?.waitMs(now) ?? 0;
    return wait > 0 ? { reason: 'rate', until: now + wait } : null;
  }

  /** Counts one message against the windows; call after check() returned null. */
  take(address: string, destination: Destination, now: number): void {
    const pair = this.#pair(address, destination, now, false);
    if (!pair) return;
    pair.lastUsed = now;
    pair.rate?.take(now);
    if (pair.backoffUntil > now) pair.backoff?.take(now);
  }

  refund(address: string, destination: Destination, now: number): void {
    const pair = this.#pair(address, destination, now, false);
    pair?.rate?.refund();
    if (pair && pair.backoffUntil > now) pair.backoff?.refund();
  }

  /** Connection limits in force: the destination's, or the back-off's while it lasts. */
  limits(address: string, destination: Destination, now: number): { maxConnections: number; maxMessagesPerConnection: number; slowed: boolean } {
    const pair = this.#pairs.get(pairKey(address, destination.key));
    if (pair && pair.backoffUntil > now) {
      return { maxConnections: Math.min(destination.limits.maxConnections, this.#options.backoffMaxConnections), maxMessagesPerConnection: destination.limits.maxMessagesPerConnection, slowed: true };
    }
    return { maxConnections: destination.limits.maxConnections, maxMessagesPerConnection: destination.limits.maxMessagesPerConnection, slowed: false };
  }

  /** A rate-limit or reputation reply: slow down for backoffDurationMs (a new signal extends it). */
  backoff(address: string, destination: Destination, reason: string, now: number): ThrottleRecord {
    const pair = this.#pair(address, destination, now, true)!;
    const fresh = pair.backoffUntil <= now;
    pair.backoffUntil = now + this.#options.backoffDurationMs;
    pair.backoffReason = reason;
    // The next message waits a full interval: the remote just asked us to slow down.
    if (fresh || !pair.backoff) pair.backoff = new RateWindow(this.#options.backoffPerMinute, 0, now, true);
    return this.#changed({ address, destination: destination.key, kind: 'backoff', until: pair.backoffUntil, reason });
  }

  /** A 5.7.x block of this IP by this destination: not used there for blockDurationMs. */
  block(address: string, destination: Destination, reason: string, now: number): ThrottleRecord {
    const pair = this.#pair(address, destination, now, true)!;
    pair.blockedUntil = now + this.#options.blockDurationMs;
    pair.blockReason = reason;
    return this.#changed({ address, destination: destination.key, kind: 'block', until: pair.blockedUntil, reason });
  }

  /** Stored throttles still in force (start-up). Rate windows start full. */
  restore(records: readonly ThrottleRecord[], now: number): void {
    for (const r of records) {
      if (r.until <= now) continue;
      const key = pairKey(r.address, r.destination);
      const pair = this.#pairs.get(key) ?? emptyPair(now);
      this.#pairs.set(key, pair);
      if (r.kind === 'block') Object.assign(pair, { blockedUntil: r.until, blockReason: r.reason });
      else Object.assign(pair, { backoffUntil: r.until, backoffReason: r.reason, backoff: new RateWindow(this.#options.backoffPerMinute, 0, now, true) });
    }
  }

  /** Back-offs and blocks in force. */
  active(now: number): ThrottleRecord[] {
    const out: ThrottleRecord[] = [];
    for (const [key, pair] of this.#pairs) {
      const [address, destination] = splitKey(key);
      if (pair.backoffUntil > now) out.push({ address, destination, kind: 'backoff', until: pair.backoffUntil, reason: pair.backoffReason });
      if (pair.blockedUntil > now) out.push({ address, destination, kind: 'block', until: pair.blockedUntil, reason: pair.blockReason });
    }
    return out;
  }

  /** Drops state that no longer limits anything (idle an hour, nothing in force). */
  prune(now: number): void {
    for (const [key, pair] of this.#pairs) {
      if (pair.backoffUntil <= now && pair.blockedUntil <= now && now - pair.lastUsed > 3_600_000) this.#pairs.delete(key);
    }
  }

  #changed(record: ThrottleRecord): ThrottleRecord {
    this.#options.onChange?.(record);
    return record;
  }

  // No state at all for an unlimited destination until something happens: the common case costs one Map lookup.
  #pair(address: string, destination: Destination, now: number, create: boolean): Pair | null {
    const key = pairKey(address, destination.key);
    let pair = this.#pairs.get(key);
    const limited = destination.limits.perMinute > 0 || destination.limits.perHour > 0;
    if (!pair && (create || limited)) this.#pairs.set(key, (pair = emptyPair(now)));
    if (pair && limited && !pair.rate) pair.rate = new RateWindow(destination.limits.perMinute, destination.limits.perHour, now);
    return pair ?? null;
  }
}

function emptyPair(now: number): Pair {
  return { rate: null, backoffUntil: 0, backoff: null, backoffReason: null, blockedUntil: 0, blockReason: null, lastUsed: now };
}

function pairKey(address: string, destination: string): string {
  return `${address}\u0000${destination}`;
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('\u0000');
  return [key.slice(0, i), key.slice(i + 1)];
}
