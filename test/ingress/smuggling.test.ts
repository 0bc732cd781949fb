// SMTP smuggling (CVE-2023-51766 and friends): a sender hides `<LF>.<LF>`-style end markers
// inside DATA followed by a second transaction, hoping some hop ends the message early and
// runs the rest as commands. Postline refuses any bare CR or LF (RFC 5321 §2.3.8), so the
// whole thing is one message, answered once with 550 5.6.0, and nothing is queued.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { connectSmtp, type SmtpTalk } from '../helpers/smtp-talk.ts';

const BARE_NEWLINE = '550 5.6.0 Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 §2.3.8)';
const FORMS: ReadonlyArray<readonly [name: string, marker: string]> = [
  ['<LF>.<LF>', '\n.\n'],
  ['<CR><LF>.<LF>', '\r\n.\n'],
  ['<LF>.<CR><LF>', '\n.\r\n'],
  ['<CR>.<CR>', '\r.\r'],
];

let server: PostlineProcess;
let sink: SmtpSink;
const talks: SmtpTalk[] = [];

before(async () => {
  sink = await startSmtpSink({ host: '127.0.0.2', port: 0 });
  server = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    env: { POSTLINE_RELAYHOST: `127.0.0.2:${sink.port}`, POSTLINE_MX_DOMAINS: 'hosted.test' },
  });
});

after(async () => {
  for (const t of talks) t.close();
  await server?.cleanup();
  await sink?.close();
});

async function submission(): Promise<SmtpTalk> {
  const t = await connectSmtp({ host: server.smtp.host, port: server.smtp.port });
  talks.push(t);
  await t.ehlo();
  await t.startTls();
  await t.ehlo();
  assert.equal((await t.authPlain(server.credential!.username, server.credential!.password)).code, 235);
  return t;
}

async function mx(): Promise<SmtpTalk> {
  const t = await connectSmtp({ host: server.mx.host, port: server.mx.port });
  talks.push(t);
  await t.ehlo('attacker.example');
  return t;
}

/** The DATA payload: a message, the marker, a whole second transaction, then the real end. */
function payload(marker: string, victim: string, injected: string, from: string): string {
  return `From: ${from}\r\nTo: ${victim}\r\nSubject: smuggle carrier\r\n\r\nfirst part` +
    `${marker}MAIL FROM:<${from}>\r\nRCPT TO:<${injected}>\r\nDATA\r\n` +
    `From: ${from}\r\nTo: ${injected}\r\nSubject: injected\r\n\r\ninjected body\r\n.\r\n`;
}

/**
 * Runs one attempt on an open session and asserts exactly one reply (550 5.6.0) follows. With
 * `split`, the payload goes out in two TCP writes cut inside the marker, so the check has to
 * hold across chunk boundaries.
 */
async function attempt(t: SmtpTalk, marker: string, split: boolean, rcpt: string, injected: string, from: string): Promise<void> {
  assert.equal((await t.send(`MAIL FROM:<${from}>`)).code, 250);
  assert.equal((await t.send(`RCPT TO:<${rcpt}>`)).code, 250);
  assert.equal((await t.send('DATA')).code, 354);
  const text = payload(marker, rcpt, injected, from);
  if (split) {
    const cut = text.indexOf(marker) + 1;
    t.write(text.slice(0, cut));
    await sleep(30);
    t.write(text.slice(cut));
  } else {
    t.write(text);
  }
  const reply = await t.read();
  assert.equal(reply.last, BARE_NEWLINE);
  // Nothing else: no reply for a smuggled MAIL, RCPT or DATA.
  assert.deepEqual((await t.drain(300)).map((r) => r.last), []);
  assert.equal((await t.send('NOOP')).last, '250 2.0.0 OK', 'the session is back in command state');
}

describe('RFC 5321 §2.3.8 SMTP smuggling on submission (authenticated, relayed)', () => {
  for (const [name, marker] of FORMS) {
    for (const split of [false, true]) {
      it(`answers ${name} followed by a second transaction with one 550 5.6.0${split ? ' (marker split across TCP segments)' : ''}`, async () => {
        const t = await submission();
        await attempt(t, marker, split, 'victim@example.net', 'injected@example.net', 'sender@acme.test');
      });
    }
  }

  it('queues and relays no message from the attempts; a proper message on the same path arrives alone', async () => {
    const t = await submission();
    await t.send('MAIL FROM:<sender@acme.test>');
    await t.send('RCPT TO:<control@example.net>');
    const ok = await t.data('From: sender@acme.test\r\nTo: control@example.net\r\nSubject: control\r\n\r\nA proper message.\r\n');
    assert.match(ok.last, /^250 2\.6\.0 Ok: queued as /);
    await sink.waitFor(1, 10_000);
    await sleep(300);
    assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['control@example.net']]);
    assert.ok(!sink.messages.some((m) => m.raw.includes('injected') || m.raw.includes('smuggle carrier')));
    // The sink has the message before Postline hears its 250, so wait for the state to settle.
    let delivered: Array<{ recipient: string }> = [];
    for (let i = 0; i < 20 && delivered.length === 0; i++) {
      if (i > 0) await sleep(250);
      delivered = await server.cli('queue', 'list', '--state', 'delivered');
    }
    assert.deepEqual(delivered.map((r) => r.recipient), ['control@example.net']);
    assert.deepEqual(await server.cli('queue', 'list'), [], 'nothing queued, in flight or deferred');
  });
});

describe('RFC 5321 §2.3.8 SMTP smuggling on the MX listener (unauthenticated)', () => {
  for (const [name, marker] of FORMS) {
    it(`answers ${name} followed by a second transaction with one 550 5.6.0`, async () => {
      const t = await mx();
      await attempt(t, marker, true, 'inbox@hosted.test', 'injected@hosted.test', 'spoof@attacker.example');
    });
  }

  it('stores nothing from the attempts', async () => {
    const received: unknown[] = await server.cli('queue', 'list', '--state', 'received');
    assert.deepEqual(received, []);
  });
});
