// Acceptance policy on the wire: every refusal is asserted as the exact reply a client sees.
// One server for the file; tests that fail logins use their own client address so the AUTH
// throttle (per IP) of one test never touches another.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp, type SmtpTalk, type SmtpReply, type TalkOptions } from '../helpers/smtp-talk.ts';

const MAX_BYTES = 4096;
const RELAY_CLIENT = '127.0.0.9';

let server: PostlineProcess;
let configDir: string;
let user: string;
let pass: string;
const talks: SmtpTalk[] = [];

before(async () => {
  configDir = await mkdtemp(join(tmpdir(), 'postline-policy-'));
  const configFile = join(configDir, 'postline.yaml');
  // No POSTLINE_* variable covers the AUTH throttle, so it comes from a config file.
  await writeFile(configFile, [
    'smtp:',
    '  auth_slow_after_failures: 2',
    '  auth_block_after_failures: 3',
    '  auth_block_duration: 10m',
    '',
  ].join('\n'));
  server = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    env: {
      POSTLINE_CONFIG: configFile,
      POSTLINE_MAX_MESSAGE_BYTES: String(MAX_BYTES),
      POSTLINE_MX_DOMAINS: 'hosted.test',
      POSTLINE_RELAY_NETWORKS: `${RELAY_CLIENT}/32=acme`,
      // Nothing here is meant to leave: a relayhost nobody listens on keeps deliveries local.
      POSTLINE_RELAYHOST: '127.0.0.2:9',
    },
  });
  user = server.credential!.username;
  pass = server.credential!.password;
});

after(async () => {
  for (const t of talks) t.close();
  await server?.cleanup();
  await rm(configDir, { recursive: true, force: true });
});

type Listener = 'smtp' | 'smtps' | 'mx';

async function open(listener: Listener = 'smtp', extra: Partial<TalkOptions> = {}): Promise<SmtpTalk> {
  const ep = server[listener];
  const talk = await connectSmtp({ host: ep.host, port: ep.port, tls: listener === 'smtps', ...extra });
  talks.push(talk);
  return talk;
}

/** Submission session logged in over STARTTLS. */
async function loggedIn(extra: Partial<TalkOptions> = {}): Promise<SmtpTalk> {
  const t = await open('smtp', extra);
  await t.ehlo();
  await t.startTls();
  await t.ehlo();
  assert.equal((await t.authPlain(user, pass)).last, '235 2.7.0 Authentication successful');
  return t;
}

function message(from = 'sender@acme.test', extraHeaders = ''): string {
  return `From: ${from}\r\nTo: someone@example.net\r\nSubject: policy\r\n${extraHeaders}\r\nHello.\r\n`;
}

function assertQueued(reply: SmtpReply): string {
  const m = /^250 2\.6\.0 Ok: queued as ([0-9A-Z]{26})$/.exec(reply.last);
  assert.ok(m, `expected 250 2.6.0 Ok: queued as <ID>, got ${reply.last}`);
  return m[1];
}

