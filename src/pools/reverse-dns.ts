// Reverse DNS of a pool address, as receivers check it: the PTR record of the address should
// name the hostname the address greets with in EHLO, and that name should resolve back to the
// address (forward-confirmed reverse DNS; RFC 5321 §4.1.4 lets receivers look, and the large
// providers require it). Used by `postline doctor` (src/cli/doctor-command.ts).
import net from 'node:net';
import type { DnsResolver } from '../delivery/dns-resolver.ts';

export interface AddressCheck {
  pool: string;
  address: string;
  hostname: string;
  ptr: string[];
  forward: string[];
  bindable: boolean;
  warnings: string[];
}

/** in-addr.arpa / ip6.arpa name of an address (RFC 1035 §3.5, RFC 3596 §2.5). */
export function reverseName(address: string): string {
  if (net.isIPv4(address)) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  const groups = address.split('::');
  const head = groups[0] ? groups[0].split(':') : [];
  const tail = groups.length > 1 && groups[1] ? groups[1].split(':') : [];
  const full = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail].map((g) => g.padStart(4, '0')).join('');
  return `${[...full].reverse().join('.')}.ip6.arpa`;
}

function bare(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

async function canBind(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, address, () => server.close(() => resolve(true)));
  });
}

export async function checkAddress(resolver: DnsResolver, pool: string, address: string, hostname: string): Promise<AddressCheck> {
  const warnings: string[] = [];
  const ptr = await resolver.resolve(reverseName(address), 'PTR').then((names) => names.map(bare), () => [] as string[]);
  const forward = await (net.isIPv6(address) ? resolver.resolve6(hostname) : resolver.resolve4(hostname)).catch(() => [] as string[]);
  const bindable = await canBind(address);
  if (!bindable) warnings.push(`${address} is not an address of this host: delivery cannot bind it`);
  if (ptr.length === 0) warnings.push(`${address} has no PTR record; it should name ${hostname}`);
  else if (!ptr.includes(bare(hostname))) warnings.push(`PTR of ${address} is ${ptr.join(', ')}, but the pool greets as ${hostname}: make them agree`);
  if (!forward.includes(address)) warnings.push(`${hostname} does not resolve to ${address} (forward-confirmed reverse DNS fails)`);
  return { pool, address, hostname, ptr, forward, bindable, warnings };
}
