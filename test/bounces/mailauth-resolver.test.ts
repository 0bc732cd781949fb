import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mailauthResolver } from '../../src/bounces/index.ts';
import { DnsResolver } from '../../src/delivery/dns-resolver.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import type { TestDnsServer } from '../helpers/dns-server.ts';

let dns: TestDnsServer;
before(async () => {
  dns = await startDnsServer();
  dns.setRecords({
    'spf.test': [{ type: 'TXT', value: ['v=spf1 ', 'ip4:127.0.0.1 -all'] }, { type: 'MX', value: '10 mx.spf.test' }],
    'mx.spf.test': [{ type: 'A', value: '127.0.0.2' }],
  });
});
after(() => dns.close());

const resolve = () => mailauthResolver(new DnsResolver({ servers: [dns.address], timeoutMs: 300, maxCacheTtlMs: 0, tries: 1 }));

describe('mailauth resolver contract (dns.promises.resolve shape) over DnsResolver', () => {
  it('TXT answers are arrays of character-strings (RFC 7208 §3.3 joins them)', async () => {
    assert.deepEqual(await resolve()('spf.test', 'TXT'), [['v=spf1 ', 'ip4:127.0.0.1 -all']]);
  });

  it('MX answers are { exchange, priority }, A answers are address strings', async () => {
    assert.deepEqual(await resolve()('spf.test', 'MX'), [{ exchange: 'mx.spf.test', priority: 10 }]);
    assert.deepEqual(await resolve()('mx.spf.test', 'A'), ['127.0.0.2']);
  });

  it('a missing name rejects with code ENOTFOUND, a missing type with ENODATA (RFC 7208 §4.6.4 void lookups)', async () => {
    await assert.rejects(resolve()('nothing.spf.test', 'TXT'), { code: 'ENOTFOUND' });
    await assert.rejects(resolve()('mx.spf.test', 'TXT'), { code: 'ENODATA' });
  });

  it('a failing server rejects with a temporary code (mailauth reports temperror)', async () => {
    dns.setFailure('broken.spf.test', 'SERVFAIL');
    await assert.rejects(resolve()('broken.spf.test', 'TXT'), { code: 'ESERVFAIL' });
  });
});
