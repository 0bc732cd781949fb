// Everything delivery asks before and after an attempt about where mail leaves from and how
// fast: the pool of a message, its destination and limits, the source address (warm-up,
// rate, back-off, blocks), the tenant's quota, and what a reply means for the address. One
// per delivery thread. Counts and throttles live in memory and are written to the store about
// once a second (a crash loses at most that much of a warm-up day's count); pools, tenant
// settings and other nodes' counts are read again every `ip_pools.reload_interval`.
import type { Config } from '../config/index.ts';
import {
  activeIpThrottles, addIpCounts, addTenantCounts, ensureIpAddresses, ipCountsSince, purgeHourlyCounts, putIpThrottle, tenantCountsSince,
  type Store, type Stream,
} from '../store/index.ts';
import { DEFAULT_PROVIDERS, DestinationRules, type Destination, type ProviderRule, type ThrottleLimits } from './destination.ts';
import { HourlyCounter } from './hourly-counter.ts';
import { PoolDirectory, type IpPool } from './pool-directory.ts';
import { SourceSelector, type SourceLease } from './source-selector.ts';
import { TenantQuotas } from './tenant-quota.ts';
import { ThrottleState, type ThrottleRecord } from './throttle-state.ts';
import { throttleSignal, type ThrottleSignal } from './throttle-signals.ts';
import { DAY_MS, dayStart } from './warmup.ts';

export interface PoolsLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface OutboundPoolsOptions {
  readonly config: Readonly<Config>;
  /** null: nothing is stored (unit tests). */
  readonly store: Store | null;
  readonly log?: PoolsLogger;
  /** How often counts and throttles are written (default 1 s). */
  readonly flushIntervalMs?: number;
}

/** What a reply did to the source address (for the event). */
export interface ThrottleOutcome {
  readonly signal: ThrottleSignal;
  readonly record: ThrottleRecord;
}

export class OutboundPools {
  readonly destinations: DestinationRules;
  readonly selector: SourceSelector;
  readonly quotas: TenantQuotas;
  readonly throttles: ThrottleState;
  readonly directory: PoolDirectory;
  /** A delivery over a limit waits this long at most, then is deferred (throttling.max_wait). */
  readonly maxWaitMs: number;
  readonly #store: Store | null;
  readonly #log: PoolsLogger | undefined;
  readonly #ipCounts = new HourlyCounter();
  readonly #tenantCounts = new HourlyCounter();
  readonly #pendingThrottles: ThrottleRecord[] = [];
  readonly #reloadMs: number;
  readonly #flushMs: number;
  #timer: NodeJS.Timeout | null = null;
  #lastReload = 0;
  #lastPurge = 0;
  #busy: Promise<void> = Promise.resolve();

