// Which addresses this machine holds (issue 7: each node owns its own outbound IPs). A pool
// may list the addresses of several nodes; a node sends only from those on its own
// interfaces, so a pool spread over nodes needs no per-node configuration, and a node never
// tries to bind an address it does not have (EADDRNOTAVAIL on every attempt).
import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';

const REFRESH_MS = 30_000;

/**
 * A predicate over addresses: true for an address of one of this machine's interfaces, or
 * inside a loopback interface's subnet (Linux binds any of 127.0.0.0/8 on lo). The interfaces
 * are read again every 30 s, so an address added to a node is used without a restart.
 */
export function localAddressCheck(): (address: string) => boolean {
  let nets: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];
  let readAt = -Infinity;
  return (address) => {
    const now = Date.now();
    if (now - readAt > REFRESH_MS) {
      readAt = now;
      nets = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).flatMap((i) => {
        try {
          if (!i.cidr) return [];
          const [net, bits] = ipaddr.parseCIDR(i.cidr);
          // A LAN interface's subnet holds neighbours, not this machine: only its own address.
          return [[i.internal ? net : ipaddr.process(i.address), i.internal ? bits : (net.kind() === 'ipv4' ? 32 : 128)] as [ipaddr.IPv4 | ipaddr.IPv6, number]];
        } catch {
          return [];
        }
      }));
    }
    let parsed: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      parsed = ipaddr.process(address);
    } catch {
      return false;
    }
    return nets.some(([net, bits]) => net.kind() === parsed.kind() && parsed.match([net, bits] as never));
  };
}