describe('RFC 5321 §4.1.1.1 EHLO extensions', () => {
  it('advertises PIPELINING, 8BITMIME, SMTPUTF8, SIZE, ENHANCEDSTATUSCODES, STARTTLS and DSN on submission', async () => {
    const t = await open();
    assert.match(t.greeting.last, /^220 mta\.postline\.test ESMTP/);
    const ehlo = await t.ehlo();
    assert.equal(ehlo.code, 250);
    const keywords = ehlo.lines.slice(1).map((l) => l.slice(4));
    for (const k of ['PIPELINING', '8BITMIME', 'SMTPUTF8', `SIZE ${MAX_BYTES}`, 'ENHANCEDSTATUSCODES', 'STARTTLS', 'DSN']) {
      assert.ok(keywords.includes(k), `EHLO lacks ${k}: ${keywords.join(', ')}`);
    }
    // RFC 8689: REQUIRETLS is a promise about onward delivery that we do not make yet.
    assert.ok(!keywords.some((k) => k.startsWith('REQUIRETLS')));
  });

  it('does not offer AUTH before STARTTLS (RFC 4954 §4) and offers AUTH PLAIN LOGIN after it', async () => {
    const t = await open();
    const before = await t.ehlo();
    assert.ok(!before.lines.some((l) => /^250[ -]AUTH\b/.test(l)), before.lines.join('\n'));
    // As Postfix with smtpd_tls_auth_only: the command does not exist until TLS is up.
    assert.equal((await t.authPlain(user, pass)).last, '500 5.5.2 Error: command not recognized');
    await t.startTls();
    const after = await t.ehlo();
    assert.ok(after.lines.includes('250-AUTH PLAIN LOGIN') || after.lines.includes('250 AUTH PLAIN LOGIN'), after.lines.join('\n'));
    assert.ok(!after.lines.some((l) => l.endsWith('STARTTLS')), 'STARTTLS is not offered twice');
  });

  it('offers AUTH at once on the implicit TLS listener (RFC 8314) and no STARTTLS', async () => {
    const t = await open('smtps');
    const ehlo = await t.ehlo();
    assert.ok(ehlo.lines.some((l) => /^250[ -]AUTH PLAIN LOGIN$/.test(l)), ehlo.lines.join('\n'));
    assert.ok(!ehlo.lines.some((l) => l.endsWith('STARTTLS')));
  });

  it('does not offer AUTH on the MX listener and advertises its SIZE', async () => {
    const t = await open('mx');
    const ehlo = await t.ehlo();
    assert.ok(!ehlo.lines.some((l) => /^250[ -]AUTH/.test(l)), ehlo.lines.join('\n'));
    assert.ok(ehlo.lines.some((l) => l.slice(4) === `SIZE ${MAX_BYTES}`));
  });
});

describe('RFC 2034 enhanced status codes', () => {
  it('carries an enhanced code on every reply except the greeting, EHLO and 3xx', async () => {
    const t = await open();
    const seen: SmtpReply[] = [];
    const say = async (line: string) => {
      const r = await t.send(line);
      seen.push(r);
      return r;
    };
    await t.ehlo();
    await say('NOOP');
    await say('RSET');
    await say('VRFY someone');
    await say('HELP');
    await say('BOGUS');
    await say('MAIL FROM:<sender@acme.test>');
    await t.startTls();
    await t.ehlo();
    seen.push(await t.authPlain(user, pass));
    await say('MAIL FROM:<sender@acme.test>');
    await say('RCPT TO:<someone@example.net>');
    await say('RCPT TO:<not an address>');
    await say('RCPT TO:<user%other@example.net>');
    seen.push(await t.data(message()));
    await say('MAIL FROM:<stranger@elsewhere.test>');
    await say('QUIT');
    for (const r of seen) {
      assert.match(r.last, /^[245]\d\d [245]\.\d{1,3}\.\d{1,3} /, `reply without enhanced code: ${r.last}`);
      assert.equal(r.enhanced![0], String(r.code)[0], `class mismatch in ${r.last}`);
    }
  });
});

describe('RFC 4954 AUTH', () => {
  it('refuses MAIL FROM on submission without AUTH with 530 5.7.0', async () => {
    const t = await open();
    await t.ehlo();
    const r = await t.send('MAIL FROM:<sender@acme.test>');
    assert.equal(r.last, '530 5.7.0 Authentication required: log in with AUTH (after STARTTLS) to send mail');
  });

  it('refuses a wrong password with 535 5.7.8', async () => {
    const t = await open('smtp', { localAddress: '127.0.0.3' });
    await t.ehlo();
    await t.startTls();
    await t.ehlo();
    const r = await t.authPlain(user, `${pass}-wrong`);
    assert.equal(r.last, '535 5.7.8 Authentication credentials invalid');
    const unknown = await t.authPlain('nobody', 'secret');
    assert.equal(unknown.last, '535 5.7.8 Authentication credentials invalid');
  });

  it('accepts the tenant credential with 235 2.7.0 on both submission listeners', async () => {
    await loggedIn();
    const t = await open('smtps');
    await t.ehlo();
    assert.equal((await t.authPlain(user, pass)).last, '235 2.7.0 Authentication successful');
  });

  it('slows failed logins, then refuses the IP with 421 4.7.0 while another client IP still logs in', async () => {
    const attacker = { localAddress: '127.0.0.4' };
    const t = await open('smtp', attacker);
    await t.ehlo();
    await t.startTls();
    await t.ehlo();
    const first = await t.authPlain(user, 'bad-1');
    assert.equal(first.last, '535 5.7.8 Authentication credentials invalid');
    const start = Date.now();
    assert.equal((await t.authPlain(user, 'bad-2')).code, 535);
    assert.ok(Date.now() - start >= 400, 'the reply to failure 2 (auth_slow_after_failures) is held back');
    assert.equal((await t.authPlain(user, 'bad-3')).code, 535);
    // Failure 3 reached auth_block_after_failures: even the right password is refused now.
    const blocked = await t.authPlain(user, pass);
    assert.equal(blocked.last, '421 4.7.0 Too many failed logins from your address, try again later');
    await t.closed;
    for (const listener of ['smtp', 'smtps'] as const) {
      const again = await open(listener, attacker);
      assert.equal(again.greeting.last, '421 4.7.0 Too many failed logins from your address, try again later');
      await again.closed;
    }
    // Another client address is unaffected.
    const good = await loggedIn({ localAddress: '127.0.0.5' });
    assert.equal((await good.send('MAIL FROM:<sender@acme.test>')).last, '250 2.1.0 Accepted');
  });
});