  constructor(options: OutboundPoolsOptions) {
    const { config } = options;
    const t = config.throttling;
    const defaults: ThrottleLimits = {
      maxConnections: t.default.max_connections ?? config.delivery.max_connections_per_destination,
      maxMessagesPerConnection: t.default.max_messages_per_connection ?? config.delivery.max_messages_per_connection,
      perMinute: t.default.messages_per_minute ?? 0,
      perHour: t.default.messages_per_hour ?? 0,
    };
    const providers: readonly ProviderRule[] = t.providers
      ? t.providers.map((p) => ({ name: p.name, mxSuffixes: p.mx_suffixes, limits: limitsOf(p) }))
      : DEFAULT_PROVIDERS;
    this.destinations = new DestinationRules({ defaults, providers, domains: Object.fromEntries(Object.entries(t.domains).map(([d, l]) => [d, limitsOf(l)])) });
    this.directory = new PoolDirectory(config.ip_pools);
    this.throttles = new ThrottleState({
      backoffDurationMs: t.backoff_duration, backoffMaxConnections: t.backoff_max_connections, backoffPerMinute: t.backoff_messages_per_minute,
      blockDurationMs: t.block_duration, onChange: (record) => this.#pendingThrottles.push(record),
    });
    const w = config.ip_pools.warmup;
    this.selector = new SourceSelector({
      directory: this.directory, throttles: this.throttles, ipCounts: this.#ipCounts,
      warmup: { dailyStart: w.daily_start, dailyGrowth: w.daily_growth, dailyFull: w.daily_full, hourlyShare: w.hourly_share },
    });
    this.quotas = new TenantQuotas(this.directory, this.#tenantCounts);
    this.maxWaitMs = t.max_wait;
    this.#store = options.store;
    this.#log = options.log;
    this.#reloadMs = Math.max(50, config.ip_pools.reload_interval);
    this.#flushMs = options.flushIntervalMs ?? 1000;
  }

  /** Records configured addresses' warm-up start, loads pools, today's counts and throttles in force. */
  async start(): Promise<void> {
    const store = this.#store;
    if (store) {
      const addresses = this.directory.configuredAddresses();
      if (addresses.length > 0) await store.write((trx) => ensureIpAddresses(trx, addresses));
      const now = Date.now();
      this.throttles.restore((await activeIpThrottles(store.db, now)).map((r) => ({ ...r })), now);
      await this.#reload();
    }
    this.#timer = setInterval(() => void this.#tick(), Math.min(this.#flushMs, this.#reloadMs));
    this.#timer.unref();
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#busy;
    await this.#flush();
  }

  poolFor(tenantId: string | null, stream: Stream | null): IpPool | null {
    return this.directory.poolFor(tenantId, stream);
  }

  destinationFor(domain: string, mxHosts: readonly string[], relayhost: string | null): Destination {
    return relayhost ? this.destinations.relay(relayhost) : this.destinations.resolve(domain, mxHosts);
  }

  /**
   * Reads a reply for what it says about the address that got it: a rate-limit reply starts
   * a back-off there, a 5.7.x block a block. Null when it says nothing about the address.
   */
  observe(lease: SourceLease, destination: Destination, reply: { code: number | null; enhanced: string | null; response: string }, now = Date.now()): ThrottleOutcome | null {
    const signal = throttleSignal(reply.code, reply.enhanced, reply.response);
    if (!signal) return null;
    const address = lease.source.address ?? '';
    const reason = reply.response.slice(0, 300);
    const record = signal === 'ip-block'
      ? this.throttles.block(address, destination, reason, now)
      : this.throttles.backoff(address, destination, reason, now);
    this.#log?.warn({ address: address || 'default', destination: destination.key, kind: record.kind, until: new Date(record.until).toISOString(), reply: reason }, signal === 'ip-block' ? 'source address blocked by destination' : 'source address backing off from destination');
    return { signal, record };
  }

  #tick(): void {
    this.#busy = this.#busy.then(async () => {
      try {
        await this.#flush();
        if (Date.now() - this.#lastReload >= this.#reloadMs) await this.#reload();
      } catch (err) {
        this.#log?.warn({ err }, 'IP pool state could not be saved or reloaded; retrying');
      }
    });
  }

  async #reload(): Promise<void> {
    const store = this.#store;
    if (!store) return;
    const now = Date.now();
    this.#lastReload = now;
    await this.directory.reload(store.db);
    const since = dayStart(now);
    const [ips, tenants] = await Promise.all([ipCountsSince(store.db, since), tenantCountsSince(store.db, since)]);
    this.#ipCounts.load(ips.map((r) => ({ key: r.address, hour: r.hour, n: r.n })));
    this.#tenantCounts.load(tenants.map((r) => ({ key: r.tenantId, hour: r.hour, n: r.n })));
    this.throttles.prune(now);
  }

  async #flush(): Promise<void> {
    const store = this.#store;
    if (!store) return;
    const ips = this.#ipCounts.drain();
    const tenants = this.#tenantCounts.drain();
    const throttles = this.#pendingThrottles.splice(0);
    if (ips.length === 0 && tenants.length === 0 && throttles.length === 0) return;
    const now = Date.now();
    try {
      await store.write(async (trx) => {
        await addIpCounts(trx, ips.map((d) => ({ address: d.key, hour: d.hour, n: d.n })));
        await addTenantCounts(trx, tenants.map((d) => ({ tenantId: d.key, hour: d.hour, n: d.n })));
        for (const t of throttles) await putIpThrottle(trx, { ...t, updated_at: now });
        // Counts older than two days count against nothing; looked at once an hour.
        if (now - this.#lastPurge > 3_600_000) {
          this.#lastPurge = now;
          await purgeHourlyCounts(trx, dayStart(now) - 2 * DAY_MS);
        }
      }, { durable: false });
    } catch (err) {
      this.#ipCounts.restore(ips);
      this.#tenantCounts.restore(tenants);
      this.#pendingThrottles.unshift(...throttles);
      throw err;
    }
  }
}

function limitsOf(l: { max_connections: number | null; max_messages_per_connection: number | null; messages_per_minute: number | null; messages_per_hour: number | null }): Partial<ThrottleLimits> {
  const out: { -readonly [K in keyof ThrottleLimits]?: number } = {};
  if (l.max_connections !== null) out.maxConnections = l.max_connections;
  if (l.max_messages_per_connection !== null) out.maxMessagesPerConnection = l.max_messages_per_connection;
  if (l.messages_per_minute !== null) out.perMinute = l.messages_per_minute;
  if (l.messages_per_hour !== null) out.perHour = l.messages_per_hour;
  return out;
}
