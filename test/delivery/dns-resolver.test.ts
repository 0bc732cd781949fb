import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { DnsResolver } from '../../src/delivery/dns-resolver.ts';
import type { DnsResolverOptions, MxResolution } from '../../src/delivery/dns-resolver.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import type { TestDnsServer } from '../helpers/dns-server.ts';

let dns: TestDnsServer;
let clock = 1_000_000;
before(async () => {
  dns = await startDnsServer();
});
after(() => dns.close());
beforeEach(() => {
  dns.reset();
  clock = 1_000_000;
});

function resolver(overrides: Partial<DnsResolverOptions> = {}): DnsResolver {
  return new DnsResolver({ servers: [dns.address], timeoutMs: 300, maxCacheTtlMs: 3_600_000, tries: 1, now: () => clock, ...overrides });
}

function hostsOf(result: MxResolution): Array<[string, number, readonly string[]]> {
  assert.equal(result.kind, 'hosts', JSON.stringify(result));
  return result.kind === 'hosts' ? result.hosts.map((h) => [h.exchange, h.preference, h.addresses]) : [];
}

function queried(name: string, type: string): number {
  return dns.queries.filter((q) => q.name === name && q.type === type).length;
}

describe('RFC 5321 §5.1 MX selection', () => {
  it('orders MX hosts by preference, lowest first', async () => {
    dns.mx('x.test', [{ host: 'mx2.x.test', preference: 20 }, { host: 'mx1.x.test', preference: 10 }]);
    dns.a('mx1.x.test', '192.0.2.1');
    dns.a('mx2.x.test', '192.0.2.2');
    assert.deepEqual(hostsOf(await resolver().resolveMx('x.test')), [
      ['mx1.x.test', 10, ['192.0.2.1']],
      ['mx2.x.test', 20, ['192.0.2.2']],
    ]);
  });

  it('randomises hosts of equal preference: over 200 calls each one comes first', async () => {
    dns.mx('x.test', [{ host: 'a.x.test', preference: 10 }, { host: 'b.x.test', preference: 10 }, { host: 'c.x.test', preference: 20 }]);
    for (const host of ['a', 'b', 'c']) dns.a(`${host}.x.test`, '192.0.2.9');
    const r = resolver();
    const first = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const hosts = hostsOf(await r.resolveMx('x.test'));
      first.add(hosts[0][0]);
      assert.equal(hosts[2][0], 'c.x.test');
    }
    assert.deepEqual([...first].sort(), ['a.x.test', 'b.x.test']);
    assert.equal(queried('x.test', 'MX'), 1, 'the MX set comes from the cache after the first call');
  });

  it('lists IPv6 addresses before IPv4 for each host', async () => {
    dns.mx('x.test', ['mx.x.test']);
    dns.a('mx.x.test', '192.0.2.1');
    dns.a('mx.x.test', '2001:db8::1');
    assert.deepEqual(hostsOf(await resolver().resolveMx('x.test'))[0][2], ['2001:db8::1', '192.0.2.1']);
  });

  it('uses the domain itself as implicit MX when it has no MX but an address', async () => {
    dns.a('plain.test', '192.0.2.7');
    assert.deepEqual(await resolver().resolveMx('plain.test'), {
      kind: 'hosts',
      implicit: true,
      hosts: [{ exchange: 'plain.test', preference: 0, addresses: ['192.0.2.7'] }],
    });
  });

  it('keeps the hosts that resolved when another MX host fails temporarily', async () => {
    dns.mx('x.test', ['bad.x.test', 'good.x.test']);
    dns.a('good.x.test', '192.0.2.3');
    dns.setFailure('bad.x.test', 'SERVFAIL');
    assert.deepEqual(hostsOf(await resolver().resolveMx('x.test')).map((h) => h[0]), ['good.x.test']);
  });

  it('is temporary when no MX host resolved and one lookup failed temporarily', async () => {
    dns.mx('x.test', ['bad.x.test', 'gone.x.test']);
    dns.setFailure('bad.x.test', 'SERVFAIL');
    const result = await resolver().resolveMx('x.test');
    assert.equal(result.kind, 'temporary');
  });

  it('answers no-address when MX hosts exist but none has A or AAAA', async () => {
    dns.mx('x.test', ['gone.x.test']);
    assert.deepEqual(await resolver().resolveMx('x.test'), { kind: 'no-address' });
  });

  it('answers no-address for a domain with neither MX nor address records', async () => {
    dns.addRecord('txt-only.test', { type: 'TXT', value: 'v=spf1 -all' });
    assert.deepEqual(await resolver().resolveMx('txt-only.test'), { kind: 'no-address' });
  });

  it('answers null-mx for RFC 7505 "MX 0 ."', async () => {
    dns.mx('nomail.test', [{ host: '.', preference: 0 }]);
    assert.deepEqual(await resolver().resolveMx('nomail.test'), { kind: 'null-mx' });
  });

  it('answers nxdomain when the domain does not exist', async () => {
    assert.deepEqual(await resolver().resolveMx('missing.test'), { kind: 'nxdomain' });
    assert.deepEqual(await resolver().resolveMx('bad..name'), { kind: 'nxdomain' });
  });

  it('follows a CNAME from an MX host name to its addresses', async () => {
    dns.mx('x.test', ['alias.x.test']);
    dns.addRecord('alias.x.test', { type: 'CNAME', value: 'real.x.test' });
    dns.a('real.x.test', '192.0.2.5');
    assert.deepEqual(hostsOf(await resolver().resolveMx('x.test')), [['alias.x.test', 10, ['192.0.2.5']]]);
  });
});

