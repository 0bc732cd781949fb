import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import nodemailer from 'nodemailer';
import { startSmtpSink } from './smtp-sink.ts';
import type { SmtpSink } from './smtp-sink.ts';

const sinks: SmtpSink[] = [];
after(() => Promise.all(sinks.map((s) => s.close())));

async function sink(options: Parameters<typeof startSmtpSink>[0] = {}): Promise<SmtpSink> {
  const started = await startSmtpSink(options);
  sinks.push(started);
  return started;
}

function transport(s: SmtpSink, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: s.host,
    port: s.port,
    secure: false,
    name: 'client.postline.test',
    tls: { rejectUnauthorized: false },
    connectionTimeout: 3000,
    greetingTimeout: 3000,
    socketTimeout: 3000,
    ...extra,
  });
}

function send(s: SmtpSink, to: string[], extra: Record<string, unknown> = {}) {
  return transport(s).sendMail({
    envelope: { from: 'sender@postline.test', to },
    raw: 'From: sender@postline.test\r\nTo: someone@x.test\r\nSubject: hi\r\n\r\nHello.\r\n',
    ...extra,
  });
}

/** Sends each line and collects each whole reply (multi-line replies joined by \n). */
async function converse(s: SmtpSink, lines: string[]): Promise<string[]> {
  const socket = net.connect(s.port, s.host);
  socket.setEncoding('utf8');
  let buffer = '';
  const replies: string[] = [];
  const nextReply = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = /(?:^|\n)(\d{3}) [^\n]*\r\n/.exec(buffer);
        if (!match) return;
        const end = match.index + match[0].length;
        const reply = buffer.slice(0, end).trimEnd().replace(/\r\n/g, '\n');
        buffer = buffer.slice(end);
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(reply);
      };
      const onData = (chunk: string): void => {
        buffer += chunk;
        check();
      };
      const onClose = (): void => reject(Object.assign(new Error('closed'), { code: 'CLOSED' }));
      socket.on('data', onData);
      socket.on('close', onClose);
      check();
    });
  try {
    replies.push(await nextReply());
    for (const line of lines) {
      socket.write(line + '\r\n');
      replies.push(await nextReply());
    }
  } finally {
    socket.destroy();
  }
  return replies;
}

