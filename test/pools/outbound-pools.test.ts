// Issue 5, end to end: a real Postline with several source addresses on loopback
// (127.0.0.2 … 127.0.0.9) and a sink on 127.0.0.20 that records the peer address of every
// message, i.e. the address Postline bound its connection to.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SinkMessage } from '../helpers/smtp-sink.ts';
import { startPoolRig, todayUtc, until, type PoolRig } from './pool-rig.ts';

const SINK = '127.0.0.20';
let rig: PoolRig;

before(async () => {
  rig = await startPoolRig({
    sinks: [SINK],
    domains: ['acme.test'],
    config: {
      ip_pools: {
        reload_interval: '200ms',
        pools: [
          { name: 'weighted', ips: [{ address: '127.0.0.2', hostname: 'a.pool.test', weight: 3 }, { address: '127.0.0.3', hostname: 'b.pool.test', weight: 1 }] },
          { name: 'warming', ips: [{ address: '127.0.0.4', hostname: 'new.pool.test', weight: 100, warmup: true, warmup_start: todayUtc() }, { address: '127.0.0.5', hostname: 'old.pool.test' }] },
        ],
        warmup: { daily_start: 3 },
      },
    },
  });
  for (const d of ['stream.test', 'weights.test', 'warm.test']) {
    rig.dns.mx(d, [`mx.${d}`]);
    rig.dns.a(`mx.${d}`, SINK);
  }
});

after(async () => {
  await rig?.close();
});

const to = (domain: string) => (m: SinkMessage) => m.rcptTo.some((r) => r.endsWith(`@${domain}`));
const settle = () => new Promise((r) => setTimeout(r, 600)); // > ip_pools.reload_interval

async function usePools(pools: Record<string, string | null>): Promise<void> {
  const res = await rig.api('PATCH', '/api/v1/tenants/acme', { pools });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await settle();
}

describe('IP pools per tenant and stream (PATCH /api/v1/tenants/{id} pools)', () => {
  it('sends transactional mail from the transactional pool and broadcast mail from the broadcast pool, greeting with each address\'s hostname', async () => {
    const tx = await rig.api('POST', '/api/v1/ip-pools', { name: 'tx', ips: [{ address: '127.0.0.8', hostname: 'tx.pool.test' }] });
    assert.equal(tx.status, 201, JSON.stringify(tx.body));
    assert.equal(tx.body.source, 'api');
    assert.equal((await rig.api('POST', '/api/v1/ip-pools', { name: 'bulk', ips: [{ address: '127.0.0.9', hostname: 'bulk.pool.test' }] })).status, 201);
    const patched = await rig.api('PATCH', '/api/v1/tenants/acme', { pools: { transactional: 'tx', broadcast: 'bulk' } });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.pools, { transactional: 'tx', broadcast: 'bulk' });
    await settle();

    const ids = [
      await rig.submit({ from: 'app@acme.test', to: 'a@stream.test', subject: 'tx-1' }),
      await rig.submit({ from: 'app@acme.test', to: 'b@stream.test', subject: 'bulk-1', headers: { 'X-Postline-Stream': 'broadcast' } }),
      await rig.submit({ from: 'app@acme.test', to: 'c@stream.test', subject: 'tx-2' }),
      await rig.submit({ from: 'app@acme.test', to: 'd@stream.test', subject: 'bulk-2', headers: { 'X-Postline-Stream': 'broadcast' } }),
    ];
    const messages = (await rig.sink(SINK).waitFor((all) => all.filter(to('stream.test')).length >= 4, 15_000)).filter(to('stream.test'));
    const bySubject = (s: string) => messages.find((m) => m.raw.toString().includes(`Subject: ${s}`))!;
    for (const s of ['tx-1', 'tx-2']) {
      assert.equal(bySubject(s).remoteAddress, '127.0.0.8');
      assert.equal(bySubject(s).heloName, 'tx.pool.test');
    }
    for (const s of ['bulk-1', 'bulk-2']) {
      assert.equal(bySubject(s).remoteAddress, '127.0.0.9');
      assert.equal(bySubject(s).heloName, 'bulk.pool.test');
    }
    // Every attempt's events carry the source address and pool.
    const view = await rig.waitFor(ids[1], (v) => v.events.some((e) => e.type === 'message.delivered'));
    const delivered = view.events.find((e) => e.type === 'message.delivered')!;
    assert.equal(delivered.data.source_ip, '127.0.0.9');
    assert.equal(delivered.data.pool, 'bulk');

    const inUse = await rig.api('DELETE', '/api/v1/ip-pools/tx');
    assert.equal(inUse.status, 409);
    assert.equal(inUse.body.code, 'IP_POOL_IN_USE');
    const configured = await rig.api('DELETE', '/api/v1/ip-pools/weighted');
    assert.equal(configured.body.code, 'IP_POOL_CONFIGURED');
    const unknown = await rig.api('PATCH', '/api/v1/tenants/acme', { pools: { transactional: 'nope' } });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.errors[0].pointer, '/pools/transactional');
  });
});

