import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startDnsServer, type TestDnsServer, type TestRecord } from '../helpers/dns-server.ts';
import { runCli } from '../helpers/postline.ts';
import { reverseName } from '../../src/pools/index.ts';

let dns: TestDnsServer;
let dir: string;
let env: Record<string, string>;

before(async () => {
  dns = await startDnsServer();
  dir = mkdtempSync(join(tmpdir(), 'postline-doctor-'));
  const config = join(dir, 'postline.yaml');
  writeFileSync(config, stringify({
    ip_pools: {
      pools: [{ name: 'main', ips: [{ address: '127.0.0.2', hostname: 'mta1.pool.test' }, { address: '127.0.0.3', hostname: 'mta2.pool.test' }] }],
    },
  }));
  // The test DNS server answers any record type it holds; PTR data is a name.
  const ptr = (name: string) => ({ type: 'PTR', value: name }) as unknown as TestRecord;
  dns.addRecord('2.0.0.127.in-addr.arpa', ptr('mta1.pool.test'));
  dns.addRecord('3.0.0.127.in-addr.arpa', ptr('something-else.isp.test'));
  dns.a('mta1.pool.test', '127.0.0.2');
  dns.a('mta2.pool.test', '127.0.0.3');
  env = { POSTLINE_DATA_DIR: join(dir, 'data'), POSTLINE_CONFIG: config, POSTLINE_DNS_SERVERS: dns.address };
});

after(async () => {
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('postline doctor: IP pool addresses against their PTR records', () => {
  it('passes an address whose PTR names its pool hostname, and warns about one whose PTR names another host', async () => {
    const result = await runCli(env, ['doctor']);
    const good = result.checks.find((c: { address: string }) => c.address === '127.0.0.2');
    const bad = result.checks.find((c: { address: string }) => c.address === '127.0.0.3');
    assert.deepEqual(good.warnings, []);
    assert.deepEqual(good.ptr, ['mta1.pool.test']);
    assert.equal(bad.warnings.length, 1);
    assert.match(bad.warnings[0], /PTR of 127\.0\.0\.3 is something-else\.isp\.test, but the pool greets as mta2\.pool\.test/);
    assert.equal(result.warnings.length, 1);
  });

  it('names IPv4 and IPv6 reverse zones as RFC 1035 and RFC 3596 do', () => {
    assert.equal(reverseName('192.0.2.10'), '10.2.0.192.in-addr.arpa');
    assert.equal(reverseName('2001:db8::1'), `1.0.0.0.${'0.'.repeat(20)}8.b.d.0.1.0.0.2.ip6.arpa`);
  });
});
