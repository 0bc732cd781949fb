// How an attempt's outcome becomes state, events and RFC 3464 DSNs (src/queue/settle.ts),
// end to end: the DSN is real mail, delivered to the sender domain's MX and read back with
// Python's email package. Messages live 3 s here (POSTLINE_MAX_QUEUE_LIFETIME), so a
// recipient that keeps answering 451 expires within the test; a NOTIFY=DELAY recipient still
// deferred at all (1 ms after acceptance) gets its "delayed" DSN (POSTLINE_DELAY_WARNING_AFTER),
// so each of its deferrals is past the threshold and only the first may send one.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startDeliveryRig, recipient, eventTypes, finalState, parseDsnWithPython, type DeliveryRig, type MessageView,
} from './delivery-harness.ts';
import type { SinkMessage } from '../helpers/smtp-sink.ts';

const DEST_MX = '127.0.0.2';
const SENDER_MX = '127.0.0.3';
// An MX that does not announce DSN (RFC 3461 §4): we report success ourselves.
const PLAIN_MX = '127.0.0.4';

let rig: DeliveryRig;

before(async () => {
  rig = await startDeliveryRig({
    sinks: [DEST_MX, SENDER_MX, { host: PLAIN_MX, hideDSN: true }],
    domains: ['acme.test'],
    env: { POSTLINE_RETRY_SCHEDULE: '1s', POSTLINE_MAX_QUEUE_LIFETIME: '3s', POSTLINE_DELAY_WARNING_AFTER: '1ms' },
  });
  rig.dns.mx('dest.test', ['mx.dest.test']);
  rig.dns.a('mx.dest.test', DEST_MX);
  rig.dns.mx('acme.test', ['mx.acme.test']);
  rig.dns.a('mx.acme.test', SENDER_MX);
  rig.dns.mx('plain.test', ['mx.plain.test']);
  rig.dns.a('mx.plain.test', PLAIN_MX);
});

after(async () => {
  await rig?.close();
});

const to = (address: string) => (m: SinkMessage) => m.rcptTo.includes(address);

/** The DSNs the sender's MX received for `sender`. */
function dsnsFor(sender: string): SinkMessage[] {
  return rig.sink(SENDER_MX).messages.filter(to(sender));
}

async function waitForDsn(sender: string): Promise<SinkMessage> {
  await rig.sink(SENDER_MX).waitFor((ms) => ms.some(to(sender)), 20_000);
  return dsnsFor(sender)[0];
}

/**
 * DSNs addressed to `sender` that exist in the queue in any state. A DSN is written in the
 * same transaction as the failure it reports, so once the failure shows, this is final.
 */
async function queuedDsnsFor(sender: string): Promise<number> {
  const rows = [...await rig.list(), ...await rig.list('--state', 'delivered'), ...await rig.list('--state', 'bounced')];
  return rows.filter((r) => r.mail_from === '' && r.recipient === sender).length;
}

