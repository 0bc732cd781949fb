// Receipts end to end: a real Postline process relaying to an SMTP sink, a tenant made
// through the API, mail submitted over the API and over SMTP, and real HTTP endpoints that
// receive the signed webhooks. Signatures are checked with the standardwebhooks package.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import { Webhook } from 'standardwebhooks';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { startWebhookReceiver, type ReceivedCall, type WebhookReceiver } from './webhook-receiver.ts';

const WAIT_MS = 20_000;

let sink: SmtpSink;
let proc: PostlineProcess;
let key: string;
let smtp: Transporter;
const receivers: WebhookReceiver[] = [];
/** Recipients at these addresses get the reply set by the sink's rcpt hook. */
const deferOnce = new Set<string>();

async function api(method: string, path: string, body?: unknown, token = key): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://${proc.http!.host}:${proc.http!.port}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver();
  receivers.push(r);
  return r;
}

async function endpoint(r: WebhookReceiver, events: string[] = []): Promise<{ id: string; secret: string }> {
  const res = await api('POST', '/api/v1/webhooks', { url: r.url, events });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function sendSmtp(to: string, subject = 'e2e'): Promise<string> {
  const info = await smtp.sendMail({ from: 'app@shop.test', to, subject, text: 'Hello.\r\n' });
  const id = /queued as (\S+)/.exec(String(info.response))?.[1];
  assert.ok(id, String(info.response));
  return id;
}

const ofMessage = (id: string) => (c: ReceivedCall) => c.json.data?.message_id === id;
const typesOf = (calls: readonly ReceivedCall[], id: string) => calls.filter(ofMessage(id)).map((c) => c.json.type);

function verify(secret: string, call: ReceivedCall): unknown {
  const h = call.headers as Record<string, string>;
  return new Webhook(secret).verify(call.body, { 'webhook-id': h['webhook-id'], 'webhook-timestamp': h['webhook-timestamp'], 'webhook-signature': h['webhook-signature'] });
}

before(async () => {
  sink = await startSmtpSink({
    rcpt: (address) => {
      if (address.startsWith('hard@')) return '550 5.1.1 No such user here';
      if (deferOnce.delete(address)) return '451 4.3.0 Try again later';
      return undefined;
    },
  });
  proc = await startPostline({
    env: {
      POSTLINE_RELAYHOST: `127.0.0.1:${sink.port}`,
      POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true',
      POSTLINE_RETRY_SCHEDULE: '1s',
      POSTLINE_WEBHOOK_RETRY_SCHEDULE: '1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s',
      POSTLINE_WEBHOOK_TIMEOUT: '2s',
    },
  });
  const admin = readFileSync(join(proc.dataDir, 'admin-token'), 'utf8').trim();
  const tenant = await api('POST', '/api/v1/tenants', { name: 'shop' }, admin);
  assert.equal(tenant.status, 201);
  const k = await api('POST', `/api/v1/tenants/${tenant.body.id}/keys`, { name: 'e2e', scopes: ['send', 'read', 'manage'] }, admin);
  key = k.body.key;
  assert.equal((await api('POST', '/api/v1/domains', { name: 'shop.test' })).status, 201);
  const cred = await api('POST', '/api/v1/smtp-credentials', {});
  assert.equal(cred.status, 201);
  smtp = nodemailer.createTransport({
    host: proc.smtp.host, port: proc.smtp.port, secure: false, requireTLS: true,
    auth: { user: cred.body.username, pass: cred.body.password }, tls: { rejectUnauthorized: false },
  });
});

after(async () => {
  smtp?.close();
  for (const r of receivers) await r.close();
  await proc?.cleanup();
  await sink?.close();
});

describe('receipts end to end: events reach a webhook endpoint, signed', () => {
  it('an API send delivered to the sink gives the endpoint message.queued then message.delivered, both verified by standardwebhooks', async () => {
    const r = await receiver();
    const w = await endpoint(r);
    const sent = await api('POST', '/api/v1/messages', { from: 'app@shop.test', to: 'alice@example.com', subject: 'Welcome', text: 'Hi' });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const id = sent.body.id;
    await sink.waitFor((ms) => ms.some((m) => m.rcptTo.includes('alice@example.com')), WAIT_MS);
    await r.waitFor((calls) => typesOf(calls, id).includes('message.delivered'), WAIT_MS);
    assert.deepEqual(typesOf(r.calls, id), ['message.queued', 'message.delivered']);
    for (const call of r.calls.filter(ofMessage(id))) {
      const payload = verify(w.secret, call) as { type: string; timestamp: string; data: Record<string, unknown> };
      assert.deepEqual(Object.keys(payload), ['type', 'timestamp', 'data']);
      assert.ok(!Number.isNaN(Date.parse(payload.timestamp)));
    }
    const delivered = r.calls.find((c) => ofMessage(id)(c) && c.json.type === 'message.delivered')!;
    assert.equal(delivered.json.data.recipient, 'alice@example.com');
    assert.equal(delivered.json.data.code, 250);
    // The webhook-id is the event id the API shows.
    const events = await api('GET', `/api/v1/events?message_id=${id}`);
    assert.deepEqual(r.calls.filter(ofMessage(id)).map((c) => c.headers['webhook-id']), events.body.data.map((e: { id: string }) => e.id));
  });

  it('a 5xx answer gives message.bounced with classification hard, code 550 and enhanced 5.1.1', async () => {
    const r = await receiver();
    await endpoint(r, ['message.bounced']);
    const id = await sendSmtp('hard@example.com');
    await r.waitFor((calls) => typesOf(calls, id).includes('message.bounced'), WAIT_MS);
    const bounce = r.calls.find(ofMessage(id))!;
    assert.equal(bounce.json.data.classification, 'hard');
    assert.equal(bounce.json.data.code, 550);
    assert.equal(bounce.json.data.enhanced, '5.1.1');
    assert.deepEqual(typesOf(r.calls, id), ['message.bounced'], 'the filter sends bounces only');
  });

  it('a 4xx answer gives message.deferred, then message.delivered on the retry', async () => {
    const r = await receiver();
    await endpoint(r);
    deferOnce.add('later@example.com');
    const id = await sendSmtp('later@example.com');
    await r.waitFor((calls) => typesOf(calls, id).includes('message.delivered'), WAIT_MS);
    assert.deepEqual(typesOf(r.calls, id), ['message.queued', 'message.deferred', 'message.delivered']);
    const deferred = r.calls.find((c) => ofMessage(id)(c) && c.json.type === 'message.deferred')!;
    assert.equal(deferred.json.data.code, 451);
    assert.ok(deferred.json.data.next_attempt_at);
  });

  it('an endpoint answering 500 three times, then 200, gets the event delivered once with 4 attempts logged', async () => {
    const r = await receiver();
    let failures = 0;
    r.respond(() => (failures++ < 3 ? { status: 500, body: 'not yet' } : { status: 200, body: 'thanks' }));
    const w = await endpoint(r, ['message.queued']);
    const id = await sendSmtp('retry@example.com');
    await r.waitFor(4, WAIT_MS);
    const deadline = Date.now() + WAIT_MS;
    let delivery: any;
    do {
      await new Promise((res) => setTimeout(res, 100));
      delivery = (await api('GET', `/api/v1/webhooks/${w.id}/deliveries`)).body.data.find((d: { message_id: string }) => d.message_id === id);
    } while (delivery?.status !== 'succeeded' && Date.now() < deadline);
    assert.equal(delivery.status, 'succeeded');
    assert.equal(delivery.attempt_count, 4);
    assert.deepEqual(delivery.attempts.map((a: { status_code: number }) => a.status_code), [500, 500, 500, 200]);
    assert.equal(delivery.attempts[0].response_excerpt, 'not yet');
    assert.ok(delivery.attempts.every((a: { duration_ms: number }) => a.duration_ms >= 0));
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(r.calls.filter((c) => c.json.type === 'message.queued').length, 4, 'nothing is sent after the success');
  });

  it('410 Gone disables the endpoint and records a webhook.disabled event', async () => {
    const r = await receiver();
    r.respond(() => ({ status: 410 }));
    const w = await endpoint(r, ['message.queued']);
    await sendSmtp('gone@example.com');
    await r.waitFor(1, WAIT_MS);
    const deadline = Date.now() + WAIT_MS;
    let hook: any;
    do {
      await new Promise((res) => setTimeout(res, 100));
      hook = (await api('GET', `/api/v1/webhooks/${w.id}`)).body;
    } while (hook.enabled && Date.now() < deadline);
    assert.equal(hook.enabled, false);
    assert.equal(hook.disabled_reason, 'gone');
    const events = (await api('GET', '/api/v1/events?type=webhook.disabled')).body.data;
    assert.ok(events.some((e: { data: { webhook_id: string } }) => e.data.webhook_id === w.id));
  });

  it('a stalled endpoint delays neither mail delivery nor the test ping of another endpoint', async () => {
    const stalled = await receiver();
    stalled.respond(() => ({ status: 200, hold: true }));
    await endpoint(stalled);
    const healthy = await receiver();
    const h = await endpoint(healthy, ['message.delivered']);
    const ids = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => sendSmtp(`fast${i}@example.com`)));
    await sink.waitFor((ms) => ids.every((_, i) => ms.some((m) => m.rcptTo.includes(`fast${i + 1}@example.com`))), WAIT_MS);
    await healthy.waitFor((calls) => ids.every((id) => typesOf(calls, id).includes('message.delivered')), WAIT_MS);
    const ping = await api('POST', `/api/v1/webhooks/${h.id}/test`);
    assert.equal(ping.status, 202);
    await healthy.waitFor((calls) => calls.some((c) => c.json.type === 'webhook.test'), WAIT_MS);
    assert.ok(stalled.pending() <= 4, `the stalled endpoint holds ${stalled.pending()} calls, at most 4`);
    stalled.release();
  });
});
