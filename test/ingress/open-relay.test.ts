// The classic open-relay battery (the address shapes of the old relay-test services, RFC 2505
// §2 and RFC 5321 §3.6 / Appendix C) against the MX listener and both submission listeners:
// every attempt is refused with its exact reply, nothing for an outside domain is queued,
// and the relayhost (a sink) receives nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { connectSmtp, type SmtpTalk, type TalkOptions } from '../helpers/smtp-talk.ts';

const RELAY_DENIED = '554 5.7.1 Relay access denied';
const BAD_SYNTAX = '501 5.1.3 Error: Bad recipient address syntax';
const BAD_SENDER_SYNTAX = '501 5.1.7 Error: Bad sender address syntax';
const AUTH_REQUIRED = '530 5.7.0 Authentication required: log in with AUTH (after STARTTLS) to send mail';
const notMailbox = (rcpt: string) => `501 5.1.3 Recipient address <${rcpt}> is not a valid mailbox`;
const notSender = (from: string) => `501 5.1.7 Sender address <${from}> is not a valid mailbox`;
const foreignSender = (from: string) => `550 5.7.1 Sender <${from}> is not in a domain of tenant acme: add the domain first`;

/** RCPT TO shapes a relay tester tries against a server hosting `hosted.test`, with the reply each must get. */
const MX_ATTEMPTS: ReadonlyArray<readonly [rcpt: string, reply: string]> = [
  ['victim@other.example', RELAY_DENIED],
  ['victim@acme.test', RELAY_DENIED],
  ['"victim"@other.example', RELAY_DENIED],
  // Percent hack (RFC 1123 §5.2.16), also against a hosted domain and our own hostname.
  ['victim%other.example@hosted.test', notMailbox('victim%other.example@hosted.test')],
  ['victim%hosted.test@hosted.test', notMailbox('victim%hosted.test@hosted.test')],
  ['victim%other.example@HOSTED.TEST', notMailbox('victim%other.example@HOSTED.TEST')],
  ['victim%other.example@mta.postline.test', notMailbox('victim%other.example@mta.postline.test')],
  ['victim%other.example@[127.0.0.1]', notMailbox('victim%other.example@[127.0.0.1]')],
  // Source routes (RFC 5321 §4.1.2 / Appendix C): the route is ignored, the mailbox decides.
  ['@hosted.test:victim@other.example', RELAY_DENIED],
  ['@hosted.test,@mta.postline.test:victim@other.example', RELAY_DENIED],
  ['@[127.0.0.1]:victim@other.example', RELAY_DENIED],
  // Quoted local parts hiding another address or route.
  ['"victim@other.example"@hosted.test', BAD_SYNTAX],
  ['"victim%other.example"@hosted.test', notMailbox('"victim%other.example"@hosted.test')],
  ['"other.example!victim"@hosted.test', notMailbox('"other.example!victim"@hosted.test')],
  // IP literals (RFC 5321 §4.1.3) and bare IPs.
  ['victim@[1.2.3.4]', notMailbox('victim@[1.2.3.4]')],
  ['victim@[127.0.0.1]', notMailbox('victim@[127.0.0.1]')],
  ['victim@[IPv6:::1]', notMailbox('victim@[IPv6:::1]')],
  ['victim@127.0.0.1', notMailbox('victim@127.0.0.1')],
  ['victim@0x7f.1', notMailbox('victim@0x7f.1')],
  // UUCP bang paths.
  ['other.example!victim@hosted.test', notMailbox('other.example!victim@hosted.test')],
  ['other.example!victim@HOSTED.TEST', notMailbox('other.example!victim@HOSTED.TEST')],
  // Extra `@`, trailing dots, ports, and look-alike domains.
  ['victim@other.example@hosted.test', BAD_SYNTAX],
  ['victim@hosted.test@other.example', BAD_SYNTAX],
  ['victim@@hosted.test', BAD_SYNTAX],
  ['victim@hosted.test.', BAD_SYNTAX],
  ['victim@HOSTED.TEST.', BAD_SYNTAX],
  ['victim@hosted.test..', BAD_SYNTAX],
  ['victim@hosted.test:25', BAD_SYNTAX],
  ['victim@hosted.test.other.example', RELAY_DENIED],
  ['victim@other.example.hosted.test', RELAY_DENIED],
  ['victim@otherhosted.test', RELAY_DENIED],
  ['postmaster', notMailbox('postmaster')],
];

const SINK_HOST = '127.0.0.2';
let server: PostlineProcess;
let sink: SmtpSink;
const talks: SmtpTalk[] = [];

