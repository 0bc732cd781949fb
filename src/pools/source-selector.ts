// Chooses the source address of one delivery attempt, at delivery time (a retry may use
// another address): among the pool's addresses of the wanted family that are not blocked
// for the destination, under their warm-up cap and within the destination's rate, by smooth
// weighted round-robin (nginx's algorithm: over any window the shares follow the weights,
// with no randomness to drift). The choice reserves the rate token and the warm-up count;
// the lease gives them back if nothing was sent.
import type { Destination } from './destination.ts';
import type { HourlyCounter } from './hourly-counter.ts';
import type { IpPool, PoolDirectory, PoolMember } from './pool-directory.ts';
import type { ThrottleState } from './throttle-state.ts';
import { dayStart, hourStart, warmupCap, DAY_MS, HOUR_MS, type WarmupSchedule } from './warmup.ts';
import { localAddressCheck } from './local-addresses.ts';

export interface SourceAddress {
  /** null: no pool. */
  readonly pool: string | null;
  /** null: the host's default address (nothing bound). */
  readonly address: string | null;
  /** EHLO name from this address; null: the configured hostname. */
  readonly hostname: string | null;
  readonly family: 4 | 6 | null;
}

export interface SourceLease {
  readonly source: SourceAddress;
  readonly maxConnections: number;
  readonly maxMessagesPerConnection: number;
  /** A back-off is in force for this address and destination. */
  readonly slowed: boolean;
  /** Keeps the reservation when `sent`, else gives it back; only the first call counts. */
  settle(sent: boolean): void;
}

export type HoldReason = 'rate' | 'backoff' | 'blocked' | 'warmup' | 'elsewhere';

export type SourceChoice =
  | { readonly kind: 'sources'; readonly v4: SourceLease | null; readonly v6: SourceLease | null; readonly any: SourceLease | null }
  | { readonly kind: 'hold'; readonly until: number; readonly reason: HoldReason; readonly detail: string }
  | { readonly kind: 'none'; readonly detail: string };

export interface AcquireRequest {
  readonly pool: IpPool | null;
  readonly destination: Destination;
  readonly want: { readonly v4: boolean; readonly v6: boolean };
  /** Recipients the attempt carries (the warm-up cap counts recipients). */
  readonly recipients: number;
  /** Addresses not to use (blocked during this attempt). */
  readonly exclude?: ReadonlySet<string>;
  readonly now: number;
}

export interface SourceSelectorOptions {
  readonly directory: PoolDirectory;
  readonly throttles: ThrottleState;
  readonly ipCounts: HourlyCounter;
  readonly warmup: WarmupSchedule;
  /** Addresses this node holds (default: those on its interfaces); a pool's others belong to other nodes. */
  readonly isLocal?: (address: string) => boolean;
}

interface Hold {
  readonly until: number;
  readonly reason: HoldReason;
}

/** How soon mail held for a pool whose addresses are all on other nodes is due again (for any node to claim). */
const ELSEWHERE_RETRY_MS = 30_000;

export class SourceSelector {
  readonly #o: SourceSelectorOptions;
  /** Smooth weighted round-robin state per pool and family. */
  readonly #current = new Map<string, Map<string, number>>();

  readonly #isLocal: (address: string) => boolean;

  constructor(options: SourceSelectorOptions) {
    this.#o = options;
    this.#isLocal = options.isLocal ?? localAddressCheck();
  }

