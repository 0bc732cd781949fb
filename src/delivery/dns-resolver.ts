import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { domainToASCII } from 'node:url';
import type { Answer, RecordType } from 'dns-packet';
import { exchange, parseNameServer } from './dns-exchange.ts';
import type { DnsMessage, NameServer } from './dns-exchange.ts';

export interface MxHost {
  readonly exchange: string;
  readonly preference: number;
  /** IPv6 first, then IPv4; the caller falls back across families. */
  readonly addresses: readonly string[];
}

export type MxResolution =
  | { kind: 'hosts'; implicit: boolean; hosts: readonly MxHost[] }
  | { kind: 'null-mx' }
  | { kind: 'nxdomain' }
  | { kind: 'no-address' }
  | { kind: 'temporary'; reason: string };

export interface DnsResolverOptions {
  /** `'host[:port]'` or `'[v6]:port'`; empty reads the nameservers from /etc/resolv.conf. */
  servers: string[];
  /** Per attempt and server, UDP and TCP each. */
  timeoutMs: number;
  /** Upper bound for caching any answer, positive or negative. */
  maxCacheTtlMs: number;
  /** Rounds over the server list (default 2). */
  tries?: number;
  /** Default 10,000 entries; the oldest entry goes first. */
  maxCacheEntries?: number;
  /** Clock for cache expiry, in ms (default Date.now). */
  now?: () => number;
}

/** node:dns-compatible error codes, as mailauth and other callers match them. */
export type DnsErrorCode = 'ENOTFOUND' | 'ENODATA' | 'ETIMEOUT' | 'ESERVFAIL' | 'EREFUSED' | 'ECONNREFUSED' | 'ECANCELLED' | 'EBADNAME' | 'ENOTIMP';

export class DnsError extends Error {
  readonly code: DnsErrorCode;
  readonly hostname: string;
  readonly syscall: string;
  constructor(code: DnsErrorCode, syscall: string, hostname: string, detail?: string) {
    super(`${syscall} ${code} ${hostname}${detail ? ` (${detail})` : ''}`);
    this.name = 'DnsError';
    this.code = code;
    this.hostname = hostname;
    this.syscall = syscall;
  }
}

type TemporaryCode = 'ETIMEOUT' | 'ESERVFAIL' | 'EREFUSED' | 'ECONNREFUSED' | 'ECANCELLED';
type Lookup =
  | { kind: 'records'; answers: Answer[]; ttlMs: number }
  | { kind: 'nxdomain'; ttlMs: number }
  | { kind: 'nodata'; ttlMs: number }
  | { kind: 'temporary'; code: TemporaryCode; reason: string };

type LookupOptions = { signal?: AbortSignal };

const SUPPORTED_TYPES: ReadonlySet<string> = new Set(['A', 'AAAA', 'MX', 'TXT', 'CNAME', 'PTR']);
// RFC 1034 §3.6.2 allows chains; resolvers cap them (8 as in BIND's default) to stop loops.
const MAX_CNAME_HOPS = 8;
// Postfix's smtp_mx_address_limit spirit: more hosts than this only cost lookups.
const MAX_MX_HOSTS = 10;

/** Rejects names that cannot exist; returns the lower-case A-label form without the final dot. */
function normalizeName(input: string): string | undefined {
  let name = input.trim().replace(/\.$/, '').toLowerCase();
  // RFC 5890: non-ASCII names go on the wire as A-labels.
  if (/[^\x20-\x7e]/.test(name)) name = domainToASCII(name);
  if (!name || name.length > 253 || /[\s\\]/.test(name)) return undefined;
  return name.split('.').every((label) => label.length > 0 && label.length <= 63) ? name : undefined;
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, '') === b.toLowerCase().replace(/\.$/, '');
}

/** RFC 2308 §5: a negative answer lives for min(SOA TTL, SOA MINIMUM); without SOA, not at all. */
function negativeTtlSeconds(message: DnsMessage): number {
  const soa = (message.authorities ?? []).find((a) => a.type === 'SOA');
  if (!soa || soa.type !== 'SOA') return 0;
  return Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0);
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * A small stub resolver over UDP/TCP (dns-packet), because delivery needs the TTLs that
 * node:dns's resolveMx hides. Caches positive and negative answers (bounded by
 * maxCacheTtlMs) and never throws from resolveMx: every outcome is an MxResolution.
 */
