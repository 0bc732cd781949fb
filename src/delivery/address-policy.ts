import ipaddr from 'ipaddr.js';
import type { IPv4, IPv6 } from 'ipaddr.js';

// Ranges from ipaddr.js's special-purpose tables (RFC 6890 registries) that a public MX can
// legitimately sit in. Everything else is internal, reserved or documentation space.
const PUBLIC_V4_RANGES: ReadonlySet<string> = new Set(['unicast', 'as112', 'amt']);
const PUBLIC_V6_RANGES: ReadonlySet<string> = new Set([
  'unicast',
  'teredo',
  'amt',
  'as112v6',
  'droneRemoteIdProtocolEntityTags',
]);

/**
 * True when `ip` is not a globally routable unicast address: loopback, RFC 1918, CGNAT
 * 100.64/10, link-local, ULA fc00::/7, unspecified, multicast, broadcast, documentation and
 * reserved ranges, and IPv6 forms that embed such an IPv4 address. Delivery refuses these
 * unless configured otherwise, so a DNS answer cannot aim us at internal hosts (SSRF).
 * Unparseable input counts as private.
 */
export function isPrivateAddress(ip: string): boolean {
  let parsed: IPv4 | IPv6;
  try {
    parsed = ipaddr.parse(ip.trim());
  } catch {
    return true;
  }
  return parsed.kind() === 'ipv4' ? isPrivateV4(parsed as IPv4) : isPrivateV6(parsed as IPv6);
}

function isPrivateV4(ip: IPv4): boolean {
  return !PUBLIC_V4_RANGES.has(ip.range());
}

function isPrivateV6(ip: IPv6): boolean {
  const range = ip.range();
  const parts = ip.parts;
  switch (range) {
    // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) and ::ffff:0:a.b.c.d (RFC 6145) reach the IPv4 host.
    case 'ipv4Mapped':
    case 'rfc6145':
      return isPrivateV4(embeddedV4(parts[6], parts[7]));
    // RFC 6052 §3.1: 64:ff9b::/96 must not carry non-global IPv4; 64:ff9b:1::/48 is local use.
    case 'rfc6052':
      return parts[2] !== 0 || parts[3] !== 0 || parts[4] !== 0 || parts[5] !== 0
        ? true
        : isPrivateV4(embeddedV4(parts[6], parts[7]));
    // RFC 3056 §2: 2002:a.b.c.d::/48 is routed to the embedded IPv4 address.
    case '6to4':
      return isPrivateV4(embeddedV4(parts[1], parts[2]));
    default:
      if (!PUBLIC_V6_RANGES.has(range)) return true;
      // RFC 4291 §2.4: only 2000::/3 is allocated as global unicast (this also catches the
      // deprecated IPv4-compatible ::a.b.c.d form).
      return (parts[0] & 0xe000) !== 0x2000;
  }
}

function embeddedV4(high: number, low: number): IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}
