// Where a domain's mail goes (src/delivery/route.ts), with a real resolver asking the
// loopback test DNS server: MX order, implicit MX, null MX, DNS failures, the private
// address rule and the relayhost.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { routeFor, type Route, type RouterOptions } from '../../src/delivery/route.ts';
import { DnsResolver } from '../../src/delivery/dns-resolver.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';

let dns: TestDnsServer;

before(async () => {
  dns = await startDnsServer();
});
after(() => dns.close());
beforeEach(() => dns.reset());

function options(overrides: Partial<RouterOptions> = {}): RouterOptions {
  return {
    resolver: new DnsResolver({ servers: [dns.address], timeoutMs: 300, maxCacheTtlMs: 0, tries: 1 }),
    relayhost: null,
    allowPrivate: true,
    ...overrides,
  };
}

function hostsOf(route: Route): Array<[string, string, number | undefined]> {
  assert.ok(route.ok, JSON.stringify(route));
  return route.ok ? route.hosts.map((h) => [h.host, h.address, h.port]) : [];
}

function failureOf(route: Route): { permanent: boolean; kind: string; enhanced: string; message: string } {
  assert.ok(!route.ok, JSON.stringify(route));
  return route.ok ? { permanent: false, kind: '', enhanced: '', message: '' } : route;
}

describe('RFC 5321 §5.1 routing by MX', () => {
  it('lists every address of every MX host, lowest preference first', async () => {
    dns.mx('x.test', [{ host: 'mx2.x.test', preference: 20 }, { host: 'mx1.x.test', preference: 10 }]);
    dns.a('mx1.x.test', '127.0.0.2');
    dns.a('mx1.x.test', '127.0.0.12');
    dns.a('mx2.x.test', '127.0.0.3');
    const hosts = hostsOf(await routeFor('x.test', options()));
    assert.deepEqual(hosts.map(([host]) => host), ['mx1.x.test', 'mx1.x.test', 'mx2.x.test']);
    assert.deepEqual(hosts.slice(0, 2).map(([, address]) => address).sort(), ['127.0.0.12', '127.0.0.2']);
    assert.deepEqual(hosts[2], ['mx2.x.test', '127.0.0.3', undefined]);
  });

  it('routes to the domain itself when it has an address and no MX (implicit MX)', async () => {
    dns.a('implicit.test', '127.0.0.4');
    assert.deepEqual(hostsOf(await routeFor('implicit.test', options())), [['implicit.test', '127.0.0.4', undefined]]);
  });

  it('RFC 7505 §3: a null MX fails permanently with 5.1.10', async () => {
    dns.mx('null.test', [{ host: '.', preference: 0 }]);
    const f = failureOf(await routeFor('null.test', options()));
    assert.deepEqual([f.permanent, f.kind, f.enhanced], [true, 'null-mx', '5.1.10']);
    assert.match(f.message, /null\.test does not accept mail/);
  });

  it('NXDOMAIN fails permanently with 5.1.2', async () => {
    const f = failureOf(await routeFor('nowhere.test', options()));
    assert.deepEqual([f.permanent, f.kind, f.enhanced], [true, 'nxdomain', '5.1.2']);
  });

  it('SERVFAIL fails temporarily with 4.4.3', async () => {
    dns.setFailure('broken.test', 'SERVFAIL');
    const f = failureOf(await routeFor('broken.test', options()));
    assert.deepEqual([f.permanent, f.kind, f.enhanced], [false, 'dns-temporary', '4.4.3']);
  });

  it('MX hosts without any address fail permanently with 5.4.4', async () => {
    dns.mx('hollow.test', ['mx.hollow.test']);
    const f = failureOf(await routeFor('hollow.test', options()));
    assert.deepEqual([f.permanent, f.kind, f.enhanced], [true, 'no-route', '5.4.4']);
  });
});

describe('delivery.allow_private off: no MX on internal addresses', () => {
  it('refuses MX hosts on loopback with 5.4.4 and says why', async () => {
    dns.mx('inside.test', ['mx.inside.test']);
    dns.a('mx.inside.test', '127.0.0.2');
    const f = failureOf(await routeFor('inside.test', options({ allowPrivate: false })));
    assert.deepEqual([f.permanent, f.kind, f.enhanced], [true, 'no-route', '5.4.4']);
    assert.match(f.message, /private or loopback addresses \(delivery\.allow_private is off\)/);
  });

  it('keeps the public addresses of an MX set that mixes public and private ones', async () => {
    dns.mx('mixed.test', ['mx1.mixed.test', 'mx2.mixed.test']);
    dns.a('mx1.mixed.test', '10.1.2.3');
    dns.a('mx2.mixed.test', '1.1.1.1');
    assert.deepEqual(hostsOf(await routeFor('mixed.test', options({ allowPrivate: false }))), [['mx2.mixed.test', '1.1.1.1', undefined]]);
  });

  it('refuses an implicit MX on an RFC 1918 address', async () => {
    dns.a('lan.test', '192.168.1.10');
    const f = failureOf(await routeFor('lan.test', options({ allowPrivate: false })));
    assert.equal(f.enhanced, '5.4.4');
  });
});

describe('relayhost: every domain goes to one smarthost', () => {
  it('takes [address]:port as is, without asking DNS for the recipient domain', async () => {
    const hosts = hostsOf(await routeFor('anything.test', options({ relayhost: '[127.0.0.7]:2525' })));
    assert.deepEqual(hosts, [['127.0.0.7', '127.0.0.7', 2525]]);
    assert.equal(dns.queries.length, 0);
  });

  it('resolves a host name relayhost to its addresses, with the port given', async () => {
    dns.a('relay.test', '127.0.0.8');
    assert.deepEqual(hostsOf(await routeFor('anything.test', options({ relayhost: 'relay.test:2525' }))), [['relay.test', '127.0.0.8', 2525]]);
  });

  it('a relayhost without a port uses the delivery port (port undefined)', async () => {
    dns.a('relay.test', '127.0.0.8');
    assert.deepEqual(hostsOf(await routeFor('anything.test', options({ relayhost: 'relay.test' }))), [['relay.test', '127.0.0.8', undefined]]);
  });

  it('a bare IPv6 relayhost is one address, not an address and a port', async () => {
    assert.deepEqual(hostsOf(await routeFor('anything.test', options({ relayhost: '::1' }))), [['::1', '::1', undefined]]);
    assert.deepEqual(hostsOf(await routeFor('anything.test', options({ relayhost: '2001:db8::25' }))), [['2001:db8::25', '2001:db8::25', undefined]]);
    assert.deepEqual(hostsOf(await routeFor('anything.test', options({ relayhost: '[2001:db8::25]:587' }))), [['2001:db8::25', '2001:db8::25', 587]]);
  });

  it('a relayhost without an address defers with 4.4.3 (never bounces mail for our own mistake)', async () => {
    const f = failureOf(await routeFor('anything.test', options({ relayhost: 'missing-relay.test' })));
    assert.deepEqual([f.permanent, f.kind, f.enhanced], [false, 'dns-temporary', '4.4.3']);
  });

  it('the relayhost is used even when it is on a private address', async () => {
    assert.ok((await routeFor('anything.test', options({ relayhost: '10.0.0.25', allowPrivate: false }))).ok);
  });
});
