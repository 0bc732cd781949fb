import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isPrivateAddress } from '../../src/delivery/address-policy.ts';

describe('address policy: refuse internal delivery targets', () => {
  const privateCases: Array<[string, string]> = [
    ['127.0.0.1', 'loopback (RFC 1122)'],
    ['127.255.0.9', 'loopback /8'],
    ['10.1.2.3', 'RFC 1918 10/8'],
    ['172.16.0.1', 'RFC 1918 172.16/12'],
    ['172.31.255.255', 'RFC 1918 172.16/12 upper edge'],
    ['192.168.1.1', 'RFC 1918 192.168/16'],
    ['100.64.0.1', 'CGNAT 100.64/10 (RFC 6598)'],
    ['100.127.255.254', 'CGNAT upper edge'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['192.0.2.10', 'documentation TEST-NET-1'],
    ['198.18.0.1', 'benchmarking (RFC 2544)'],
    ['240.0.0.1', 'reserved class E'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['fe80::1', 'IPv6 link-local'],
    ['fe80::1%eth0', 'IPv6 link-local with zone'],
    ['fc00::1', 'ULA fc00::/7'],
    ['fd12:3456::1', 'ULA fd00::/8'],
    ['ff02::1', 'IPv6 multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped RFC 1918'],
    ['::ffff:0:192.168.0.1', 'IPv4-translated RFC 1918 (RFC 6145)'],
    ['64:ff9b::a00:1', 'NAT64 of 10.0.0.1 (RFC 6052)'],
    ['64:ff9b:1::1', 'NAT64 local-use prefix'],
    ['2002:c0a8:101::1', '6to4 of 192.168.1.1'],
    ['::127.0.0.1', 'deprecated IPv4-compatible'],
    ['2001:db8::1', 'IPv6 documentation'],
    ['fec0::1', 'deprecated site-local'],
    ['100::1', 'discard prefix (RFC 6666)'],
    ['not-an-ip', 'unparseable'],
    ['', 'empty'],
  ];
  for (const [ip, why] of privateCases) {
    it(`treats ${ip || '""'} as private: ${why}`, () => {
      assert.equal(isPrivateAddress(ip), true);
    });
  }

  const publicCases: Array<[string, string]> = [
    ['8.8.8.8', 'public IPv4'],
    ['93.184.216.34', 'public IPv4'],
    ['100.63.255.255', 'just below CGNAT'],
    ['100.128.0.0', 'just above CGNAT'],
    ['172.32.0.1', 'just above 172.16/12'],
    ['2a00:1450:4001:80b::201a', 'global unicast IPv6'],
    ['::ffff:8.8.8.8', 'IPv4-mapped public'],
    ['64:ff9b::808:808', 'NAT64 of 8.8.8.8'],
    ['2002:808:808::1', '6to4 of 8.8.8.8'],
  ];
  for (const [ip, why] of publicCases) {
    it(`treats ${ip} as public: ${why}`, () => {
      assert.equal(isPrivateAddress(ip), false);
    });
  }
});
