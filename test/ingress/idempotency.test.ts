// X-Postline-Idempotency-Key over SMTP: a tenant's repeat submission with the same key and
// content answers 250 with the original queue id and queues nothing; other content with the
// key answers 554 5.6.0; keys are per tenant. Real server, real sink behind POSTLINE_RELAYHOST.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { connectSmtp, type SmtpReply, type SmtpTalk } from '../helpers/smtp-talk.ts';

const SHOP_CLIENT = '127.0.0.7';

let server: PostlineProcess;
let sink: SmtpSink;
const talks: SmtpTalk[] = [];

before(async () => {
  sink = await startSmtpSink({ host: '127.0.0.2', port: 0, starttls: false });
  server = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    env: { POSTLINE_RELAYHOST: `127.0.0.2:${sink.port}`, POSTLINE_RELAY_NETWORKS: `${SHOP_CLIENT}/32=shop`, POSTLINE_QUEUE_POLL_INTERVAL: '200ms' },
  });
  await runCli(server.env, ['tenant', 'create', 'shop']);
  await runCli(server.env, ['domain', 'add', '--tenant', 'shop', 'shop.test']);
});

after(async () => {
  for (const t of talks) t.close();
  await server?.cleanup();
  await sink?.close();
});

/** acme logs in over STARTTLS; shop submits from its relay network without AUTH. */
async function session(tenant: 'acme' | 'shop'): Promise<SmtpTalk> {
  const t = await connectSmtp({ host: server.smtp.host, port: server.smtp.port, ...(tenant === 'shop' ? { localAddress: SHOP_CLIENT } : {}) });
  talks.push(t);
  await t.ehlo();
  if (tenant === 'acme') {
    await t.startTls();
    await t.ehlo();
    assert.equal((await t.authPlain(server.credential!.username, server.credential!.password)).last, '235 2.7.0 Authentication successful');
  }
  return t;
}

async function submit(tenant: 'acme' | 'shop', key: string, body: string, to = 'ann@world.test'): Promise<SmtpReply> {
  const t = await session(tenant);
  assert.equal((await t.send(`MAIL FROM:<app@${tenant}.test>`)).code, 250);
  assert.equal((await t.send(`RCPT TO:<${to}>`)).code, 250);
  const reply = await t.data(`From: app@${tenant}.test\r\nTo: ${to}\r\nSubject: order ${key}\r\nX-Postline-Idempotency-Key: ${key}\r\n\r\n${body}\r\n`);
  await t.send('QUIT');
  return reply;
}

function queueId(reply: SmtpReply): string {
  const m = /^250 2\.6\.0 Ok: queued as ([0-9A-Z]{26})$/.exec(reply.last);
  assert.ok(m, `expected 250 2.6.0 Ok: queued as <ID>, got ${reply.last}`);
  return m[1];
}

describe('X-Postline-Idempotency-Key over SMTP', () => {
  it('answers 250 with the original queue id to a repeat with the same key and content, and delivers one message without the header', async () => {
    sink.reset();
    const first = queueId(await submit('acme', 'order-1', 'Your order shipped.'));
    const second = queueId(await submit('acme', 'order-1', 'Your order shipped.'));
    assert.equal(second, first);
    await sink.waitFor(1, 10_000);
    // Two poll intervals more: a second copy would have gone out by now.
    await sleep(600);
    const copies = sink.messages.filter((m) => m.raw.toString().includes('Subject: order order-1'));
    assert.equal(copies.length, 1);
    assert.doesNotMatch(copies[0].raw.toString(), /X-Postline-Idempotency-Key/i);
  });

  it('answers 554 5.6.0 to a key reused with a different body, and stores nothing', async () => {
    const first = queueId(await submit('acme', 'order-2', 'First body.'));
    const clash = await submit('acme', 'order-2', 'Another body.');
    assert.equal(clash.last, '554 5.6.0 Idempotency key reused with different content (X-Postline-Idempotency-Key "order-2")');
    // A different envelope is different content too.
    const otherRcpt = await submit('acme', 'order-2', 'First body.', 'bob@world.test');
    assert.equal(otherRcpt.code, 554);
    assert.equal(queueId(await submit('acme', 'order-2', 'First body.')), first);
    await sink.waitFor((ms) => ms.some((m) => m.raw.toString().includes('Subject: order order-2')), 10_000);
    await sleep(600);
    assert.equal(sink.messages.filter((m) => m.raw.toString().includes('Subject: order order-2')).length, 1);
  });

  it('keeps keys per tenant: another tenant (relay network) reusing a key gets its own message, and its own replays', async () => {
    const acme = queueId(await submit('acme', 'shared-key', 'Same text.'));
    const shop = queueId(await submit('shop', 'shared-key', 'Same text.'));
    assert.notEqual(shop, acme);
    assert.equal(queueId(await submit('shop', 'shared-key', 'Same text.')), shop);
  });

  it('stores one message for three concurrent submissions with one key (check and insert in one transaction)', async () => {
    const replies = await Promise.all([1, 2, 3].map(() => submit('acme', 'race-1', 'Concurrent.')));
    const ids = new Set(replies.map(queueId));
    assert.equal(ids.size, 1);
  });

  it('refuses a malformed key with 550 5.6.0', async () => {
    const reply = await submit('acme', ' ', 'Blank key.');
    assert.equal(reply.code, 550);
    assert.equal(reply.enhanced, '5.6.0');
  });
});