describe('RFC 3464 DSN for a permanent failure (5xx)', () => {
  it('bounces on 550 5.1.1 and delivers a multipart/report DSN from <> to the sender\'s MX', async () => {
    rig.sink(DEST_MX).setRcptRule('nobody@dest.test', '550 5.1.1 No such user here');
    const id = await rig.send({ from: 'hard-sender@acme.test', to: 'nobody@dest.test', subject: 'will bounce' });
    const view = await rig.waitFor(id, finalState);
    const r = recipient(view, 'nobody@dest.test');
    assert.equal(r.state, 'bounced');
    assert.equal(r.last_code, 550);
    assert.equal(r.last_enhanced, '5.1.1');
    const bounced = view.events.find((e) => e.type === 'message.bounced')!;
    assert.equal(bounced.data.classification, 'hard');
    assert.match(String(bounced.data.diagnostic), /No such user here/);

    const dsn = await waitForDsn('hard-sender@acme.test');
    assert.equal(dsn.mailFrom, '', 'RFC 3461 §6.2: a DSN is sent with MAIL FROM:<>');
    const parsed = await parseDsnWithPython(dsn.raw);
    assert.equal(parsed.content_type, 'multipart/report');
    assert.equal(parsed.report_type, 'delivery-status');
    assert.deepEqual(parsed.part_types.slice(0, 2), ['text/plain', 'message/delivery-status']);
    assert.deepEqual(parsed.defects, []);
    assert.equal(parsed.per_message['Reporting-MTA'], 'dns; mta.postline.test');
    assert.equal(parsed.recipients.length, 1);
    assert.equal(parsed.recipients[0]['Final-Recipient'], 'rfc822; nobody@dest.test');
    assert.equal(parsed.recipients[0].Action, 'failed');
    assert.equal(parsed.recipients[0].Status, '5.1.1');
    assert.match(parsed.recipients[0]['Diagnostic-Code'], /^smtp; 550 5\.1\.1 No such user here/);
    assert.equal(parsed.recipients[0]['Remote-MTA'], 'dns; mx.dest.test');
  });

  it('per recipient: one 250 and one 550 in the same message give one delivered, one bounced and a DSN naming only the failed one', async () => {
    rig.sink(DEST_MX).setRcptRule('gone@dest.test', '550 5.1.1 Mailbox gone');
    const id = await rig.send({ from: 'mixed-sender@acme.test', to: ['ok@dest.test', 'gone@dest.test'] });
    const view = await rig.waitFor(id, finalState);
    assert.equal(recipient(view, 'ok@dest.test').state, 'delivered');
    assert.equal(recipient(view, 'gone@dest.test').state, 'bounced');
    assert.deepEqual(eventTypes(view).filter((t) => t !== 'message.queued').sort(), ['message.bounced', 'message.delivered']);
    const accepted = rig.sink(DEST_MX).messages.filter(to('ok@dest.test'));
    assert.equal(accepted.length, 1);
    assert.deepEqual(accepted[0].rcptTo, ['ok@dest.test']);

    const dsn = await waitForDsn('mixed-sender@acme.test');
    const parsed = await parseDsnWithPython(dsn.raw);
    assert.deepEqual(parsed.recipients.map((b) => b['Final-Recipient']), ['rfc822; gone@dest.test']);
    assert.equal(parsed.recipients[0].Status, '5.1.1');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(dsnsFor('mixed-sender@acme.test').length, 1, 'exactly one DSN');
  });

  it('RFC 3461 §4.1 NOTIFY=NEVER: the bounce produces no DSN', async () => {
    rig.sink(DEST_MX).setRcptRule('never@dest.test', '550 5.1.1 No such user here');
    const id = await rig.send({ from: 'never-sender@acme.test', to: 'never@dest.test', dsn: { notify: 'NEVER' } });
    const view = await rig.waitFor(id, finalState);
    assert.equal(recipient(view, 'never@dest.test').state, 'bounced');
    assert.ok(eventTypes(view).includes('message.bounced'));
    assert.equal(await queuedDsnsFor('never-sender@acme.test'), 0);
    assert.equal(dsnsFor('never-sender@acme.test').length, 0);
  });

  it('RFC 5321 §6.1: never a DSN for a DSN, a bounce of the null sender\'s mail is only recorded', async () => {
    rig.sink(DEST_MX).setRcptRule('loop@dest.test', '550 5.1.1 No such user here');
    // The sender's own mailbox refuses mail too, so the DSN itself bounces.
    rig.sink(SENDER_MX).setRcptRule('loop-sender@acme.test', '550 5.1.1 Sender mailbox gone');
    const id = await rig.send({ from: 'loop-sender@acme.test', to: 'loop@dest.test' });
    await rig.waitFor(id, finalState);
    let dsnId = '';
    const deadline = Date.now() + 20_000;
    while (!dsnId && Date.now() < deadline) {
      const rows = await rig.list('--state', 'bounced');
      dsnId = rows.find((r) => r.mail_from === '' && r.recipient === 'loop-sender@acme.test')?.message_id ?? '';
      if (!dsnId) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(dsnId, 'the DSN was sent and bounced');
    const dsn = await rig.show(dsnId);
    assert.equal(dsn.origin, 'dsn');
    assert.equal(dsn.mail_from, '');
    assert.ok(eventTypes(dsn).includes('message.bounced'));
    assert.equal(await queuedDsnsFor('loop-sender@acme.test'), 1, 'only the first DSN exists');
    assert.equal((await rig.list()).filter((r) => r.mail_from === '').length, 0, 'nothing for the null sender is queued');
  });
});

describe('RFC 3461 success notices (NOTIFY=SUCCESS)', () => {
  it('§5.2.2: delivered to an MX without DSN, the sender gets a "relayed" DSN with 2.0.0', async () => {
    const id = await rig.send({ from: 'relay-sender@acme.test', to: 'user@plain.test', dsn: { notify: ['SUCCESS', 'FAILURE'] } });
    const view = await rig.waitFor(id, finalState);
    assert.equal(recipient(view, 'user@plain.test').state, 'delivered');
    const dsn = await waitForDsn('relay-sender@acme.test');
    assert.equal(dsn.mailFrom, '');
    const parsed = await parseDsnWithPython(dsn.raw);
    assert.equal(parsed.report_type, 'delivery-status');
    assert.equal(parsed.recipients[0]['Final-Recipient'], 'rfc822; user@plain.test');
    assert.equal(parsed.recipients[0].Action, 'relayed');
    assert.equal(parsed.recipients[0].Status, '2.0.0');
  });

  it('§5.2.2: delivered to an MX that speaks DSN, NOTIFY is passed on and no DSN comes from us', async () => {
    const id = await rig.send({ from: 'pass-sender@acme.test', to: 'user@dest.test', dsn: { notify: ['SUCCESS', 'FAILURE'] } });
    await rig.waitFor(id, finalState);
    const [received] = rig.sink(DEST_MX).messages.filter(to('user@dest.test'));
    assert.deepEqual(received.dsn?.recipients.map((r) => [...(r.notify ?? [])].sort()), [['FAILURE', 'SUCCESS']]);
    assert.equal(await queuedDsnsFor('pass-sender@acme.test'), 0);
  });
});

describe('RFC 5321 §4.5.4.1 giving up: maximum queue lifetime', () => {
  it('a recipient that keeps answering 451 expires after the lifetime: state expired, message.expired and a DSN with 4.4.7', async () => {
    rig.sink(DEST_MX).setRcptRule('slow@dest.test', '451 4.3.0 Temporary local problem');
    const id = await rig.send({ from: 'expiry-sender@acme.test', to: 'slow@dest.test' });
    const view = await rig.waitFor(id, finalState, 30_000);
    const r = recipient(view, 'slow@dest.test');
    assert.equal(r.state, 'expired');
    assert.ok(r.attempts >= 2, `retried before giving up (${r.attempts} attempts)`);
    assert.ok(view.attempts.every((a) => a.outcome === 'deferred' && a.code === 451));
    const types = eventTypes(view);
    assert.equal(types.at(-1), 'message.expired');
    assert.ok(types.includes('message.deferred'));
    const expired = view.events.at(-1)!;
    assert.equal(typeof expired.data.expired_at, 'string');

    const dsn = await waitForDsn('expiry-sender@acme.test');
    assert.equal(dsn.mailFrom, '');
    const parsed = await parseDsnWithPython(dsn.raw);
    assert.equal(parsed.recipients[0]['Final-Recipient'], 'rfc822; slow@dest.test');
    assert.equal(parsed.recipients[0].Action, 'failed');
    assert.equal(parsed.recipients[0].Status, '4.4.7');
  });
});

describe('RFC 3461 delay notices (NOTIFY=DELAY, queue.delay_warning_after)', () => {
  it('a NOTIFY=DELAY recipient deferred past the threshold gets exactly one "delayed" DSN (4.x.x, Will-Retry-Until), then the failure DSN at expiry', async () => {
    rig.sink(DEST_MX).setRcptRule('later@dest.test', '451 4.2.1 Mailbox busy, try later');
    const id = await rig.send({ from: 'delay-sender@acme.test', to: 'later@dest.test', dsn: { notify: ['DELAY', 'FAILURE'] } });
    const view = await rig.waitFor(id, finalState, 30_000);
    const r = recipient(view, 'later@dest.test');
    assert.equal(r.state, 'expired');
    assert.ok(r.attempts >= 3, `deferred several times (${r.attempts} attempts), so more than once past the threshold`);
    // Both DSNs are written in the transactions of the outcomes they report: final by now.
    assert.equal(await queuedDsnsFor('delay-sender@acme.test'), 2, 'one delayed and one failed, however many deferrals');
    await rig.sink(SENDER_MX).waitFor((ms) => ms.filter(to('delay-sender@acme.test')).length >= 2, 20_000);
    const parsed = await Promise.all(dsnsFor('delay-sender@acme.test').map((m) => parseDsnWithPython(m.raw)));
    const actions = parsed.map((p) => p.recipients[0].Action).sort();
    assert.deepEqual(actions, ['delayed', 'failed']);
    const delayed = parsed.find((p) => p.recipients[0].Action === 'delayed')!;
    assert.equal(delayed.report_type, 'delivery-status');
    assert.deepEqual(delayed.defects, []);
    assert.equal(delayed.recipients[0]['Final-Recipient'], 'rfc822; later@dest.test');
    assert.equal(delayed.recipients[0].Status, '4.2.1');
    assert.match(String(delayed.recipients[0]['Diagnostic-Code']), /^smtp; 451 4\.2\.1 Mailbox busy/);
    assert.ok(delayed.recipients[0]['Will-Retry-Until'], 'RFC 3464 §2.3.9: when we give up');
  });

  it('without DELAY in NOTIFY (here FAILURE alone) a long deferral sends no delay DSN, only the failure at expiry', async () => {
    rig.sink(DEST_MX).setRcptRule('later2@dest.test', '451 4.2.1 Mailbox busy, try later');
    const id = await rig.send({ from: 'nodelay-sender@acme.test', to: 'later2@dest.test', dsn: { notify: ['FAILURE'] } });
    const view = await rig.waitFor(id, finalState, 30_000);
    assert.equal(recipient(view, 'later2@dest.test').state, 'expired');
    assert.ok(recipient(view, 'later2@dest.test').attempts >= 3);
    assert.equal(await queuedDsnsFor('nodelay-sender@acme.test'), 1);
    const parsed = await parseDsnWithPython((await waitForDsn('nodelay-sender@acme.test')).raw);
    assert.equal(parsed.recipients[0].Action, 'failed');
  });
});

describe('queue delete during an attempt', () => {
  it('a recipient cancelled while in flight stays cancelled, and its late 550 sends no DSN', async () => {
    // The sink holds its RCPT reply until the message has been cancelled, then refuses it.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    rig.sink(DEST_MX).configure({
      rcpt: (address) => (address === 'late@dest.test' ? held.then(() => '550 5.1.1 No such user here') : undefined),
    });
    try {
      const id = await rig.send({ from: 'cancel-sender@acme.test', to: 'late@dest.test' });
      await rig.waitFor(id, (v: MessageView) => recipient(v, 'late@dest.test').state === 'inflight');
      assert.deepEqual(await rig.postline.cli('queue', 'delete', id), { cancelled: 1 });
      release();
      // Nothing marks the end of an attempt whose outcome is discarded: give it time.
      await new Promise((r) => setTimeout(r, 1_500));
      const view = await rig.show(id);
      assert.equal(recipient(view, 'late@dest.test').state, 'cancelled');
      assert.ok(eventTypes(view).includes('message.cancelled'));
      assert.ok(!eventTypes(view).includes('message.bounced'));
      assert.equal(await queuedDsnsFor('cancel-sender@acme.test'), 0, 'no DSN for a cancelled recipient');
    } finally {
      release();
      rig.sink(DEST_MX).configure({ rcpt: undefined });
    }
  });
});