describe('smtp-sink: recording and RFC 5321 replies', () => {
  it('accepts a message with 250 2.0.0 and records envelope, bytes and peer', async () => {
    const s = await sink();
    const info = await send(s, ['a@x.test', 'b@x.test']);
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
    const [message] = await s.waitFor(1, 2000);
    assert.equal(message.mailFrom, 'sender@postline.test');
    assert.deepEqual(message.rcptTo, ['a@x.test', 'b@x.test']);
    assert.match(message.raw.toString(), /Subject: hi\r\n\r\nHello\.\r\n$/);
    assert.equal(message.remoteAddress, '127.0.0.1');
    assert.equal(message.heloName, 'client.postline.test');
  });

  it('answers per-recipient rules with the exact lines 550 5.1.1 and 451 4.2.0', async () => {
    const s = await sink({
      rcptRules: { 'bad@x.test': '550 5.1.1 No such user', 'later@x.test': '451 4.2.0 Try later' },
    });
    const replies = await converse(s, [
      'EHLO client.test',
      'MAIL FROM:<s@postline.test>',
      'RCPT TO:<bad@x.test>',
      'RCPT TO:<later@x.test>',
      'RCPT TO:<good@x.test>',
      'QUIT',
    ]);
    assert.deepEqual(replies.slice(3, 6), ['550 5.1.1 No such user', '451 4.2.0 Try later', '250 2.1.5 Accepted']);
  });

  it('records only the accepted recipients when others are refused', async () => {
    const s = await sink({ rcptRules: { 'bad@x.test': '550 5.1.1 No such user' } });
    const info = await send(s, ['bad@x.test', 'good@x.test']);
    assert.deepEqual(info.rejected, ['bad@x.test']);
    const [message] = await s.waitFor(1, 2000);
    assert.deepEqual(message.rcptTo, ['good@x.test']);
  });

  it('changes a recipient rule at run time: 451 first, then 250', async () => {
    const s = await sink({ rcptRules: { 'later@x.test': '451 4.2.0 Try later' } });
    await assert.rejects(send(s, ['later@x.test']), (err: { responseCode?: number }) => err.responseCode === 451);
    s.setRcptRule('later@x.test', null);
    await send(s, ['later@x.test']);
    assert.equal((await s.waitFor(1, 2000)).length, 1);
  });

  it('lets hooks answer MAIL and DATA, e.g. 452 4.3.1 after the body', async () => {
    const s = await sink({ data: () => '452 4.3.1 Insufficient system storage' });
    await assert.rejects(send(s, ['a@x.test']), (err: { response?: string }) =>
      err.response === '452 4.3.1 Insufficient system storage');
    s.configure({ data: undefined, mailFrom: (from) => (from === 'sender@postline.test' ? '550 5.7.1 Go away' : undefined) });
    await assert.rejects(send(s, ['a@x.test']), (err: { response?: string }) => err.response === '550 5.7.1 Go away');
    assert.equal(s.messages.length, 0);
  });

  it('refuses at connect with the scripted greeting 421 4.3.2 and closes', async () => {
    const s = await sink({ greeting: '421 4.3.2 busy' });
    const replies = await converse(s, []);
    assert.deepEqual(replies, ['421 4.3.2 busy']);
    await assert.rejects(send(s, ['a@x.test']));
  });

  for (const phase of ['connect', 'mail', 'rcpt', 'data'] as const) {
    it(`drops the TCP connection without a reply at ${phase}`, async () => {
      const s = await sink({ dropAfter: phase });
      await assert.rejects(send(s, ['a@x.test']));
      assert.equal(s.messages.length, 0);
    });
  }

  it('records RFC 3461 DSN parameters when DSN is advertised', async () => {
    const s = await sink();
    await send(s, ['a@x.test'], { dsn: { id: 'env-1', return: 'headers', notify: ['failure', 'delay'], recipient: 'sender@postline.test' } });
    const [message] = await s.waitFor(1, 2000);
    assert.equal(message.dsn?.ret, 'HDRS');
    assert.equal(message.dsn?.envid, 'env-1');
    assert.deepEqual(message.dsn?.recipients[0].notify, ['FAILURE', 'DELAY']);
  });

  it('rejects waitFor with SINK_WAIT_TIMEOUT when nothing arrives', async () => {
    const s = await sink();
    await assert.rejects(s.waitFor(1, 50), { code: 'SINK_WAIT_TIMEOUT' });
  });
});

describe('smtp-sink: RFC 3207 STARTTLS', () => {
  it('advertises STARTTLS and records a TLS 1.3 session when enabled', async () => {
    const s = await sink({ starttls: true });
    const [, ehlo] = await converse(s, ['EHLO client.test']);
    assert.match(ehlo, /^250-STARTTLS$/m);
    await send(s, ['a@x.test']);
    const [message] = await s.waitFor(1, 2000);
    assert.equal(message.secure, true);
    assert.equal(message.tlsProtocol, 'TLSv1.3');
    assert.match(s.certificatePem, /BEGIN CERTIFICATE/);
  });

  it('does not advertise STARTTLS when disabled, and the message arrives in clear', async () => {
    const s = await sink({ starttls: false });
    const [, ehlo] = await converse(s, ['EHLO client.test']);
    assert.doesNotMatch(ehlo, /STARTTLS/);
    assert.match(ehlo, /PIPELINING/);
    assert.match(ehlo, /ENHANCEDSTATUSCODES/);
    await send(s, ['a@x.test']);
    const [message] = await s.waitFor(1, 2000);
    assert.equal(message.secure, false);
  });
});

describe('smtp-sink: connection accounting', () => {
  it('counts the maximum of simultaneous connections while DATA is answered slowly', async () => {
    const s = await sink({ delayMs: { data: 300 } });
    await Promise.all([send(s, ['a@x.test']), send(s, ['b@x.test']), send(s, ['c@x.test'])]);
    assert.equal(s.connections.max, 3);
    assert.equal(s.connections.total, 3);
    s.reset();
    assert.equal(s.messages.length, 0);
  });

  it('listens on another loopback address such as 127.0.0.2', async () => {
    const s = await sink({ host: '127.0.0.2' });
    await send(s, ['a@x.test']);
    const [message] = await s.waitFor(1, 2000);
    assert.equal(message.localAddress, '127.0.0.2');
  });
});
