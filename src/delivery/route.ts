// Where a recipient domain's mail goes: the relayhost when one is configured, otherwise
// its MX hosts (RFC 5321 §5.1), with private addresses refused unless allowed (so a tenant
// cannot aim mail at internal hosts by publishing an MX that points there).
import { isIP } from 'node:net';
import type { DnsResolver } from './dns-resolver.ts';
import { isPrivateAddress } from './address-policy.ts';
import type { OutcomeKind } from './dsn-status.ts';

export interface RouteHost {
  readonly host: string;
  readonly address: string;
  readonly port?: number;
}

export type Route =
  | { readonly ok: true; readonly hosts: readonly RouteHost[] }
  | { readonly ok: false; readonly permanent: boolean; readonly kind: OutcomeKind; readonly enhanced: string; readonly message: string };

export interface RouterOptions {
  readonly resolver: DnsResolver;
  readonly relayhost: string | null;
  readonly allowPrivate: boolean;
}

export async function routeFor(domain: string, options: RouterOptions): Promise<Route> {
  if (options.relayhost) return relayRoute(options.relayhost, options.resolver);
  const res = await options.resolver.resolveMx(domain);
  switch (res.kind) {
    case 'null-mx':
      return { ok: false, permanent: true, kind: 'null-mx', enhanced: '5.1.10', message: `Domain ${domain} does not accept mail (null MX, RFC 7505)` };
    case 'nxdomain':
      return { ok: false, permanent: true, kind: 'nxdomain', enhanced: '5.1.2', message: `Domain ${domain} does not exist (NXDOMAIN)` };
    case 'no-address':
      return { ok: false, permanent: true, kind: 'no-route', enhanced: '5.4.4', message: `No address found for the mail hosts of ${domain}` };
    case 'temporary':
      return { ok: false, permanent: false, kind: 'dns-temporary', enhanced: '4.4.3', message: `DNS lookup for ${domain} failed: ${res.reason}` };
    case 'hosts': {
      const hosts: RouteHost[] = [];
      let refused = 0;
      for (const h of res.hosts) {
        for (const address of h.addresses) {
          if (!options.allowPrivate && isPrivateAddress(address)) {
            refused++;
            continue;
          }
          hosts.push({ host: h.exchange, address });
        }
      }
      if (hosts.length === 0) {
        const why = refused ? 'resolve only to private or loopback addresses (delivery.allow_private is off)' : 'have no usable address';
        return { ok: false, permanent: true, kind: 'no-route', enhanced: '5.4.4', message: `The mail hosts of ${domain} ${why}` };
      }
      return { ok: true, hosts };
    }
  }
}

// `host`, `host:port`, `[address]` or `[address]:port`. A bare IPv6 address is all host:
// its last group must not be read as a port, so an IPv6 relayhost takes a port only in
// brackets (as in Postfix's relayhost).
function parseRelayhost(relayhost: string): { host: string; port: number | undefined } {
  const text = relayhost.trim();
  if (isIP(text)) return { host: text, port: undefined };
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text) ?? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(text);
  return { host: m?.[1] ?? text, port: m?.[2] ? Number(m[2]) : undefined };
}

async function relayRoute(relayhost: string, resolver: DnsResolver): Promise<Route> {
  const { host, port } = parseRelayhost(relayhost);
  if (isIP(host)) return { ok: true, hosts: [{ host, address: host, port }] };
  try {
    const v4 = await resolver.resolve4(host).catch(() => [] as string[]);
    const v6 = await resolver.resolve6(host).catch(() => [] as string[]);
    const addrs = [...v6, ...v4];
    if (addrs.length === 0) return { ok: false, permanent: false, kind: 'dns-temporary', enhanced: '4.4.3', message: `relayhost ${host} has no address` };
    return { ok: true, hosts: addrs.map((address) => ({ host, address, port })) };
  } catch (err) {
    return { ok: false, permanent: false, kind: 'dns-temporary', enhanced: '4.4.3', message: `relayhost ${host}: ${(err as Error).message}` };
  }
}