before(async () => {
  sink = await startSmtpSink({ host: SINK_HOST, port: 0 });
  server = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    // Anything that did slip through would be delivered to the sink, and the test would see it.
    env: { POSTLINE_MX_DOMAINS: 'hosted.test', POSTLINE_RELAYHOST: `${SINK_HOST}:${sink.port}`, POSTLINE_QUEUE_POLL_INTERVAL: '200ms' },
  });
});

after(async () => {
  for (const t of talks) t.close();
  await server?.cleanup();
  await sink?.close();
});

async function open(listener: 'smtp' | 'smtps' | 'mx', extra: Partial<TalkOptions> = {}): Promise<SmtpTalk> {
  const ep = server[listener];
  const t = await connectSmtp({ host: ep.host, port: ep.port, tls: listener === 'smtps', ...extra });
  talks.push(t);
  return t;
}

async function loggedIn(listener: 'smtp' | 'smtps'): Promise<SmtpTalk> {
  const t = await open(listener);
  await t.ehlo();
  if (listener === 'smtp') {
    await t.startTls();
    await t.ehlo();
  }
  assert.equal((await t.authPlain(server.credential!.username, server.credential!.password)).last, '235 2.7.0 Authentication successful');
  return t;
}

/**
 * The attempts in groups small enough that no session reaches the errors-per-session limit
 * (smtp.max_errors_per_session, 421 4.7.0 Too many errors), which would hide later replies.
 */
function groups<T>(items: readonly T[], size = 8): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

describe('open relay on the MX listener (unauthenticated)', () => {
  for (const sender of ['<>', '<postmaster@hosted.test>', '<postmaster@mta.postline.test>', '<probe@other.example>']) {
    it(`refuses every classic relay recipient with its exact reply (MAIL FROM:${sender})`, async () => {
      for (const group of groups(MX_ATTEMPTS)) {
        const t = await open('mx');
        await t.ehlo('relay-tester.example');
        assert.equal((await t.send(`MAIL FROM:${sender}`)).last, '250 2.1.0 Accepted');
        for (const [rcpt, reply] of group) assert.equal((await t.send(`RCPT TO:<${rcpt}>`)).last, reply, `RCPT TO:<${rcpt}>`);
        assert.equal((await t.send('DATA')).last, '503 5.5.1 Error: need RCPT command');
        t.close();
      }
    });
  }

  it('refuses the bare postmaster sender with 501 5.1.7', async () => {
    const t = await open('mx');
    await t.ehlo('relay-tester.example');
    assert.equal((await t.send('MAIL FROM:<postmaster>')).last, BAD_SENDER_SYNTAX);
  });

  it('keeps a source-routed or upper-case hosted recipient local (250 2.1.5, stored as received, never forwarded)', async () => {
    const t = await open('mx');
    await t.ehlo('relay-tester.example');
    assert.equal((await t.send('MAIL FROM:<>')).last, '250 2.1.0 Accepted');
    assert.equal((await t.send('RCPT TO:<@other.example:routed@hosted.test>')).last, '250 2.1.5 Accepted');
    assert.equal((await t.send('RCPT TO:<upper@HOSTED.TEST>')).last, '250 2.1.5 Accepted');
    assert.match((await t.data('From: a@remote.example\r\nTo: routed@hosted.test\r\nSubject: local\r\n\r\nHi.\r\n')).last, /^250 2\.6\.0 Ok: queued as /);
    const received: Array<{ recipient: string; state: string }> = await server.cli('queue', 'list', '--state', 'received');
    assert.deepEqual(received.map((r) => `${r.recipient.toLowerCase()} ${r.state}`).sort(), ['routed@hosted.test received', 'upper@hosted.test received']);
  });

  it('answers pipelined bursts of relay attempts with one refusal each and accepts nothing', async () => {
    for (const group of groups(MX_ATTEMPTS)) {
      const t = await open('mx');
      await t.ehlo('relay-tester.example');
      t.write(['MAIL FROM:<probe@other.example>', ...group.map(([r]) => `RCPT TO:<${r}>`), 'DATA', ''].join('\r\n'));
      assert.equal((await t.read()).last, '250 2.1.0 Accepted');
      for (const [rcpt, reply] of group) assert.equal((await t.read()).last, reply, `RCPT TO:<${rcpt}>`);
      assert.equal((await t.read()).last, '503 5.5.1 Error: need RCPT command');
      t.close();
    }
  });
});

