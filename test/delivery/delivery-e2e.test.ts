// Delivery end to end: a real Postline process, a loopback DNS server and SMTP sinks on
// 127.0.0.x. Each test uses its own recipient domain, so the resolver's cache and pooled
// connections of one test cannot decide another.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import {
  startDeliveryRig, recipient, eventTypes, parseDsnWithPython, type DeliveryRig, type MessageView,
} from '../queue/delivery-harness.ts';

const PRIMARY = '127.0.0.2';
const SECONDARY = '127.0.0.3';
const BUSY = '127.0.0.4';
const SENDER_MX = '127.0.0.5';
// Nothing listens here: connecting is refused.
const DEAD = '127.0.0.9';
// Generous: other suites may load the machine while this one runs.
const SINK_WAIT_MS = 20_000;

let rig: DeliveryRig;

before(async () => {
  rig = await startDeliveryRig({
    sinks: [PRIMARY, SECONDARY, { host: BUSY, greeting: '421 4.3.2 Service not available, try later' }, SENDER_MX],
    domains: ['acme.test'],
    env: { POSTLINE_RETRY_SCHEDULE: '1s' },
  });
  // DSNs to the sender travel like any other mail: to acme.test's MX.
  rig.dns.mx('acme.test', ['mx.acme.test']);
  rig.dns.a('mx.acme.test', SENDER_MX);
});

after(async () => {
  await rig?.close();
});

const delivered = (address: string) => (v: MessageView) => recipient(v, address).state === 'delivered';
const hasEvent = (type: string) => (v: MessageView) => eventTypes(v).includes(type);
const to = (address: string) => (m: { rcptTo: string[] }) => m.rcptTo.includes(address);

describe('RFC 5321 §5.1 MX resolution', () => {
  it('delivers to the MX with the lowest preference (10 before 20, whatever the answer order)', async () => {
    rig.dns.mx('pref.test', [{ host: 'mx2.pref.test', preference: 20 }, { host: 'mx1.pref.test', preference: 10 }]);
    rig.dns.a('mx1.pref.test', PRIMARY);
    rig.dns.a('mx2.pref.test', SECONDARY);
    const id = await rig.send({ from: 'app@acme.test', to: 'user@pref.test' });
    await rig.sink(PRIMARY).waitFor((ms) => ms.some(to('user@pref.test')), SINK_WAIT_MS);
    const view = await rig.waitFor(id, delivered('user@pref.test'));
    assert.equal(rig.sink(SECONDARY).messages.filter(to('user@pref.test')).length, 0);
    assert.equal(view.attempts.length, 1);
    assert.equal(view.attempts[0].mx_host, 'mx1.pref.test');
    assert.equal(view.attempts[0].ip, PRIMARY);
    assert.equal(view.attempts[0].code, 250);
  });

  it('falls back to the MX of preference 20 when the first refuses the connection, and records the host used', async () => {
    rig.dns.mx('refused.test', [{ host: 'mx1.refused.test', preference: 10 }, { host: 'mx2.refused.test', preference: 20 }]);
    rig.dns.a('mx1.refused.test', DEAD);
    rig.dns.a('mx2.refused.test', SECONDARY);
    const id = await rig.send({ from: 'app@acme.test', to: 'user@refused.test' });
    await rig.sink(SECONDARY).waitFor((ms) => ms.some(to('user@refused.test')), SINK_WAIT_MS);
    const view = await rig.waitFor(id, delivered('user@refused.test'));
    assert.equal(view.attempts.length, 1);
    assert.equal(view.attempts[0].mx_host, 'mx2.refused.test');
    assert.equal(view.attempts[0].ip, SECONDARY);
    const event = view.events.find((e) => e.type === 'message.delivered');
    assert.equal(event?.data.mx_host, 'mx2.refused.test');
  });

  it('falls back to the next MX when the first answers 421 at the greeting (RFC 5321 §3.1)', async () => {
    rig.dns.mx('busy.test', [{ host: 'mx1.busy.test', preference: 10 }, { host: 'mx2.busy.test', preference: 20 }]);
    rig.dns.a('mx1.busy.test', BUSY);
    rig.dns.a('mx2.busy.test', SECONDARY);
    const before = rig.sink(BUSY).connections.total;
    const id = await rig.send({ from: 'app@acme.test', to: 'user@busy.test' });
    await rig.sink(SECONDARY).waitFor((ms) => ms.some(to('user@busy.test')), SINK_WAIT_MS);
    const view = await rig.waitFor(id, delivered('user@busy.test'));
    assert.ok(rig.sink(BUSY).connections.total > before, 'the preferred MX was tried first');
    assert.equal(rig.sink(BUSY).messages.length, 0);
    assert.equal(view.attempts[0].mx_host, 'mx2.busy.test');
    assert.equal(view.attempts[0].ip, SECONDARY);
  });

  it('delivers to the domain\'s own address when it has no MX record (implicit MX)', async () => {
    rig.dns.a('implicit.test', SECONDARY);
    const id = await rig.send({ from: 'app@acme.test', to: 'user@implicit.test' });
    await rig.sink(SECONDARY).waitFor((ms) => ms.some(to('user@implicit.test')), SINK_WAIT_MS);
    const view = await rig.waitFor(id, delivered('user@implicit.test'));
    assert.equal(view.attempts[0].mx_host, 'implicit.test');
    assert.equal(view.attempts[0].ip, SECONDARY);
  });
});

