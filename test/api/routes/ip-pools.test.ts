import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addIpCounts, addTenantCounts, putIpThrottle } from '../../../src/store/index.ts';
import { hourStart } from '../../../src/pools/index.ts';
import { startTestApi, isProblem, type TestApi } from '../api-test-app.ts';

describe('admin: /api/v1/ip-pools', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('creates a pool (201), lists it, shows it, replaces its addresses (PATCH) and deletes it (204)', async () => {
    const created = await api.admin.request('POST', '/api/v1/ip-pools', {
      name: 'bulk', ips: [{ address: '192.0.2.10', hostname: 'mta1.example.com', weight: 2, warmup: true }, { address: '2001:db8::10', hostname: 'mta1.example.com' }],
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.source, 'api');
    const [v4, v6] = created.body.ips;
    assert.deepEqual([v4.address, v4.family, v4.weight, v4.warmup, v4.warmup_day, v4.daily_cap, v4.sent_today], ['192.0.2.10', 4, 2, true, 0, 50, 0]);
    assert.deepEqual([v6.family, v6.weight, v6.warmup, v6.warmup_day, v6.daily_cap], [6, 1, false, null, null]);
    assert.deepEqual((await api.admin.request('GET', '/api/v1/ip-pools')).body.data.map((p: { name: string }) => p.name), ['bulk']);
    const patched = await api.admin.request('PATCH', '/api/v1/ip-pools/bulk', { ips: [{ address: '192.0.2.10', hostname: 'mta9.example.com' }] });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.ips.map((i: { address: string; hostname: string }) => [i.address, i.hostname]), [['192.0.2.10', 'mta9.example.com']]);
    assert.equal(patched.body.ips[0].added_at, v4.added_at, 'an address that stays keeps the time it was added');
    assert.equal((await api.admin.request('DELETE', '/api/v1/ip-pools/bulk')).status, 204);
    assert.ok(isProblem(await api.admin.request('GET', '/api/v1/ip-pools/bulk'), 404));
  });

  it('refuses a taken name with 409 at /name, a bad address with 400 at /ips/0/address, and a tenant key with 403', async () => {
    await api.admin.request('POST', '/api/v1/ip-pools', { name: 'dup', ips: [{ address: '192.0.2.1', hostname: 'a.example.com' }] });
    const dup = await api.admin.request('POST', '/api/v1/ip-pools', { name: 'dup', ips: [{ address: '192.0.2.2', hostname: 'b.example.com' }] });
    assert.ok(isProblem(dup, 409));
    assert.equal(dup.body.errors[0].pointer, '/name');
    const bad = await api.admin.request('POST', '/api/v1/ip-pools', { name: 'bad', ips: [{ address: '192.0.2.300', hostname: 'a.example.com' }] });
    assert.ok(isProblem(bad, 400));
    assert.equal(bad.body.errors[0].pointer, '/ips/0/address');
    const t = await api.tenant();
    assert.ok(isProblem(await t.client.request('GET', '/api/v1/ip-pools'), 403));
  });

  it('shows each address\'s count today and this hour and the throttles in force', async () => {
    await api.admin.request('POST', '/api/v1/ip-pools', { name: 'busy', ips: [{ address: '192.0.2.50', hostname: 'busy.example.com', warmup: true }] });
    const now = Date.now();
    await api.store.write(async (trx) => {
      await addIpCounts(trx, [{ address: '192.0.2.50', hour: hourStart(now), n: 7 }]);
      await putIpThrottle(trx, { address: '192.0.2.50', destination: 'provider:google', kind: 'backoff', until: now + 60_000, reason: '421 4.7.0 Try again later', updated_at: now });
      await putIpThrottle(trx, { address: '192.0.2.50', destination: 'old.test', kind: 'block', until: now - 1, reason: 'expired', updated_at: now });
    });
    const pool = await api.admin.request('GET', '/api/v1/ip-pools/busy');
    const ip = pool.body.ips[0];
    assert.equal(ip.sent_today, 7);
    assert.equal(ip.sent_this_hour, 7);
    assert.deepEqual(ip.throttles.map((t: { destination: string; kind: string }) => [t.destination, t.kind]), [['provider:google', 'backoff']]);
  });

  it('will not delete a pool a tenant uses (409 IP_POOL_IN_USE)', async () => {
    await api.admin.request('POST', '/api/v1/ip-pools', { name: 'used', ips: [{ address: '192.0.2.60', hostname: 'used.example.com' }] });
    const t = await api.tenant();
    assert.equal((await api.admin.request('PATCH', `/api/v1/tenants/${t.id}`, { pools: { broadcast: 'used' } })).status, 200);
    const res = await api.admin.request('DELETE', '/api/v1/ip-pools/used');
    assert.ok(isProblem(res, 409));
    assert.equal(res.body.code, 'IP_POOL_IN_USE');
  });
});

