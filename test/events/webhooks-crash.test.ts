// At least once across a crash: the endpoint is down while mail is delivered, Postline is
// killed with SIGKILL while its calls fail and wait for their retry, and after the restart
// (with the endpoint back) every event of every message still arrives.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

const WAIT_MS = 25_000;
const MESSAGES = 8;

let sink: SmtpSink;
let proc: PostlineProcess;
let receiver: WebhookReceiver | null = null;
let key: string;

async function api(method: string, path: string, body?: unknown, token = key): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://${proc.http!.host}:${proc.http!.port}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

before(async () => {
  sink = await startSmtpSink();
  proc = await startPostline({
    env: {
      POSTLINE_RELAYHOST: `127.0.0.1:${sink.port}`,
      POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true',
      POSTLINE_WEBHOOK_RETRY_SCHEDULE: Array.from({ length: 60 }, () => '1s').join(','),
      POSTLINE_WEBHOOK_TIMEOUT: '2s',
    },
  });
  const admin = readFileSync(join(proc.dataDir, 'admin-token'), 'utf8').trim();
  const tenant = await api('POST', '/api/v1/tenants', { name: 'crash' }, admin);
  key = (await api('POST', `/api/v1/tenants/${tenant.body.id}/keys`, { name: 'e2e', scopes: ['send', 'read', 'manage'] }, admin)).body.key;
  assert.equal((await api('POST', '/api/v1/domains', { name: 'crash.test' })).status, 201);
});

after(async () => {
  await receiver?.close();
  await proc?.cleanup();
  await sink?.close();
});

describe('webhooks: at least once across kill -9', () => {
  it('delivers every event of every message after a SIGKILL while the endpoint was down', async () => {
    // Take a free port, then close it: the endpoint is down until after the restart.
    const probe = await startWebhookReceiver();
    const port = probe.port;
    await probe.close();
    const hook = await api('POST', '/api/v1/webhooks', { url: `http://127.0.0.1:${port}/hook` });
    assert.equal(hook.status, 201);

    const cred = (await api('POST', '/api/v1/smtp-credentials', {})).body;
    const smtp: Transporter = nodemailer.createTransport({
      host: proc.smtp.host, port: proc.smtp.port, secure: false, requireTLS: true,
      auth: { user: cred.username, pass: cred.password }, tls: { rejectUnauthorized: false },
    });
    const ids: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const info = await smtp.sendMail({ from: 'app@crash.test', to: `user${i}@example.com`, subject: `crash ${i}`, text: 'Hello.\r\n' });
      ids.push(/queued as (\S+)/.exec(String(info.response))![1]);
    }
    smtp.close();
    await sink.waitFor(MESSAGES, WAIT_MS);
    // Wait until the dispatcher has failed calls on record (refused connections), then crash.
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const d = (await api('GET', `/api/v1/webhooks/${hook.body.id}/deliveries?limit=100`)).body.data as Array<{ attempts: unknown[] }>;
      if (d.length > 0 && d.some((x) => x.attempts.length > 0)) break;
      if (Date.now() > deadline) throw new Error('no failed webhook call before the crash');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The sink has every message; the delivery thread records each outcome just after (it runs
    // at a lower priority than the API), so wait for the events rather than assume them.
    const eventIds = async () => (await api('GET', '/api/v1/events?limit=100')).body.data
      .filter((e: { type: string }) => e.type === 'message.queued' || e.type === 'message.delivered')
      .map((e: { id: string }) => e.id) as string[];
    let expected = await eventIds();
    while (expected.length < MESSAGES * 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      expected = await eventIds();
    }
    assert.equal(expected.length, MESSAGES * 2, 'every message was queued and delivered before the crash');
    await proc.kill9();

    receiver = await startWebhookReceiver({ port });
    await proc.restart();
    await receiver.waitFor((calls) => expected.every((id) => calls.some((c) => c.headers['webhook-id'] === id)), WAIT_MS);
    for (const id of ids) {
      const types = receiver.calls.filter((c) => c.json.data.message_id === id).map((c) => c.json.type);
      assert.ok(types.includes('message.queued') && types.includes('message.delivered'), `${id}: ${types.join(', ')}`);
    }
    const failed = (await api('GET', `/api/v1/webhooks/${hook.body.id}/deliveries?status=failed&limit=100`)).body.data;
    assert.deepEqual(failed, []);
  });
});