describe('RFC 7505 null MX', () => {
  it('bounces at once with 5.1.10, emits message.bounced and sends a DSN to the sender', async () => {
    rig.dns.mx('nullmx.test', [{ host: '.', preference: 0 }]);
    const id = await rig.send({ from: 'nullmx-sender@acme.test', to: 'user@nullmx.test' });
    const view = await rig.waitFor(id, hasEvent('message.bounced'));
    const r = recipient(view, 'user@nullmx.test');
    assert.equal(r.state, 'bounced');
    assert.equal(r.attempts, 1);
    assert.equal(r.last_enhanced, '5.1.10');
    assert.match(r.last_response ?? '', /null MX/);
    const event = view.events.find((e) => e.type === 'message.bounced')!;
    assert.equal(event.data.classification, 'hard');
    const [dsn] = (await rig.sink(SENDER_MX).waitFor((ms) => ms.some(to('nullmx-sender@acme.test')), SINK_WAIT_MS)).filter(to('nullmx-sender@acme.test'));
    assert.equal(dsn.mailFrom, '');
    const parsed = await parseDsnWithPython(dsn.raw);
    assert.equal(parsed.content_type, 'multipart/report');
    assert.equal(parsed.recipients[0]['Final-Recipient'], 'rfc822; user@nullmx.test');
    assert.equal(parsed.recipients[0].Status, '5.1.10');
    assert.equal(parsed.recipients[0].Action, 'failed');
  });
});

describe('RFC 5321 §5.1 DNS failures', () => {
  it('bounces a domain that does not exist (NXDOMAIN) with 5.1.2', async () => {
    const id = await rig.send({ from: 'app@acme.test', to: 'user@nxdomain.test' });
    const view = await rig.waitFor(id, hasEvent('message.bounced'));
    const r = recipient(view, 'user@nxdomain.test');
    assert.equal(r.state, 'bounced');
    assert.equal(r.last_enhanced, '5.1.2');
    assert.match(r.last_response ?? '', /NXDOMAIN/);
  });

  it('defers on SERVFAIL with 4.4.3, then delivers on retry once DNS answers again', async () => {
    rig.dns.setFailure('servfail.test', 'SERVFAIL');
    const id = await rig.send({ from: 'app@acme.test', to: 'user@servfail.test' });
    const deferred = await rig.waitFor(id, hasEvent('message.deferred'));
    const event = deferred.events.find((e) => e.type === 'message.deferred')!;
    assert.equal(event.data.enhanced, '4.4.3');
    assert.equal(typeof event.data.next_attempt_at, 'string');
    assert.equal(deferred.attempts[0].outcome, 'deferred');
    rig.dns.setFailure('servfail.test', null);
    rig.dns.mx('servfail.test', ['mx.servfail.test']);
    rig.dns.a('mx.servfail.test', PRIMARY);
    const view = await rig.waitFor(id, delivered('user@servfail.test'));
    assert.ok(recipient(view, 'user@servfail.test').attempts >= 2);
    assert.equal(view.attempts.at(-1)!.outcome, 'delivered');
    assert.ok(rig.sink(PRIMARY).messages.some(to('user@servfail.test')));
  });
});

describe('RFC 5321 §4.2.1 transient replies', () => {
  it('defers a recipient answered 451, then delivers it at the next attempt: deferred, then delivered, 2 attempts', async () => {
    rig.dns.mx('retry.test', ['mx.retry.test']);
    rig.dns.a('mx.retry.test', PRIMARY);
    const sink = rig.sink(PRIMARY);
    sink.setRcptRule('later@retry.test', '451 4.2.1 Mailbox busy, try again later');
    // The rule is lifted as soon as the 451 has gone out, so the next attempt gets 250.
    sink.configure({
      rcpt: (address) => {
        if (address === 'later@retry.test') setTimeout(() => sink.setRcptRule('later@retry.test', null), 0);
        return undefined;
      },
    });
    try {
      const id = await rig.send({ from: 'app@acme.test', to: 'later@retry.test' });
      const view = await rig.waitFor(id, delivered('later@retry.test'));
      assert.deepEqual(eventTypes(view), ['message.queued', 'message.deferred', 'message.delivered']);
      assert.equal(recipient(view, 'later@retry.test').attempts, 2);
      assert.deepEqual(view.attempts.map((a) => [a.outcome, a.code]), [['deferred', 451], ['delivered', 250]]);
      assert.equal(view.attempts[0].enhanced, '4.2.1');
    } finally {
      sink.configure({ rcpt: undefined });
    }
  });
});

describe('delivery.allow_private: MX hosts on internal addresses', () => {
  let strict: PostlineProcess;

  before(async () => {
    strict = await startPostline({
      tenant: { name: 'acme', domains: ['acme.test'] },
      env: { POSTLINE_DNS_SERVERS: rig.dns.address, POSTLINE_DELIVERY_PORT: String(rig.port), POSTLINE_DELIVERY_ALLOW_PRIVATE: 'false' },
    });
  });

  after(async () => {
    await strict?.cleanup();
  });

  it('bounces with 5.4.4 and a reason naming the private address rule when every MX is on 127.0.0.x', async () => {
    rig.dns.mx('internal.test', ['mx.internal.test']);
    rig.dns.a('mx.internal.test', PRIMARY);
    const sent = await strict.cli('send', '--from', 'app@acme.test', '--to', 'user@internal.test');
    const deadline = Date.now() + 20_000;
    let view: MessageView = await strict.cli('queue', 'show', sent.id);
    while (!eventTypes(view).includes('message.bounced') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      view = await strict.cli('queue', 'show', sent.id);
    }
    const r = recipient(view, 'user@internal.test');
    assert.equal(r.state, 'bounced');
    assert.equal(r.last_enhanced, '5.4.4');
    assert.match(r.last_response ?? '', /private or loopback/);
    assert.equal(view.attempts[0].ip, null, 'no connection was made');
    assert.equal(rig.sink(PRIMARY).messages.filter(to('user@internal.test')).length, 0);
  });
});
