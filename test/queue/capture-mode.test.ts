// Capture mode: a sandbox tenant's mail (or all mail with delivery.mode: capture) is kept
// and reported exactly like a delivery, and nothing reaches the world.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startPostline, runCli, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

async function waitForState(proc: PostlineProcess, id: string, state: string): Promise<any> {
  const end = Date.now() + 15_000;
  for (;;) {
    const shown = await proc.cli('queue', 'show', id);
    if (shown.recipients.every((r: { state: string }) => r.state === state)) return shown;
    if (Date.now() > end) throw new Error(`message ${id} not ${state}: ${JSON.stringify(shown.recipients)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('capture mode (sandbox tenants and delivery.mode: capture)', () => {
  let sink: SmtpSink;
  let proc: PostlineProcess;
  before(async () => {
    sink = await startSmtpSink({ host: '127.0.0.2', port: 0, starttls: false });
    proc = await startPostline({
      tenant: { name: 'live', domains: ['live.test'] },
      env: { POSTLINE_RELAYHOST: `127.0.0.2:${sink.port}`, POSTLINE_RELAY_NETWORKS: '127.0.0.7/32=live,127.0.0.8/32=sandy', POSTLINE_QUEUE_POLL_INTERVAL: '200ms' },
    });
    await runCli(proc.env, ['tenant', 'create', 'sandy', '--sandbox']);
    await runCli(proc.env, ['domain', 'add', '--tenant', 'sandy', 'sandy.test']);
  });
  after(async () => {
    await proc?.cleanup();
    await sink?.close();
  });

  function send(from: string, localAddress: string) {
    const t = nodemailer.createTransport({ host: proc.smtp.host, port: proc.smtp.port, ignoreTLS: true, localAddress } as any);
    return t.sendMail({ from, to: 'someone@world.test', subject: 'capture?', text: 'hello' });
  }

  it('keeps a sandbox tenant\'s message, reports message.delivered with captured: true, and sends nothing', async () => {
    const info = await send('app@sandy.test', '127.0.0.8');
    const id = /queued as (\S+)/.exec(info.response)![1];
    const shown = await waitForState(proc, id, 'delivered');
    const delivered = shown.events.find((e: { type: string }) => e.type === 'message.delivered');
    assert.equal(delivered.data.captured, true);
    assert.match(shown.recipients[0].last_response, /Captured/);
    // A live tenant's message afterwards does reach the sink, and it is the only one there.
    await send('app@live.test', '127.0.0.7');
    await sink.waitFor(1, 10_000);
    assert.equal(sink.messages.length, 1);
    assert.match(sink.messages[0].mailFrom, /@live\.test$/);
  });
});

describe('delivery.mode: capture for the whole instance', () => {
  it('captures every tenant\'s mail', async () => {
    const sink = await startSmtpSink({ host: '127.0.0.2', port: 0, starttls: false });
    const proc = await startPostline({
      tenant: { name: 'acme', domains: ['acme.test'] },
      env: { POSTLINE_DELIVERY_MODE: 'capture', POSTLINE_RELAYHOST: `127.0.0.2:${sink.port}`, POSTLINE_RELAY_NETWORKS: '127.0.0.0/8=acme' },
    });
    try {
      const t = nodemailer.createTransport({ host: proc.smtp.host, port: proc.smtp.port, ignoreTLS: true });
      const info = await t.sendMail({ from: 'a@acme.test', to: 'b@world.test', subject: 'x', text: 'y' });
      const id = /queued as (\S+)/.exec(info.response)![1];
      await waitForState(proc, id, 'delivered');
      assert.equal(sink.messages.length, 0);
    } finally {
      await proc.cleanup();
      await sink.close();
    }
  });
});