describe('temporary failures: SERVFAIL, REFUSED, timeout', () => {
  it('maps SERVFAIL on the MX query to temporary', async () => {
    dns.setFailure('x.test', 'SERVFAIL');
    const result = await resolver().resolveMx('x.test');
    assert.equal(result.kind, 'temporary');
    assert.match(result.kind === 'temporary' ? result.reason : '', /SERVFAIL/);
  });

  it('maps REFUSED to temporary and EREFUSED', async () => {
    dns.setFailure('x.test', 'REFUSED');
    assert.equal((await resolver().resolveMx('x.test')).kind, 'temporary');
    await assert.rejects(resolver().resolve('x.test', 'A'), { code: 'EREFUSED' });
  });

  it('gives up with temporary within the timeout when the server is silent', async () => {
    dns.setFailure('x.test', 'timeout');
    const started = performance.now();
    const result = await resolver({ timeoutMs: 200 }).resolveMx('x.test');
    const elapsed = performance.now() - started;
    assert.equal(result.kind, 'temporary');
    assert.ok(elapsed >= 190 && elapsed < 700, `took ${elapsed} ms`);
  });

  it('retries across servers: a silent first server, then an answering one', async () => {
    const silent = await startDnsServer({ host: '127.0.0.3' });
    try {
      silent.setFailure('x.test', 'timeout');
      dns.a('x.test', '192.0.2.8');
      const r = resolver({ servers: [silent.address, dns.address], timeoutMs: 200 });
      assert.deepEqual(await r.resolve4('x.test'), ['192.0.2.8']);
    } finally {
      await silent.close();
    }
  });

  it('skips a server whose port is closed without waiting for the timeout', async () => {
    const closed = await startDnsServer({ host: '127.0.0.5' });
    const deadAddress = closed.address;
    await closed.close();
    dns.a('x.test', '192.0.2.8');
    const started = performance.now();
    const r = resolver({ servers: [deadAddress, dns.address], timeoutMs: 1000 });
    assert.deepEqual(await r.resolve4('x.test'), ['192.0.2.8']);
    assert.ok(performance.now() - started < 500);
  });

  it('stops waiting when the caller aborts', async () => {
    dns.setFailure('x.test', 'timeout');
    const result = await resolver({ timeoutMs: 2000 }).resolveMx('x.test', { signal: AbortSignal.timeout(50) });
    assert.deepEqual(result, { kind: 'temporary', reason: 'aborted' });
  });
});

describe('RFC 2308 caching of positive and negative answers', () => {
  it('serves a second lookup from the cache and asks again after the TTL', async () => {
    dns.addRecord('x.test', { type: 'A', value: '192.0.2.1', ttl: 1 });
    const r = resolver();
    await r.resolve4('x.test');
    await r.resolve4('x.test');
    assert.equal(queried('x.test', 'A'), 1);
    clock += 1001;
    await r.resolve4('x.test');
    assert.equal(queried('x.test', 'A'), 2);
  });

  it('caps a long TTL at maxCacheTtlMs', async () => {
    dns.addRecord('x.test', { type: 'A', value: '192.0.2.1', ttl: 86400 });
    const r = resolver({ maxCacheTtlMs: 500 });
    await r.resolve4('x.test');
    clock += 400;
    await r.resolve4('x.test');
    assert.equal(queried('x.test', 'A'), 1);
    clock += 200;
    await r.resolve4('x.test');
    assert.equal(queried('x.test', 'A'), 2);
  });

  it('caches NXDOMAIN for the SOA minimum', async () => {
    dns.setNegativeTtl(2);
    const r = resolver();
    assert.deepEqual(await r.resolveMx('missing.test'), { kind: 'nxdomain' });
    assert.deepEqual(await r.resolveMx('missing.test'), { kind: 'nxdomain' });
    assert.equal(queried('missing.test', 'MX'), 1);
    clock += 2001;
    await r.resolveMx('missing.test');
    assert.equal(queried('missing.test', 'MX'), 2);
  });

  it('does not cache a temporary failure', async () => {
    dns.setFailure('x.test', 'SERVFAIL');
    const r = resolver();
    assert.equal((await r.resolveMx('x.test')).kind, 'temporary');
    dns.setFailure('x.test', null);
    dns.mx('x.test', ['mx.x.test']);
    dns.a('mx.x.test', '192.0.2.1');
    assert.equal((await r.resolveMx('x.test')).kind, 'hosts');
  });

  it('shares one query among concurrent lookups and bounds the cache size', async () => {
    for (const n of ['a', 'b', 'c']) dns.a(`${n}.test`, '192.0.2.1');
    const r = resolver({ maxCacheEntries: 2 });
    await Promise.all([r.resolve4('a.test'), r.resolve4('a.test'), r.resolve4('a.test')]);
    assert.equal(queried('a.test', 'A'), 1);
    await r.resolve4('b.test');
    await r.resolve4('c.test');
    await r.resolve4('a.test');
    assert.equal(queried('a.test', 'A'), 2, 'the oldest entry was evicted');
  });
});