describe('open relay on the submission listeners', () => {
  for (const listener of ['smtp', 'smtps'] as const) {
    it(`refuses MAIL without AUTH on ${listener} with 530 5.7.0, for tenant, null and postmaster senders`, async () => {
      const t = await open(listener);
      await t.ehlo('relay-tester.example');
      if (listener === 'smtp') {
        // RFC 4954 §4: no AUTH in the clear, so not even the command exists before STARTTLS.
        assert.equal((await t.authPlain(server.credential!.username, server.credential!.password)).last, '500 5.5.2 Error: command not recognized');
        assert.equal((await t.send('MAIL FROM:<sender@acme.test>')).last, AUTH_REQUIRED);
        await t.startTls();
        await t.ehlo('relay-tester.example');
      }
      for (const from of ['<sender@acme.test>', '<>', '<postmaster@acme.test>', '<victim%other.example@acme.test>']) {
        assert.equal((await t.send(`MAIL FROM:${from}`)).last, AUTH_REQUIRED, from);
      }
      assert.equal((await t.send('RCPT TO:<victim@other.example>')).last, '503 5.5.1 Error: need MAIL command');
      // smtp-server checks for recipients first; either way no transaction exists.
      assert.equal((await t.send('DATA')).last, '503 5.5.1 Error: need RCPT command');
    });
  }

  it('refuses MAIL after a failed AUTH with 530 5.7.0', async () => {
    const t = await open('smtps', { localAddress: '127.0.0.77' });
    await t.ehlo('relay-tester.example');
    assert.equal((await t.authPlain(server.credential!.username, 'wrong-password')).last, '535 5.7.8 Authentication credentials invalid');
    assert.equal((await t.send('MAIL FROM:<sender@acme.test>')).last, AUTH_REQUIRED);
  });

  it('refuses foreign, null, postmaster and disguised envelope senders after AUTH (550 5.7.1 / 501 5.1.7)', async () => {
    const t = await loggedIn('smtps');
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['ceo@bank.example', foreignSender('ceo@bank.example')],
      ['postmaster@other.example', foreignSender('postmaster@other.example')],
      ['a@acme.test.other.example', foreignSender('a@acme.test.other.example')],
      ['a@otheracme.test', foreignSender('a@otheracme.test')],
      ['a@[127.0.0.1]', notSender('a@[127.0.0.1]')],
      ['a%acme.test@other.example', notSender('a%acme.test@other.example')],
      ['acme.test!a@other.example', notSender('acme.test!a@other.example')],
      ['"a@acme.test"@other.example', BAD_SENDER_SYNTAX],
      ['a@ACME.TEST.', BAD_SENDER_SYNTAX],
      ['postmaster', BAD_SENDER_SYNTAX],
    ];
    assert.equal((await t.send('MAIL FROM:<>')).last, '550 5.7.1 The null sender <> is not allowed for submission: use an address in one of your domains');
    for (const [from, reply] of cases) assert.equal((await t.send(`MAIL FROM:<${from}>`)).last, reply, from);
    // A source route is ignored (RFC 5321 §4.1.2): the mailbox after it is what is judged.
    assert.equal((await t.send('MAIL FROM:<@acme.test:a@other.example>')).last, foreignSender('a@other.example'));
  });

  for (const listener of ['smtp', 'smtps'] as const) {
    it(`refuses a foreign From: header after AUTH on ${listener} with 550 5.7.1 and queues nothing`, async () => {
      const t = await loggedIn(listener);
      for (const from of ['CEO <ceo@bank.example>', '"sender@acme.test" <ceo@bank.example>', 'sender@acme.test, ceo@bank.example', 'ceo@bank.example (sender@acme.test)']) {
        assert.equal((await t.send('MAIL FROM:<sender@acme.test>')).last, '250 2.1.0 Accepted');
        assert.equal((await t.send('RCPT TO:<victim@other.example>')).last, '250 2.1.5 Accepted');
        const reply = await t.data(`From: ${from}\r\nTo: victim@other.example\r\nSubject: spoof\r\n\r\nHi.\r\n`);
        assert.equal(reply.last, `550 5.7.1 From: ${from} is not in a domain of tenant acme`, from);
      }
    });
  }
});

describe('after the battery', () => {
  it('has queued nothing for an outside domain and the relayhost received nothing', async () => {
    await sleep(500);
    // Default states: queued, in flight and deferred; then the final ones a relayed message reaches.
    assert.deepEqual(await server.cli('queue', 'list'), []);
    for (const state of ['delivered', 'bounced']) assert.deepEqual(await server.cli('queue', 'list', '--state', state), [], state);
    const received: Array<{ recipient: string }> = await server.cli('queue', 'list', '--state', 'received');
    assert.ok(received.length > 0 && received.every((r) => r.recipient.toLowerCase().endsWith('@hosted.test')), JSON.stringify(received));
    assert.equal(sink.messages.length, 0);
  });
});