export class DnsResolver {
  readonly #options: Readonly<Required<Omit<DnsResolverOptions, 'servers'>>>;
  readonly #configuredServers: readonly NameServer[];
  #servers: Promise<readonly NameServer[]> | undefined;
  readonly #cache = new Map<string, { lookup: Lookup; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<Lookup>>();

  constructor(options: DnsResolverOptions) {
    this.#configuredServers = Object.freeze(options.servers.map(parseNameServer));
    this.#options = Object.freeze({
      timeoutMs: options.timeoutMs,
      maxCacheTtlMs: options.maxCacheTtlMs,
      tries: Math.max(1, options.tries ?? 2),
      maxCacheEntries: Math.max(1, options.maxCacheEntries ?? 10_000),
      now: options.now ?? Date.now,
    });
  }

  /** RFC 5321 §5.1 MX selection, with RFC 7505 null MX. */
  async resolveMx(domain: string, options: LookupOptions = {}): Promise<MxResolution> {
    const name = normalizeName(domain);
    if (!name) return { kind: 'nxdomain' };
    const mx = await this.#lookup(name, 'MX', options.signal);
    if (mx.kind === 'temporary') return { kind: 'temporary', reason: mx.reason };
    if (mx.kind === 'nxdomain') return { kind: 'nxdomain' };
    if (mx.kind === 'nodata') {
      // RFC 5321 §5.1: no MX records, so the domain itself is the implicit MX.
      const { temporary, ...host } = await this.#hostAddresses(name, 0, options.signal);
      if (host.addresses.length) return { kind: 'hosts', implicit: true, hosts: [host] };
      return temporary ? { kind: 'temporary', reason: temporary } : { kind: 'no-address' };
    }
    const records = new Map<string, number>();
    let nullMx = false;
    for (const answer of mx.answers) {
      if (answer.type !== 'MX' || typeof answer.data?.exchange !== 'string') continue;
      const exchangeName = answer.data.exchange.replace(/\.$/, '').toLowerCase();
      const preference = Number(answer.data.preference ?? 0);
      // RFC 7505 §3: the null MX is a single MX whose exchange is the root.
      if (!exchangeName) {
        nullMx = true;
        continue;
      }
      if (!normalizeName(exchangeName) || !Number.isInteger(preference)) continue;
      records.set(exchangeName, Math.min(preference, records.get(exchangeName) ?? preference));
    }
    // RFC 7505 §3: a domain with a null MX MUST NOT have other MX records; if it does, use those.
    if (records.size === 0) return nullMx ? { kind: 'null-mx' } : { kind: 'no-address' };
    const ordered = [...records].sort((a, b) => a[1] - b[1]).slice(0, MAX_MX_HOSTS);
    const resolved = await Promise.all(ordered.map(([host, preference]) => this.#hostAddresses(host, preference, options.signal)));
    const hosts = resolved.flatMap(({ temporary: _, ...host }) => (host.addresses.length ? [host] : []));
    if (hosts.length) return { kind: 'hosts', implicit: false, hosts: this.#order(hosts) };
    const temporary = resolved.find((h) => h.temporary);
    return temporary ? { kind: 'temporary', reason: temporary.temporary ?? 'lookup failed' } : { kind: 'no-address' };
  }

  /** Like dns.promises.resolve: throws DnsError with ENOTFOUND, ENODATA, ETIMEOUT, ESERVFAIL, … */
  resolve(name: string, rrtype: 'TXT'): Promise<string[][]>;
  resolve(name: string, rrtype: 'MX'): Promise<Array<{ exchange: string; priority: number }>>;
  resolve(name: string, rrtype?: 'A' | 'AAAA' | 'CNAME' | 'PTR'): Promise<string[]>;
  resolve(name: string, rrtype?: string): Promise<string[] | string[][] | Array<{ exchange: string; priority: number }>>;
  async resolve(name: string, rrtype = 'A'): Promise<string[] | string[][] | Array<{ exchange: string; priority: number }>> {
    const type = rrtype.toUpperCase();
    const syscall = `query${type.charAt(0)}${type.slice(1).toLowerCase()}`;
    if (!SUPPORTED_TYPES.has(type)) throw new DnsError('ENOTIMP', syscall, name, `unsupported record type ${rrtype}`);
    const normalized = normalizeName(name);
    if (!normalized) throw new DnsError('EBADNAME', syscall, name);
    const lookup = await this.#lookup(normalized, type as RecordType);
    if (lookup.kind === 'nxdomain') throw new DnsError('ENOTFOUND', syscall, name);
    if (lookup.kind === 'nodata') throw new DnsError('ENODATA', syscall, name);
    if (lookup.kind === 'temporary') throw new DnsError(lookup.code, syscall, name, lookup.reason);
    const answers = lookup.answers;
    switch (type) {
      case 'TXT':
        return answers.flatMap((a) => (a.type === 'TXT' ? [toTxtChunks(a.data)] : []));
      case 'MX':
        return answers.flatMap((a) =>
          a.type === 'MX' ? [{ exchange: a.data.exchange.replace(/\.$/, ''), priority: a.data.preference ?? 0 }] : []);
      default:
        return answers.flatMap((a) => stringData(a) ?? []);
    }
  }

  resolveTxt(name: string): Promise<string[][]> {
    return this.resolve(name, 'TXT');
  }

  resolve4(name: string): Promise<string[]> {
    return this.resolve(name, 'A');
  }

  resolve6(name: string): Promise<string[]> {
    return this.resolve(name, 'AAAA');
  }

  clearCache(): void {
    this.#cache.clear();
  }

  /** RFC 5321 §5.1: lowest preference first, random order among equal preferences. */
  #order(hosts: MxHost[]): MxHost[] {
    const groups = new Map<number, MxHost[]>();
    for (const host of hosts) groups.set(host.preference, [...(groups.get(host.preference) ?? []), host]);
    return [...groups.keys()].sort((a, b) => a - b).flatMap((preference) => shuffle(groups.get(preference) ?? []));
  }

  async #hostAddresses(host: string, preference: number, signal?: AbortSignal): Promise<MxHost & { temporary?: string }> {
    const [v6, v4] = await Promise.all([this.#lookup(host, 'AAAA', signal), this.#lookup(host, 'A', signal)]);
    const pick = (lookup: Lookup, valid: (ip: string) => boolean): string[] =>
      lookup.kind === 'records' ? lookup.answers.flatMap((a) => stringData(a) ?? []).filter(valid) : [];
    const addresses = [...new Set([...pick(v6, net.isIPv6), ...pick(v4, net.isIPv4)])];
    const failed = [v6, v4].find((l) => l.kind === 'temporary');
    return { exchange: host, preference, addresses, temporary: failed?.kind === 'temporary' ? `${host}: ${failed.reason}` : undefined };
  }

  /** Cached, de-duplicated lookup; the caller's signal ends its wait, not the shared query. */
  async #lookup(name: string, type: RecordType, signal?: AbortSignal): Promise<Lookup> {
    const key = `${type} ${name}`;
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > this.#options.now()) return cached.lookup;
    if (cached) this.#cache.delete(key);
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#follow(name, type)
        .catch((err: unknown): Lookup => ({ kind: 'temporary', code: 'ESERVFAIL', reason: `${type} ${name}: ${String(err)}` }))
        .then((lookup) => {
          this.#store(key, lookup);
          return lookup;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return signal ? raceAbort(pending, signal) : pending;
  }

  #store(key: string, lookup: Lookup): void {
    if (lookup.kind === 'temporary') return;
    const ttlMs = Math.min(lookup.ttlMs, this.#options.maxCacheTtlMs);
    if (!(ttlMs > 0)) return;
    this.#cache.delete(key);
    while (this.#cache.size >= this.#options.maxCacheEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
    this.#cache.set(key, { lookup, expiresAt: this.#options.now() + ttlMs });
  }

  /** Asks for name/type and follows CNAMEs, in the answer or by asking again (RFC 1034 §3.6.2). */
  async #follow(name: string, type: RecordType): Promise<Lookup> {
    let current = name;
    let ttlSeconds = Infinity;
    for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
      const reply = await this.#ask(current, type);
      if ('kind' in reply) return reply;
      const message = reply.message;
      if (message.rcode === 'NXDOMAIN') return { kind: 'nxdomain', ttlMs: Math.min(ttlSeconds, negativeTtlSeconds(message)) * 1000 };
      const answers = (message.answers ?? []).filter((a) => typeof a.name === 'string');
      let target = current;
      for (let step = 0; step < MAX_CNAME_HOPS; step++) {
        const matching = answers.filter((a) => a.type === type && sameName(a.name, target));
        if (matching.length) {
          const ttl = Math.min(ttlSeconds, ...matching.map((a) => ('ttl' in a ? (a.ttl ?? 0) : 0)));
          return { kind: 'records', answers: matching, ttlMs: ttl * 1000 };
        }
        const cname = answers.find((a) => a.type === 'CNAME' && sameName(a.name, target));
        const alias = cname && stringData(cname);
        if (!cname || !alias || !normalizeName(alias)) break;
        ttlSeconds = Math.min(ttlSeconds, 'ttl' in cname ? (cname.ttl ?? 0) : 0);
        target = alias;
      }
      if (sameName(target, current)) return { kind: 'nodata', ttlMs: Math.min(ttlSeconds, negativeTtlSeconds(message)) * 1000 };
      current = normalizeName(target) ?? target;
    }
    return { kind: 'temporary', code: 'ESERVFAIL', reason: `CNAME chain longer than ${MAX_CNAME_HOPS} at ${name}` };
  }

  /** Rounds over the servers until one gives NOERROR or NXDOMAIN. */
  async #ask(name: string, type: RecordType): Promise<{ message: DnsMessage } | Extract<Lookup, { kind: 'temporary' }>> {
    const servers = await this.#serverList();
    let failure: Extract<Lookup, { kind: 'temporary' }> = { kind: 'temporary', code: 'ESERVFAIL', reason: 'no DNS server' };
    for (let attempt = 0; attempt < this.#options.tries; attempt++) {
      for (const server of servers) {
        const result = await exchange(server, name, type, this.#options.timeoutMs);
        const where = `${type} ${name} @${server.host}:${server.port}`;
        if (!result.ok) {
          failure = { kind: 'temporary', code: result.reason === 'timeout' ? 'ETIMEOUT' : 'ECONNREFUSED', reason: `${where}: ${result.detail}` };
          continue;
        }
        const rcode = result.message.rcode ?? 'NOERROR';
        if (rcode === 'NOERROR' || rcode === 'NXDOMAIN') return { message: result.message };
        // SERVFAIL, REFUSED, FORMERR, NOTIMP: another server may do better (RFC 1035 §7.2).
        failure = { kind: 'temporary', code: rcode === 'REFUSED' ? 'EREFUSED' : 'ESERVFAIL', reason: `${where}: ${rcode}` };
      }
    }
    return failure;
  }

  #serverList(): Promise<readonly NameServer[]> {
    this.#servers ??= this.#configuredServers.length ? Promise.resolve(this.#configuredServers) : readResolvConf();
    return this.#servers;
  }
}

function stringData(answer: Answer): string | undefined {
  return 'data' in answer && typeof answer.data === 'string' ? answer.data : undefined;
}

function toTxtChunks(data: unknown): string[] {
  const parts = Array.isArray(data) ? data : [data];
  return parts.map((p) => (Buffer.isBuffer(p) ? p.toString('utf8') : String(p)));
}

function raceAbort(pending: Promise<Lookup>, signal: AbortSignal): Promise<Lookup> {
  const aborted: Lookup = { kind: 'temporary', code: 'ECANCELLED', reason: 'aborted' };
  if (signal.aborted) return Promise.resolve(aborted);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(aborted);
    signal.addEventListener('abort', onAbort, { once: true });
    void pending.then(resolve, () => resolve({ kind: 'temporary', code: 'ESERVFAIL', reason: 'lookup failed' }))
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** resolv.conf(5) `nameserver` lines; 127.0.0.1 when there are none, as glibc does. */
async function readResolvConf(): Promise<readonly NameServer[]> {
  let text = '';
  try {
    text = await readFile('/etc/resolv.conf', 'utf8');
  } catch {
    // no file: fall back below
  }
  const servers: NameServer[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!match) continue;
    try {
      servers.push(parseNameServer(net.isIPv6(match[1].split('%')[0]) ? `[${match[1]}]` : match[1]));
    } catch {
      // a line we cannot use
    }
  }
  return servers.length ? servers : [{ host: '127.0.0.1', port: 53 }];
}