describe('RFC 5321 §3.3 MAIL and RCPT: sender and relay policy', () => {
  it('refuses relay on the MX listener for a domain it does not host with 554 5.7.1', async () => {
    const t = await open('mx');
    await t.ehlo('relay-tester.example');
    assert.equal((await t.send('MAIL FROM:<probe@example.org>')).last, '250 2.1.0 Accepted');
    assert.equal((await t.send('RCPT TO:<victim@example.net>')).last, '554 5.7.1 Relay access denied');
    assert.equal((await t.send('RCPT TO:<victim@acme.test>')).last, '554 5.7.1 Relay access denied');
  });

  it('refuses relay tricks in the recipient with 501 5.1.3 on the MX listener', async () => {
    const t = await open('mx');
    await t.ehlo('relay-tester.example');
    await t.send('MAIL FROM:<probe@example.org>');
    for (const rcpt of ['victim%example.net@hosted.test', 'example.net!victim@hosted.test', 'victim@[127.0.0.1]']) {
      assert.match((await t.send(`RCPT TO:<${rcpt}>`)).last, /^501 5\.1\.3 /, rcpt);
    }
    // RFC 5321 §4.1.2: the source route is ignored, so this is a plain relay attempt.
    assert.equal((await t.send('RCPT TO:<@hosted.test:victim@example.net>')).last, '554 5.7.1 Relay access denied');
  });

  it('accepts mail for a hosted domain on the MX listener and stores it with state received', async () => {
    const t = await open('mx');
    await t.ehlo('remote.example');
    assert.equal((await t.send('MAIL FROM:<bounce@remote.example>')).last, '250 2.1.0 Accepted');
    assert.equal((await t.send('RCPT TO:<inbox@hosted.test>')).last, '250 2.1.5 Accepted');
    const id = assertQueued(await t.data('From: someone@remote.example\r\nTo: inbox@hosted.test\r\nSubject: in\r\n\r\nHi.\r\n'));
    const rows: Array<{ message_id: string; recipient: string; state: string }> = await server.cli('queue', 'list', '--state', 'received');
    const row = rows.find((r) => r.message_id === id);
    assert.ok(row, `message ${id} not in the received list: ${JSON.stringify(rows)}`);
    assert.equal(row.recipient, 'inbox@hosted.test');
    assert.equal(row.state, 'received');
  });

  it('refuses an envelope sender outside the tenant\'s domains with 550 5.7.1', async () => {
    const t = await loggedIn();
    assert.equal((await t.send('MAIL FROM:<ceo@bank.example>')).last, '550 5.7.1 Sender <ceo@bank.example> is not in a domain of tenant acme: add the domain first');
    assert.equal((await t.send('MAIL FROM:<news@mail.acme.test>')).last, '250 2.1.0 Accepted', 'a subdomain of a tenant domain is the tenant\'s');
  });

  it('refuses a From: header outside the tenant\'s domains with 550 5.7.1 after DATA', async () => {
    const t = await loggedIn();
    await t.send('MAIL FROM:<sender@acme.test>');
    await t.send('RCPT TO:<someone@example.net>');
    const r = await t.data(message('CEO <ceo@bank.example>'));
    assert.equal(r.last, '550 5.7.1 From: CEO <ceo@bank.example> is not in a domain of tenant acme');
    // The session goes on: the next transaction is accepted.
    await t.send('MAIL FROM:<sender@acme.test>');
    await t.send('RCPT TO:<someone@example.net>');
    assertQueued(await t.data(message()));
  });

  it('takes REQUIRETLS on MAIL FROM over TLS with 250 (RFC 8689 §4.1; plaintext refusals: test/ingress/require-tls.test.ts)', async () => {
    const t = await loggedIn();
    const r = await t.send('MAIL FROM:<sender@acme.test> REQUIRETLS');
    assert.equal(r.last, '250 2.1.0 Accepted');
  });

  it('lets a relay-network client submit without AUTH, before and after STARTTLS', async () => {
    const t = await open('smtp', { localAddress: RELAY_CLIENT });
    await t.ehlo();
    assert.equal((await t.send('MAIL FROM:<app@acme.test>')).last, '250 2.1.0 Accepted');
    assert.equal((await t.send('RCPT TO:<customer@example.net>')).last, '250 2.1.5 Accepted');
    assertQueued(await t.data(message('app@acme.test')));
    await t.startTls();
    await t.ehlo();
    assert.equal((await t.send('MAIL FROM:<app@acme.test>')).last, '250 2.1.0 Accepted');
  });

  it('still refuses foreign sender domains from a relay network with 550 5.7.1', async () => {
    const t = await open('smtp', { localAddress: RELAY_CLIENT });
    await t.ehlo();
    assert.equal((await t.send('MAIL FROM:<ceo@bank.example>')).last, '550 5.7.1 Sender <ceo@bank.example> is not in a domain of tenant acme: add the domain first');
    await t.send('MAIL FROM:<app@acme.test>');
    await t.send('RCPT TO:<customer@example.net>');
    assert.equal((await t.data(message('ceo@bank.example'))).last, '550 5.7.1 From: ceo@bank.example is not in a domain of tenant acme');
  });
});

