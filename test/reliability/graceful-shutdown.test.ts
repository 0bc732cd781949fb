// SIGTERM (RFC 5321 §3.8): the listeners stop accepting at once, an idle session is told
// `421 4.3.2` at once, a transaction in progress may finish within shutdown_timeout (its 250
// means stored, and the message is delivered after the restart), one still open after that
// gets `421 4.3.2`, never a 250, and the process exits within the bound.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { startRelayToSink, type PostlineProcess } from '../helpers/postline.ts';
import type { SmtpSink } from '../helpers/smtp-sink.ts';
import { connectSmtp, type SmtpTalk } from '../helpers/smtp-talk.ts';

const SHUTDOWN_TIMEOUT_MS = 2000;
/** shutdown_timeout plus the margin start-command allows for delivery and the store. */
const EXIT_BOUND_MS = SHUTDOWN_TIMEOUT_MS + 15_000;

function message(subject: string): string {
  return `From: <load@acme.test>\r\nTo: <rcpt@dest.test>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@acme.test>\r\n\r\nbody of ${subject}\r\n`;
}

async function openTransaction(proc: PostlineProcess, subject: string): Promise<SmtpTalk> {
  const c = await connectSmtp({ host: proc.smtp.host, port: proc.smtp.port });
  assert.equal((await c.ehlo('client.test')).code, 250);
  assert.equal((await c.send('MAIL FROM:<load@acme.test>')).code, 250);
  assert.equal((await c.send('RCPT TO:<rcpt@dest.test>')).code, 250);
  assert.equal((await c.send('DATA')).code, 354);
  // Half the message: the session is mid-DATA when SIGTERM arrives.
  c.write(message(subject).slice(0, 40));
  return c;
}

describe('Graceful shutdown on SIGTERM', () => {
  let sink: SmtpSink;
  let proc: PostlineProcess;

  let rig: Awaited<ReturnType<typeof startRelayToSink>> | undefined;

  before(async () => {
    rig = await startRelayToSink({ env: { POSTLINE_SHUTDOWN_TIMEOUT: `${SHUTDOWN_TIMEOUT_MS}ms` } });
    ({ sink, proc } = rig);
  });

  after(async () => {
    await rig?.close();
  });

  it('answers 421 4.3.2 to idle sessions, 250 to a DATA finished in time (delivered after restart), 421 4.3.2 to one still open at shutdown_timeout, and exits within the bound', { timeout: 60_000 }, async () => {
    const idle = await connectSmtp({ host: proc.smtp.host, port: proc.smtp.port });
    assert.equal((await idle.ehlo('idle.test')).code, 250);
    const finishing = await openTransaction(proc, 'finishes-in-time');
    const stalled = await openTransaction(proc, 'never-finishes');

    const exited = once(proc.child, 'exit');
    const sentAt = Date.now();
    proc.child.kill('SIGTERM');

    // RFC 5321 §3.8: the idle session is closed with 421 at once.
    const idleReply = await idle.read(1500);
    assert.equal(idleReply.last.slice(0, 10), '421 4.3.2 ', idleReply.last);
    await idle.closed;

    // Stop accepting: no new session is opened.
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: proc.smtp.host, port: proc.smtp.port });
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    assert.ok(refused, 'a new connection after SIGTERM is refused');

    // The transaction in progress finishes inside the period: stored, so 250.
    finishing.write(`${message('finishes-in-time').slice(40)}.\r\n`);
    const done = await finishing.read(5000);
    assert.equal(done.code, 250, done.last);
    const queueId = /queued as (\S+)/.exec(done.last)?.[1];
    assert.ok(queueId, done.last);
    // Its session then ends with 421 too (no new transaction starts during shutdown).
    const after250 = await finishing.read(5000);
    assert.equal(after250.last.slice(0, 10), '421 4.3.2 ', after250.last);

    // The stalled one never completes its DATA: 421 4.3.2 at shutdown_timeout, never 250.
    const cut = await stalled.read(SHUTDOWN_TIMEOUT_MS + 5000);
    const cutAfter = Date.now() - sentAt;
    assert.equal(cut.last.slice(0, 10), '421 4.3.2 ', cut.last);
    assert.ok(cutAfter >= SHUTDOWN_TIMEOUT_MS - 100, `cut after ${cutAfter} ms, not before shutdown_timeout`);

    const [code] = await exited;
    const exitAfter = Date.now() - sentAt;
    assert.equal(code, 0, `clean exit code; log:\n${proc.logs().slice(-2000)}`);
    assert.ok(exitAfter < EXIT_BOUND_MS, `exited after ${exitAfter} ms (< ${EXIT_BOUND_MS})`);
    assert.match(proc.logs(), /"msg":"stopped"/, 'the last log line was flushed before exit');

    // After the restart the message that got 250 is delivered; the cut one was never stored.
    await proc.restart();
    const [delivered] = await sink.waitFor((m) => m.some((x) => x.raw.toString().includes('Subject: finishes-in-time')), 20_000);
    assert.ok(delivered);
    assert.ok(!sink.messages.some((m) => m.raw.toString().includes('Subject: never-finishes')), 'the cut message was not accepted');
  });
});
