// Four real SMTP clients submit with AUTH over STARTTLS (RFC 3207, the smtp listener) and
// over implicit TLS (RFC 8314, the smtps listener); the relay sink shows what Postline made
// of each message: the body byte for byte, Received with ESMTPSA, Message-ID and Date added
// only when missing, Bcc gone from the header but kept in the envelope (RFC 6409 §8).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../helpers/smtp-sink.ts';

const execFileP = promisify(execFile);
const HOST = 'mta.postline.test';
const FROM = 'sender@acme.test';
const TO = 'to@example.net';
const BCC = 'hidden@example.org';

type Listener = 'smtp' | 'smtps';
type Client = 'swaks' | 'curl' | 'python' | 'nodemailer';

interface Submission {
  readonly client: Client;
  readonly listener: Listener;
  /** The message carries its own Message-ID and Date. */
  readonly withIds: boolean;
}

let server: PostlineProcess;
let sink: SmtpSink;
let workDir: string;

before(async () => {
  sink = await startSmtpSink({ host: '127.0.0.2', port: 0 });
  server = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    env: { POSTLINE_RELAYHOST: `127.0.0.2:${sink.port}` },
  });
  workDir = await mkdtemp(join(tmpdir(), 'postline-clients-'));
});

after(async () => {
  await server?.cleanup();
  await sink?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function headerSection(sub: Submission): string {
  const ids = sub.withIds ? `Message-ID: <${sub.client}.${sub.listener}@client.example>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n` : '';
  return `From: Sender <${FROM}>\r\nTo: Someone <${TO}>\r\nBcc: ${BCC}\r\nSubject: real client ${sub.client} ${sub.listener}\r\n${ids}` +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n';
}

/** Dots at line starts (RFC 5321 §4.5.2), 8-bit text, a long line and blank lines. */
function body(sub: Submission): string {
  return `Hello from ${sub.client} over ${sub.listener}.\r\n.a line that starts with a dot\r\n..and two\r\n.\r\n\r\n` +
    `grüße, ✓ 8-bit text\r\n${'long '.repeat(180)}\r\n\r\nFrom: a body line, not a header\r\nlast line\r\n`;
}

const QUEUED = /250 2\.6\.0 Ok: queued as ([0-9A-Z]{26})/;

/** Submits with the named client; returns the 250 line it saw after DATA. */
async function submit(sub: Submission, message: string): Promise<string> {
  const ep = server[sub.listener];
  const { username, password } = server.credential!;
  const implicit = sub.listener === 'smtps';
  const file = join(workDir, `${sub.client}-${sub.listener}.eml`);
  switch (sub.client) {
    case 'swaks': {
      // swaks ends the data with its own CRLF, so the file leaves off the final one.
      await writeFile(file, message.slice(0, -2));
      const { stdout } = await execFileP('swaks', [
        '--server', `${ep.host}:${ep.port}`, implicit ? '--tlsc' : '--tls', '--helo', 'client.example',
        '--auth', 'PLAIN', '--auth-user', username, '--auth-password', password,
        '--from', FROM, '--to', `${TO},${BCC}`, '--data', file, '--timeout', '10',
      ]);
      return lineMatching(stdout);
    }
    case 'curl': {
      await writeFile(file, message);
      const url = `${implicit ? 'smtps' : 'smtp'}://${ep.host}:${ep.port}/client.example`;
      const { stderr } = await execFileP('curl', [
        '-sS', '-v', url, ...(implicit ? [] : ['--ssl-reqd']), '--insecure', '--max-time', '10',
        '--user', `${username}:${password}`, '--mail-from', FROM, '--mail-rcpt', TO, '--mail-rcpt', BCC, '--upload-file', file,
      ]);
      return lineMatching(stderr);
    }
    case 'python': {
      const { stdout } = await execFileP('python3', ['-c', PYTHON_CLIENT, JSON.stringify({
        implicit, host: ep.host, port: ep.port, user: username, password, from: FROM, to: [TO, BCC], message,
      })]);
      return lineMatching(stdout);
    }
    case 'nodemailer': {
      const transport = nodemailer.createTransport({
        host: ep.host, port: ep.port, secure: implicit, requireTLS: !implicit, name: 'client.example',
        auth: { user: username, pass: password }, tls: { rejectUnauthorized: false },
        connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 10_000,
      });
      try {
        const info = await transport.sendMail({ envelope: { from: FROM, to: [TO, BCC] }, raw: Buffer.from(message) });
        return info.response;
      } finally {
        transport.close();
      }
    }
  }
}

function lineMatching(output: string): string {
  const line = output.split(/\r?\n/).find((l) => QUEUED.test(l));
  assert.ok(line, `no "250 2.6.0 Ok: queued as" line in:\n${output}`);
  return line.slice(line.indexOf('250 '));
}

// smtplib.SMTP.starttls / SMTP_SSL with certificate checks off (our listener uses a
// self-signed certificate); data() dot-stuffs and sends bytes as given.
const PYTHON_CLIENT = `
import json, smtplib, ssl, sys
a = json.loads(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if a['implicit']:
    s = smtplib.SMTP_SSL(a['host'], a['port'], context=ctx, local_hostname='client.example', timeout=10)
else:
    s = smtplib.SMTP(a['host'], a['port'], local_hostname='client.example', timeout=10)
    s.starttls(context=ctx)
s.ehlo()
s.login(a['user'], a['password'])
s.mail(a['from'])
for r in a['to']:
    s.rcpt(r)
code, resp = s.data(a['message'].encode('utf-8'))
print('%d %s' % (code, resp.decode('utf-8')))
s.quit()
`;

function split(raw: Buffer): { head: string; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end >= 0, 'the relayed message has a header section');
  return { head: raw.subarray(0, end + 2).toString('utf8'), body: raw.subarray(end + 4) };
}

function fieldsOf(head: string): string[] {
  return head.split(/\r\n(?![ \t])/).filter(Boolean);
}

const SUBMISSIONS: Submission[] = (['swaks', 'curl', 'python', 'nodemailer'] as const).flatMap((client, i) => [
  { client, listener: 'smtp' as const, withIds: i % 2 === 0 },
  { client, listener: 'smtps' as const, withIds: i % 2 === 1 },
]);

describe('RFC 6409 submission from real clients, relayed to the sink', () => {
  for (const sub of SUBMISSIONS) {
    const how = sub.listener === 'smtp' ? 'STARTTLS (RFC 3207)' : 'implicit TLS (RFC 8314)';
    it(`${sub.client} over ${how}: 250 2.6.0 names the queue id; the relayed copy has the exact body, Received with ESMTPSA, ${sub.withIds ? 'its own Message-ID and Date' : 'a Message-ID and Date added'} and no Bcc`, async () => {
      const head = headerSection(sub);
      const text = body(sub);
      const reply = await submit(sub, `${head}\r\n${text}`);
      const m = QUEUED.exec(reply);
      assert.ok(m, reply);
      assert.equal(reply, `250 2.6.0 Ok: queued as ${m[1]}`);
      const queueId = m[1];

      const subject = `Subject: real client ${sub.client} ${sub.listener}\r\n`;
      const copies = (await sink.waitFor((msgs) => msgs.filter((x) => x.raw.includes(subject)).length >= 2, 15_000))
        .filter((x) => x.raw.includes(subject));
      assert.equal(copies.length, 2, 'one delivery per recipient domain');
      // The Bcc recipient is in the envelope although no header names it any more.
      assert.deepEqual(copies.flatMap((c: SinkMessage) => c.rcptTo).sort(), [BCC, TO]);
      for (const copy of copies) {
        assert.equal(copy.mailFrom, FROM);
        const relayed = split(copy.raw);
        assert.ok(relayed.body.equals(Buffer.from(text)), `body changed:\n${JSON.stringify(relayed.body.toString())}`);
        // Delivery puts its own fields on top (issue 4): the DKIM signature of the sending
        // domain, and Feedback-ID for Gmail's feedback loop (signed with the rest).
        const all = fieldsOf(relayed.head);
        assert.match(all[0], /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=acme\.test;/);
        assert.match(all[0], /Feedback-ID;/);
        assert.match(all[1], /^Feedback-ID: transactional:ten_[0-9A-Za-z]+:acme\.test:postline$/);
        const fields = all.slice(2);
        assert.ok(!fields.some((f) => /^bcc:/i.test(f)), 'Bcc: is removed');
        // RFC 5321 §4.4: our trace field comes first and names host, protocol and queue id.
        assert.match(fields[0], /^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n/);
        assert.ok(fields[0].includes(`\r\n\tby ${HOST} (Postline) with ESMTPSA id ${queueId}`), fields[0]);
        const messageIds = fields.filter((f) => /^message-id:/i.test(f));
        const dates = fields.filter((f) => /^date:/i.test(f));
        assert.equal(messageIds.length, 1);
        assert.equal(dates.length, 1);
        if (sub.withIds) {
          assert.equal(messageIds[0], `Message-ID: <${sub.client}.${sub.listener}@client.example>`);
          assert.equal(dates[0], 'Date: Thu, 01 Jan 2026 00:00:00 +0000');
        } else {
          assert.equal(messageIds[0], `Message-ID: <${queueId}@${HOST}>`);
          assert.match(dates[0], /^Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
        }
        // Everything else is the client's header, in its order, untouched.
        const original = fieldsOf(head).filter((f) => !/^bcc:/i.test(f));
        const added = sub.withIds ? [] : [messageIds[0], dates[0]];
        assert.deepEqual(fields.slice(1), [...original, ...added]);
      }
    });
  }
});