describe('IP pool weights', () => {
  it('splits 40 messages 3:1 between addresses of weight 3 and 1 (30/10, ±2)', async () => {
    await usePools({ transactional: 'weighted', broadcast: null });
    for (let i = 0; i < 40; i++) await rig.send({ from: 'app@acme.test', to: `w${i}@weights.test` });
    const messages = (await rig.sink(SINK).waitFor((all) => all.filter(to('weights.test')).length >= 40, 20_000)).filter(to('weights.test'));
    const from2 = messages.filter((m) => m.remoteAddress === '127.0.0.2').length;
    const from3 = messages.filter((m) => m.remoteAddress === '127.0.0.3').length;
    assert.equal(from2 + from3, 40, `every message from the pool: ${JSON.stringify(messages.map((m) => m.remoteAddress))}`);
    assert.ok(Math.abs(from2 - 30) <= 2 && Math.abs(from3 - 10) <= 2, `127.0.0.2 sent ${from2}, 127.0.0.3 sent ${from3}`);
  });
});

describe('IP warm-up (ip_pools.warmup)', () => {
  it('holds a new address to its day-0 cap of 3, sends the overflow from the warm address, and keeps the count across a restart', async () => {
    await usePools({ transactional: 'warming' });
    for (let i = 0; i < 8; i++) await rig.submit({ from: 'app@acme.test', to: `x${i}@warm.test` });
    const first = (await rig.sink(SINK).waitFor((all) => all.filter(to('warm.test')).length >= 8, 15_000)).filter(to('warm.test'));
    assert.equal(first.filter((m) => m.remoteAddress === '127.0.0.4').length, 3, 'the warming address sent its cap');
    assert.equal(first.filter((m) => m.remoteAddress === '127.0.0.5').length, 5, 'the overflow went to the warm address');

    const report = await until(() => rig.api('GET', '/api/v1/ip-pools/warming'), (r) => r.body.ips?.[0]?.sent_today === 3);
    const fresh = report.body.ips.find((ip: { address: string }) => ip.address === '127.0.0.4');
    assert.equal(fresh.warmup_day, 0);
    assert.equal(fresh.daily_cap, 3);
    assert.equal(report.body.source, 'config');

    // The hourly counts are stored: a restart does not give the address a fresh day.
    await rig.postline.restart();
    await settle();
    for (let i = 0; i < 3; i++) await rig.submit({ from: 'app@acme.test', to: `y${i}@warm.test` });
    const after = (await rig.sink(SINK).waitFor((all) => all.filter(to('warm.test')).length >= 11, 15_000)).filter(to('warm.test')).slice(8);
    assert.deepEqual(after.map((m) => m.remoteAddress), ['127.0.0.5', '127.0.0.5', '127.0.0.5']);
  });
});

describe('tenant sending quota (PATCH /api/v1/tenants/{id} quota)', () => {
  it('defers mail over the hourly quota to the start of the next hour with throttled: true, and shows the usage', async () => {
    await usePools({ transactional: null });
    rig.dns.mx('quota.test', ['mx.quota.test']);
    rig.dns.a('mx.quota.test', SINK);
    await new Promise((r) => setTimeout(r, 1500)); // counts reach the store about once a second
    const sent = (await rig.api('GET', '/api/v1/tenants/acme')).body.quota.sent_this_hour as number;
    assert.equal((await rig.api('PATCH', '/api/v1/tenants/acme', { quota: { per_hour: sent + 2 } })).status, 200);
    await settle();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await rig.submit({ from: 'app@acme.test', to: `q${i}@quota.test` }));
    const views = await Promise.all(ids.map((id) => rig.waitFor(id, (v) => v.events.some((e) => e.type === 'message.delivered' || e.type === 'message.deferred'))));
    const deferred = views.filter((v) => v.recipients[0].state === 'deferred');
    assert.equal(views.length - deferred.length, 2, 'two went out');
    assert.equal(deferred.length, 2, 'two were over the quota');
    const nextHour = Math.floor(Date.now() / 3_600_000 + 1) * 3_600_000;
    for (const v of deferred) {
      const event = v.events.find((e) => e.type === 'message.deferred')!.data;
      assert.equal(event.throttle.reason, 'quota');
      assert.equal(event.code, null);
      assert.match(event.response, /tenant sending quota reached/);
      assert.equal(Date.parse(event.next_attempt_at), nextHour);
    }
    const usage = await until(() => rig.api('GET', '/api/v1/tenants/acme'), (r) => r.body.quota.sent_this_hour === sent + 2);
    assert.equal(usage.body.quota.per_hour, sent + 2);
  });
});