describe('RFC 1034 §3.6.2 CNAME and RFC 7766 TCP', () => {
  it('follows a CNAME given in the same answer', async () => {
    dns.addRecord('alias.test', { type: 'CNAME', value: 'real.test' });
    dns.a('real.test', '192.0.2.4');
    assert.deepEqual(await resolver().resolve4('alias.test'), ['192.0.2.4']);
    assert.equal(queried('real.test', 'A'), 0);
  });

  it('asks again for the CNAME target when the answer holds only the alias', async () => {
    const lazy = await startDnsServer({ chaseCnames: false });
    try {
      lazy.addRecord('alias.test', { type: 'CNAME', value: 'real.test' });
      lazy.a('real.test', '192.0.2.4');
      const r = resolver({ servers: [lazy.address] });
      assert.deepEqual(await r.resolve4('alias.test'), ['192.0.2.4']);
      assert.deepEqual(lazy.queries.map((q) => q.name), ['alias.test', 'real.test']);
    } finally {
      await lazy.close();
    }
  });

  it('falls back to TCP when the UDP answer is truncated', async () => {
    const record = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(1500);
    dns.addRecord('big.test', { type: 'TXT', value: record });
    const txt = await resolver().resolveTxt('big.test');
    assert.equal(txt.length, 1);
    assert.equal(txt[0].join(''), record);
    assert.deepEqual(dns.queries.map((q) => q.transport), ['udp', 'tcp']);
  });
});

describe('resolve(): the dns.promises.resolve shape mailauth expects', () => {
  it('returns TXT chunks, MX objects and addresses', async () => {
    dns.addRecord('x.test', { type: 'TXT', value: ['v=spf1 ', '-all'] });
    dns.mx('x.test', ['mx.x.test']);
    dns.a('x.test', '2001:db8::5');
    const r = resolver();
    assert.deepEqual(await r.resolve('x.test', 'TXT'), [['v=spf1 ', '-all']]);
    assert.deepEqual(await r.resolve('x.test', 'MX'), [{ exchange: 'mx.x.test', priority: 10 }]);
    assert.deepEqual(await r.resolve6('x.test'), ['2001:db8::5']);
  });

  it('throws ENOTFOUND, ENODATA, ESERVFAIL and ETIMEOUT', async () => {
    dns.a('x.test', '192.0.2.1');
    dns.setFailure('fail.test', 'SERVFAIL');
    dns.setFailure('slow.test', 'timeout');
    const r = resolver({ timeoutMs: 100 });
    await assert.rejects(r.resolve('missing.test', 'TXT'), { code: 'ENOTFOUND' });
    await assert.rejects(r.resolve('x.test', 'TXT'), { code: 'ENODATA' });
    await assert.rejects(r.resolve('fail.test', 'A'), { code: 'ESERVFAIL' });
    await assert.rejects(r.resolve('slow.test', 'A'), { code: 'ETIMEOUT' });
  });

  it('refuses a server given by name with DNS_BAD_SERVER', () => {
    assert.throws(() => resolver({ servers: ['dns.example'] }), { code: 'DNS_BAD_SERVER' });
    assert.doesNotThrow(() => resolver({ servers: ['[::1]:5353', '::1', '127.0.0.1'] }));
  });
});

describe('robustness: answers a resolver must not trust', () => {
  for (const failure of ['garbage', 'wrong-id', 'wrong-question', 'oversized'] as const) {
    it(`ignores a ${failure} answer and reports temporary, without crashing`, async () => {
      dns.setFailure('x.test', failure);
      dns.a('x.test', '192.0.2.1');
      const result = await resolver({ timeoutMs: 150 }).resolveMx('x.test');
      assert.equal(result.kind, 'temporary');
    });
  }

  it('uses the next server when the first one sends garbage', async () => {
    const bad = await startDnsServer({ host: '127.0.0.4' });
    try {
      bad.setFailure('x.test', 'garbage');
      dns.a('x.test', '192.0.2.1');
      assert.deepEqual(await resolver({ servers: [bad.address, dns.address], timeoutMs: 150 }).resolve4('x.test'), ['192.0.2.1']);
    } finally {
      await bad.close();
    }
  });
});