describe('admin: pools from the configuration (ip_pools.pools) are read-only', () => {
  let api: TestApi;
  before(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'postline-pools-api-')), 'postline.yaml');
    writeFileSync(file, 'ip_pools:\n  pools:\n    - name: main\n      ips:\n        - { address: 192.0.2.80, hostname: main.example.com, weight: 5 }\n');
    api = await startTestApi({ env: { POSTLINE_CONFIG: file } });
  });
  after(() => api.close());

  it('lists a configured pool with source config and refuses to change, delete or shadow it (409 IP_POOL_CONFIGURED)', async () => {
    const list = await api.admin.request('GET', '/api/v1/ip-pools');
    assert.deepEqual(list.body.data.map((p: { name: string; source: string; ips: Array<{ weight: number }> }) => [p.name, p.source, p.ips[0].weight]), [['main', 'config', 5]]);
    for (const res of [
      await api.admin.request('PATCH', '/api/v1/ip-pools/main', { ips: [{ address: '192.0.2.81', hostname: 'x.example.com' }] }),
      await api.admin.request('DELETE', '/api/v1/ip-pools/main'),
      await api.admin.request('POST', '/api/v1/ip-pools', { name: 'main', ips: [{ address: '192.0.2.81', hostname: 'x.example.com' }] }),
    ]) {
      assert.ok(isProblem(res, 409));
      assert.equal(res.body.code, 'IP_POOL_CONFIGURED');
    }
  });
});

describe('tenant pools and quota (PATCH /api/v1/tenants/{id}, GET /api/v1/quota)', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
    await api.admin.request('POST', '/api/v1/ip-pools', { name: 'tx', ips: [{ address: '192.0.2.70', hostname: 'tx.example.com' }] });
  });
  after(() => api.close());

  it('sets a pool per stream and a quota, shows them on GET with the usage, and the tenant reads its own quota', async () => {
    const t = await api.tenant();
    const patched = await api.admin.request('PATCH', `/api/v1/tenants/${t.id}`, { pools: { transactional: 'tx' }, quota: { per_hour: 100, per_day: 1000 } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.pools, { transactional: 'tx', broadcast: null });
    await api.store.write((trx) => addTenantCounts(trx, [{ tenantId: t.id, hour: hourStart(Date.now()), n: 12 }]));
    const got = await api.admin.request('GET', `/api/v1/tenants/${t.id}`);
    assert.deepEqual(got.body.quota, { per_hour: 100, per_day: 1000, sent_this_hour: 12, sent_today: 12 });
    assert.deepEqual((await t.client.request('GET', '/api/v1/quota')).body, { per_hour: 100, per_day: 1000, sent_this_hour: 12, sent_today: 12 });
    const cleared = await api.admin.request('PATCH', `/api/v1/tenants/${t.id}`, { pools: { transactional: null }, quota: { per_hour: null } });
    assert.deepEqual(cleared.body.pools, { transactional: null, broadcast: null });
    assert.equal(cleared.body.quota.per_hour, null);
    assert.equal(cleared.body.quota.per_day, 1000, 'a field left out stays');
  });

  it('refuses an unknown pool with 422 at /pools/transactional and a zero quota with 400', async () => {
    const t = await api.tenant();
    const unknown = await api.admin.request('PATCH', `/api/v1/tenants/${t.id}`, { pools: { transactional: 'nope' } });
    assert.ok(isProblem(unknown, 422));
    assert.equal(unknown.body.errors[0].pointer, '/pools/transactional');
    assert.ok(isProblem(await api.admin.request('PATCH', `/api/v1/tenants/${t.id}`, { quota: { per_hour: 0 } }), 400));
  });
});