describe('RFC 1870 SIZE', () => {
  it('refuses SIZE= above the limit at MAIL FROM with 552 5.3.4', async () => {
    const t = await loggedIn();
    const r = await t.send(`MAIL FROM:<sender@acme.test> SIZE=${MAX_BYTES + 1}`);
    assert.equal(r.last, `552 5.3.4 Error: message exceeds fixed maximum message size ${MAX_BYTES}`);
    assert.equal((await t.send(`MAIL FROM:<sender@acme.test> SIZE=${MAX_BYTES}`)).last, '250 2.1.0 Accepted');
  });

  it('refuses a message over the limit after DATA with 552 5.3.4 and keeps the session', async () => {
    const t = await loggedIn();
    await t.send('MAIL FROM:<sender@acme.test>');
    await t.send('RCPT TO:<someone@example.net>');
    const big = message('sender@acme.test') + `${'x'.repeat(70)}\r\n`.repeat(Math.ceil(MAX_BYTES / 72) + 1);
    assert.equal((await t.data(big)).last, `552 5.3.4 Message exceeds the maximum size of ${MAX_BYTES} bytes`);
    assert.equal((await t.send('NOOP')).last, '250 2.0.0 OK');
  });
});

describe('RFC 5321 §4.5.3.1.8 recipients per message', () => {
  it('accepts 1000 recipients and answers 452 4.5.3 for the 1001st', async () => {
    const t = await loggedIn();
    await t.send('MAIL FROM:<sender@acme.test>');
    // RFC 2920: the whole batch in one write, the replies read in order.
    t.write(Array.from({ length: 1001 }, (_, i) => `RCPT TO:<r${i}@example.net>\r\n`).join(''));
    const replies: SmtpReply[] = [];
    for (let i = 0; i < 1001; i++) replies.push(await t.read());
    assert.ok(replies.slice(0, 1000).every((r) => r.last === '250 2.1.5 Accepted'), 'the first 1000 are accepted');
    assert.equal(replies[1000].last, '452 4.5.3 Error: too many recipients');
    assert.equal((await t.send('RSET')).code, 250);
  });
});
