// Issue 5, end to end: pacing per source address and destination. Postline sends from
// loopback addresses 127.0.0.6 … 127.0.0.8; sinks on 127.0.0.21 … 127.0.0.23 script the
// replies (421 4.7.0, a 5.7.1 block of one address).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SinkMessage } from '../helpers/smtp-sink.ts';
import { startPoolRig, until, type PoolRig } from './pool-rig.ts';

const SLOW = '127.0.0.21';
const FAST = '127.0.0.22';
const BLOCK = '127.0.0.23';
let rig: PoolRig;

before(async () => {
  rig = await startPoolRig({
    sinks: [SLOW, FAST, BLOCK],
    domains: ['acme.test'],
    config: {
      ip_pools: {
        reload_interval: '200ms',
        pools: [
          { name: 'solo', ips: [{ address: '127.0.0.8', hostname: 'solo.pool.test' }] },
          { name: 'blocky', ips: [{ address: '127.0.0.6', hostname: 'listed.pool.test' }, { address: '127.0.0.7', hostname: 'clean.pool.test' }] },
        ],
      },
      throttling: {
        max_wait: '1s',
        // One message every 10 s while backing off: far slower than the test waits.
        backoff_messages_per_minute: 6,
      },
    },
  });
  const zone: Array<[string, string, string]> = [
    ['slow.test', 'mx.slow.test', SLOW], ['fast.test', 'mx.fast.test', FAST], ['block.test', 'mx.block.test', BLOCK],
  ];
  for (const [domain, mx, address] of zone) {
    rig.dns.mx(domain, [mx]);
    rig.dns.a(mx, address);
  }
});

after(async () => {
  await rig?.close();
});

const to = (domain: string) => (m: SinkMessage) => m.rcptTo.some((r) => r.endsWith(`@${domain}`));

async function usePools(pools: Record<string, string | null>): Promise<void> {
  assert.equal((await rig.api('PATCH', '/api/v1/tenants/acme', { pools })).status, 200);
  await new Promise((r) => setTimeout(r, 600));
}

describe('adaptive back-off (throttling.backoff_*)', () => {
  it('slows an address that got 421 4.7.0 toward that destination, deferring with throttled: true, while another destination gets all its mail at once', async () => {
    await usePools({ transactional: 'solo' });
    let rcpts = 0;
    rig.sink(SLOW).configure({ rcpt: () => (rcpts++ === 0 ? '421 4.7.0 Try again later, closing connection.' : undefined) });

    const first = await rig.submit({ from: 'app@acme.test', to: 'first@slow.test' });
    const deferred = await rig.waitFor(first, (v) => v.events.some((e) => e.type === 'message.deferred'));
    const signal = deferred.events.find((e) => e.type === 'message.deferred')!.data;
    assert.equal(signal.code, 421);
    assert.equal(signal.source_ip, '127.0.0.8');
    assert.equal(signal.throttled, true);
    assert.equal(signal.throttle.reason, 'backoff');
    assert.equal(signal.throttle.destination, 'slow.test');

    const slow: string[] = [];
    const fast: string[] = [];
    for (let i = 0; i < 4; i++) {
      slow.push(await rig.submit({ from: 'app@acme.test', to: `s${i}@slow.test` }));
      fast.push(await rig.submit({ from: 'app@acme.test', to: `f${i}@fast.test` }));
    }
    const fastMessages = (await rig.sink(FAST).waitFor((all) => all.filter(to('fast.test')).length >= 4, 10_000)).filter(to('fast.test'));
    assert.deepEqual(fastMessages.map((m) => m.remoteAddress), ['127.0.0.8', '127.0.0.8', '127.0.0.8', '127.0.0.8']);
    for (const id of slow) {
      const view = await rig.waitFor(id, (v) => v.events.some((e) => e.type === 'message.deferred'), 10_000);
      const row = view.events.find((e) => e.type === 'message.deferred')! as { created_at?: string; data: Record<string, any> };
      const event = row.data;
      assert.equal(event.throttled, true);
      assert.equal(event.throttle.reason, 'backoff');
      assert.equal(event.code, null, 'deferred by Postline, not by the remote');
      // Measured from the deferral itself, not from now: polling a loaded machine takes seconds.
      assert.ok(Date.parse(event.next_attempt_at) - Date.parse(row.created_at!) > 2_000, `next attempt ${event.next_attempt_at} (deferred at ${row.created_at}) waits for the back-off`);
    }
    assert.equal(rig.sink(SLOW).messages.filter(to('slow.test')).length, 0, 'nothing reached the slowed destination meanwhile');
    assert.equal(rcpts, 1, 'the slowed destination was not even asked');

    const pool = await until(() => rig.api('GET', '/api/v1/ip-pools/solo'), (r) => r.body.ips[0].throttles.length > 0);
    assert.deepEqual(pool.body.ips[0].throttles.map((t: { destination: string; kind: string }) => [t.destination, t.kind]), [['slow.test', 'backoff']]);
  });
});

describe('a 5.7.x block of one source address', () => {
  it('moves the recipient to the pool\'s other address in the same attempt and keeps using that one for the destination', async () => {
    await usePools({ transactional: 'blocky' });
    rig.sink(BLOCK).configure({
      rcpt: (_address, session) => (session.remoteAddress === '127.0.0.6' ? '550 5.7.1 Service unavailable; Client host [127.0.0.6] blocked using zen.spamhaus.org' : undefined),
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await rig.submit({ from: 'app@acme.test', to: `b${i}@block.test` }));
    const messages = (await rig.sink(BLOCK).waitFor((all) => all.filter(to('block.test')).length >= 3, 10_000)).filter(to('block.test'));
    assert.deepEqual(messages.map((m) => m.remoteAddress), ['127.0.0.7', '127.0.0.7', '127.0.0.7']);
    const views = await Promise.all(ids.map((id) => rig.waitFor(id, (v) => v.recipients.every((r) => r.state === 'delivered'))));
    // Attempts already under way when the first refusal came back were refused too; each moved on.
    const moved = views.filter((v) => v.attempts.length === 2);
    assert.ok(moved.length >= 1, 'at least one message was refused from 127.0.0.6');
    for (const v of moved) assert.deepEqual(v.attempts.map((a) => [a.outcome, a.code]), [['deferred', 550], ['delivered', 250]]);
    const delivered = moved[0].events.find((e) => e.type === 'message.delivered')!.data;
    assert.equal(delivered.source_ip, '127.0.0.7');
    assert.equal(delivered.blocked_sources[0].source_ip, '127.0.0.6');
    // From then on 127.0.0.6 is benched for block.test: straight from 127.0.0.7.
    const later = await rig.submit({ from: 'app@acme.test', to: 'later@block.test' });
    const view = await rig.waitFor(later, (v) => v.recipients.every((r) => r.state === 'delivered'));
    assert.deepEqual(view.attempts.map((a) => [a.outcome, a.code]), [['delivered', 250]]);
    assert.equal(view.events.find((e) => e.type === 'message.delivered')!.data.source_ip, '127.0.0.7');
    assert.ok(views.every((v) => !v.events.some((e) => e.type === 'message.bounced')));
  });
});
