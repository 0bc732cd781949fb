// Issue 5, "pacing deferrals still count as attempts": a recipient held back by our own
// pacing (here the destination's messages_per_minute) was never offered to a remote, so its
// `attempts` counter, which drives the retry schedule and expiry, must not grow. A claim
// counts the attempt up front (store/repos/queue.ts); settle.ts gives it back.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPoolRig, type PoolRig } from './pool-rig.ts';
import { recipient } from '../queue/delivery-harness.ts';

const PACED = '127.0.0.26';
let rig: PoolRig;

before(async () => {
  rig = await startPoolRig({
    sinks: [PACED],
    domains: ['acme.test'],
    config: {
      throttling: {
        // A hold longer than this is a deferral to the time the rate allows.
        max_wait: '200ms',
        domains: { 'paced.test': { messages_per_minute: 1 } },
      },
    },
  });
  rig.dns.mx('paced.test', ['mx.paced.test']);
  rig.dns.a('mx.paced.test', PACED);
});

after(async () => {
  await rig?.close();
});

describe('issue 5: a pacing deferral is not an attempt', () => {
  it('defers the second message over messages_per_minute: 1 with throttled: true and leaves its attempts at 0, while the delivered one has 1', async () => {
    const first = await rig.send({ from: 'app@acme.test', to: 'one@paced.test' });
    const delivered = await rig.waitFor(first, (v) => v.events.some((e) => e.type === 'message.delivered'));
    assert.equal(recipient(delivered, 'one@paced.test').attempts, 1);

    const second = await rig.send({ from: 'app@acme.test', to: 'two@paced.test' });
    const deferred = await rig.waitFor(second, (v) => v.events.some((e) => e.type === 'message.deferred'));
    const event = deferred.events.find((e) => e.type === 'message.deferred')!.data;
    assert.equal(event.throttled, true);
    assert.equal(event.throttle.reason, 'rate');
    assert.equal(event.code, null, 'no remote reply: our own decision');
    const r = recipient(deferred, 'two@paced.test');
    assert.equal(r.state, 'deferred');
    assert.equal(r.attempts, 0, 'the pacing deferral did not count as an attempt');
    // The deferral is still on record as an attempt row (what happened, and why).
    assert.equal(deferred.attempts.length, 1);
    assert.match(deferred.attempts[0].response ?? '', /Deferred by Postline/);
    assert.equal(rig.sink(PACED).messages.length, 1);
  });
});
