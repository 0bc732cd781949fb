// Concurrent SMTP sessions per client IP and per client network (IPv4 /24, IPv6 /64), shared
// by all listeners, plus a log throttle so that a flood is logged once per key per minute
// instead of once per refused connection. A /24 or /64 is what one host or one customer of a
// provider usually holds: limiting only per address would let it rotate through its block.
import ipaddr from 'ipaddr.js';

export interface ConnectionLimitsOptions {
  /** Concurrent sessions from one address (0: no limit). */
  readonly perIp: number;
  /** Concurrent sessions from one IPv4 /24 or IPv6 /64 (0: no limit). */
  readonly perNetwork: number;
}

export type ConnectionRefusal = 'per_ip' | 'per_network';

export type Admission =
  | { readonly ok: true; release(): void }
  | { readonly ok: false; readonly limit: ConnectionRefusal; readonly key: string };

/** The address and the network it is counted in; IPv4-mapped IPv6 counts as IPv4. */
export function networkOf(address: string): { ip: string; network: string } {
  if (!ipaddr.isValid(address)) return { ip: address, network: address };
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  if (ip.kind() === 'ipv4') {
    const o = (ip as ipaddr.IPv4).octets;
    return { ip: ip.toString(), network: `${o[0]}.${o[1]}.${o[2]}.0/24` };
  }
  const parts = (ip as ipaddr.IPv6).parts;
  const net = new ipaddr.IPv6([parts[0], parts[1], parts[2], parts[3], 0, 0, 0, 0]);
  return { ip: ip.toString(), network: `${net.toString()}/64` };
}

export class ConnectionLimits {
  #options: ConnectionLimitsOptions;
  readonly #perIp = new Map<string, number>();
  readonly #perNetwork = new Map<string, number>();

  constructor(options: ConnectionLimitsOptions) {
    this.#options = options;
  }

  /** New limits (SIGHUP): sessions already open stay; new ones are counted against these. */
  configure(options: ConnectionLimitsOptions): void {
    this.#options = options;
  }

  /** Counts a new session, or says which limit refuses it. `release` must run once when it ends. */
  admit(address: string): Admission {
    const { ip, network } = networkOf(address);
    const ipCount = this.#perIp.get(ip) ?? 0;
    if (this.#options.perIp > 0 && ipCount >= this.#options.perIp) return { ok: false, limit: 'per_ip', key: ip };
    const netCount = this.#perNetwork.get(network) ?? 0;
    if (this.#options.perNetwork > 0 && netCount >= this.#options.perNetwork) return { ok: false, limit: 'per_network', key: network };
    this.#perIp.set(ip, ipCount + 1);
    this.#perNetwork.set(network, netCount + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        decrement(this.#perIp, ip);
        decrement(this.#perNetwork, network);
      },
    };
  }

  /** Sessions counted now for an address (for tests and metrics). */
  count(address: string): number {
    return this.#perIp.get(networkOf(address).ip) ?? 0;
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/**
 * Logs a repeated event once per key per interval and counts what it held back, so a flood
 * costs one log line a minute per source, not one per hit. Memory is bounded by `maxKeys`.
 */
export class LogOnce {
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  readonly #entries = new Map<string, { at: number; suppressed: number }>();

  constructor(intervalMs = 60_000, maxKeys = 10_000) {
    this.#intervalMs = intervalMs;
    this.#maxKeys = maxKeys;
  }

  /** Returns the number of hits held back since the last line when this one should be logged, else -1. */
  hit(key: string, now = Date.now()): number {
    const e = this.#entries.get(key);
    if (e && now - e.at < this.#intervalMs) {
      e.suppressed++;
      return -1;
    }
    if (!e && this.#entries.size >= this.#maxKeys) this.#prune(now);
    const suppressed = e?.suppressed ?? 0;
    this.#entries.set(key, { at: now, suppressed: 0 });
    return suppressed;
  }

  #prune(now: number): void {
    for (const [key, e] of this.#entries) if (now - e.at >= this.#intervalMs) this.#entries.delete(key);
    // Still full: a flood from more sources than we track; forget them rather than grow.
    if (this.#entries.size >= this.#maxKeys) this.#entries.clear();
  }
}
