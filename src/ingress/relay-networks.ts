// POSTLINE_RELAY_NETWORKS: trusted client networks that may submit without AUTH, each bound
// to the tenant it sends as (`127.0.0.0/8=acme`), like Postfix's mynetworks but never
// tenant-less: sender-domain rules still apply to such clients.
import ipaddr from 'ipaddr.js';

export interface RelayNetwork {
  readonly cidr: string;
  readonly tenant: string;
  readonly range: [ipaddr.IPv4 | ipaddr.IPv6, number];
}

export function parseRelayNetworks(entries: readonly string[]): RelayNetwork[] {
  return entries.map((entry) => {
    const eq = entry.indexOf('=');
    if (eq < 0) throw new Error(`relay network "${entry}" must name its tenant: CIDR=TENANT (e.g. 127.0.0.0/8=acme)`);
    const cidr = entry.slice(0, eq).trim();
    const tenant = entry.slice(eq + 1).trim();
    if (!tenant) throw new Error(`relay network "${entry}" has an empty tenant name`);
    try {
      const range = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : ([ipaddr.parse(cidr), ipaddr.parse(cidr).kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number]);
      return { cidr, tenant, range };
    } catch {
      throw new Error(`relay network "${entry}": "${cidr}" is not an IP network`);
    }
  });
}

/** The tenant name a client address relays as, or undefined. */
export function matchRelayNetwork(networks: readonly RelayNetwork[], address: string): string | undefined {
  if (networks.length === 0 || !ipaddr.isValid(address)) return undefined;
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  for (const net of networks) {
    if (net.range[0].kind() === ip.kind() && ip.match(net.range)) return net.tenant;
  }
  return undefined;
}