  acquire(request: AcquireRequest): SourceChoice {
    const { pool, destination, now } = request;
    if (!pool) {
      const hold = this.#o.throttles.check('', destination, now);
      if (hold) return { kind: 'hold', until: hold.until, reason: hold.reason, detail: `the default address is ${describe(hold.reason)} toward ${destination.key}` };
      const lease = this.#lease(null, '', destination, request.recipients, now);
      return { kind: 'sources', v4: null, v6: null, any: lease };
    }
    const picks: { v4: SourceLease | null; v6: SourceLease | null } = { v4: null, v6: null };
    const holds: Hold[] = [];
    let candidates = 0;
    let elsewhere = 0;
    for (const family of [6, 4] as const) {
      if (!(family === 6 ? request.want.v6 : request.want.v4)) continue;
      const wanted = pool.members.filter((m) => m.family === family && m.weight > 0 && !request.exclude?.has(m.address));
      const members = wanted.filter((m) => this.#isLocal(m.address));
      elsewhere += wanted.length - members.length;
      candidates += members.length;
      const eligible: PoolMember[] = [];
      for (const m of members) {
        const hold = this.#holdOf(m, destination, request.recipients, now);
        if (hold) holds.push(hold);
        else eligible.push(m);
      }
      const chosen = this.#roundRobin(`${pool.name}|${family}`, eligible);
      if (chosen) picks[family === 6 ? 'v6' : 'v4'] = this.#lease(pool.name, chosen, destination, request.recipients, now);
    }
    if (picks.v4 || picks.v6) return { kind: 'sources', ...picks, any: null };
    if (candidates === 0 && elsewhere > 0) {
      // The pool's addresses are on other nodes: leave the mail to them, due again shortly.
      return { kind: 'hold', until: now + ELSEWHERE_RETRY_MS, reason: 'elsewhere', detail: `no address of pool ${pool.name} is on this node; a node that holds one delivers` };
    }
    if (candidates === 0 || holds.length === 0) {
      return { kind: 'none', detail: `pool ${pool.name} has no usable address for ${destination.key} (${request.exclude?.size ? 'the others are blocked there' : 'none of the address families of its MX hosts'})` };
    }
    const first = holds.reduce((a, b) => (b.until < a.until ? b : a));
    const reason = holds.every((h) => h.reason === 'warmup') ? 'warmup' : first.reason;
    return { kind: 'hold', until: first.until, reason, detail: `every address of pool ${pool.name} is ${describe(reason)} toward ${destination.key}` };
  }

  #holdOf(m: PoolMember, destination: Destination, recipients: number, now: number): Hold | null {
    const throttled = this.#o.throttles.check(m.address, destination, now);
    if (throttled?.reason === 'blocked') return throttled;
    if (m.warmup) {
      const cap = warmupCap(this.#o.warmup, this.#o.directory.warmupStart(m, now), now);
      // A group may pass the cap only when the address has sent nothing in the window yet.
      if (cap.daily !== null) {
        const today = this.#o.ipCounts.day(m.address, now);
        if ((today > 0 && today + recipients > cap.daily) || today >= cap.daily) return { reason: 'warmup', until: dayStart(now) + DAY_MS };
      }
      if (cap.hourly !== null) {
        const hour = this.#o.ipCounts.hour(m.address, now);
        if ((hour > 0 && hour + recipients > cap.hourly) || hour >= cap.hourly) return { reason: 'warmup', until: hourStart(now) + HOUR_MS };
      }
    }
    return throttled;
  }

  #roundRobin(key: string, eligible: readonly PoolMember[]): string | null {
    if (eligible.length === 0) return null;
    if (eligible.length === 1) return eligible[0].address;
    let current = this.#current.get(key);
    if (!current) this.#current.set(key, (current = new Map()));
    let total = 0;
    let best: PoolMember | null = null;
    let bestValue = -Infinity;
    for (const m of eligible) {
      const value = (current.get(m.address) ?? 0) + m.weight;
      current.set(m.address, value);
      total += m.weight;
      if (value > bestValue) {
        best = m;
        bestValue = value;
      }
    }
    current.set(best!.address, bestValue - total);
    return best!.address;
  }

  #lease(poolName: string | null, address: string, destination: Destination, recipients: number, now: number): SourceLease {
    const o = this.#o;
    const member = poolName ? o.directory.pool(poolName)?.members.find((m) => m.address === address) : undefined;
    o.throttles.take(address, destination, now);
    // Every pool address is counted (the API shows today's count); only warm-up ones are capped.
    if (address) o.ipCounts.add(address, recipients, now);
    const limits = o.throttles.limits(address, destination, now);
    let settled = false;
    return {
      source: { pool: poolName, address: address || null, hostname: member?.hostname ?? null, family: member?.family ?? null },
      maxConnections: limits.maxConnections,
      maxMessagesPerConnection: limits.maxMessagesPerConnection,
      slowed: limits.slowed,
      settle(sent) {
        if (settled) return;
        settled = true;
        if (sent) return;
        o.throttles.refund(address, destination, now);
        if (address) o.ipCounts.add(address, -recipients, now);
      },
    };
  }
}

function describe(reason: HoldReason): string {
  switch (reason) {
    case 'rate': return 'at its message rate';
    case 'backoff': return 'backing off after a rate-limit reply';
    case 'blocked': return 'blocked';
    case 'warmup': return 'at its warm-up cap';
    case 'elsewhere': return 'on another node';
  }
}
