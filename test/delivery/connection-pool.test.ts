import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionPool } from '../../src/delivery/connection-pool.ts';
import type { DeliveryTarget, OutboundMessage, OutboundRecipient, PoolOptions } from '../../src/delivery/connection-pool.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import type { SinkOptions, SmtpSink } from '../helpers/smtp-sink.ts';

const EHLO = 'mta1.postline.test';

function makePool(overrides: Partial<PoolOptions> = {}): ConnectionPool {
  return new ConnectionPool({
    ehloName: EHLO,
    port: 25,
    connectTimeoutMs: 2000,
    greetingTimeoutMs: 2000,
    commandTimeoutMs: 2000,
    dataTimeoutMs: 2000,
    maxConnectionsPerDestination: 5,
    maxConnections: 20,
    maxMessagesPerConnection: 100,
    idleTimeoutMs: 5000,
    ...overrides,
  });
}

function message(recipients: Array<string | OutboundRecipient>, extra: Partial<OutboundMessage> = {}): OutboundMessage {
  const body = Buffer.from('From: a@sender.test\r\nTo: b@dest.test\r\nSubject: hi\r\n\r\nHello.\r\n.leading dot\r\n');
  return {
    mailFrom: 'a@sender.test',
    recipients: recipients.map((r, i) => (typeof r === 'string' ? { id: i + 1, address: r } : r)),
    size: body.length,
    body: () => body,
    ...extra,
  };
}

function target(...sinks: Array<SmtpSink | { host: string; port: number }>): DeliveryTarget {
  return { destination: 'dest.test', hosts: sinks.map((s, i) => ({ host: `mx${i + 1}.dest.test`, address: s.host, port: s.port })) };
}

async function waitUntil(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const cleanups: Array<() => Promise<void>> = [];
async function sink(options: SinkOptions = {}): Promise<SmtpSink> {
  const s = await startSmtpSink({ host: '127.0.0.3', ...options });
  cleanups.push(() => s.close());
  return s;
}
function track(pool: ConnectionPool): ConnectionPool {
  cleanups.push(() => pool.close());
  return pool;
}
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('RFC 3207 STARTTLS (opportunistic, RFC 7435)', () => {
  it('upgrades when the sink offers STARTTLS and records the TLS version and cipher', async () => {
    const s = await sink();
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target(s), message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.match(outcomes[0].response, /^250 2\.0\.0 Ok: queued as /);
    assert.equal(outcomes[0].smtpCode, 250);
    assert.equal(outcomes[0].enhanced, '2.0.0');
    assert.equal(attempt.tlsVersion, 'TLSv1.3');
    assert.ok(attempt.tlsCipher);
    assert.equal(attempt.mxHost, 'mx1.dest.test');
    assert.equal(s.messages[0].secure, true);
    assert.equal(s.messages[0].heloName, EHLO);
  });

  it('delivers in plaintext when STARTTLS is not offered, with a null TLS version', async () => {
    const s = await sink({ starttls: false });
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target(s), message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.equal(attempt.tlsVersion, null);
    assert.equal(attempt.tlsCipher, null);
    assert.equal(s.messages[0].secure, false);
  });
});

describe('RFC 3207 STARTTLS failure', () => {
  it('tries the next host when the TLS handshake fails after 220 to STARTTLS', async () => {
    // A peer that offers STARTTLS and then answers the handshake with plaintext.
    const sockets = new Set<Socket>();
    const broken = createServer((socket) => {
      sockets.add(socket);
      socket.write('220 broken.test ESMTP\r\n');
      socket.on('data', (chunk) => {
        const line = chunk.toString();
        if (/^EHLO/i.test(line)) socket.write('250-broken.test\r\n250 STARTTLS\r\n');
        else if (/^STARTTLS/i.test(line)) socket.write('220 2.0.0 go ahead\r\n');
        else socket.write('this is not TLS\r\n\r\n');
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.2', resolve));
    cleanups.push(() => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      broken.close(() => resolve());
    }));
    const good = await sink({ host: '127.0.0.3' });
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target({ host: '127.0.0.2', port: (broken.address() as AddressInfo).port }, good), message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.equal(attempt.address, '127.0.0.3');
    assert.match(attempt.errors[0].message, /^STARTTLS with mx1\.dest\.test \[127\.0\.0\.2\] failed/);
  });
});

describe('RFC 5321 §3.3 per-recipient replies in one transaction', () => {
  it('delivers on 250, defers on 451 and bounces on 550, keeping each reply', async () => {
    const s = await sink({ rcptRules: { 'later@dest.test': '451 4.2.0 Try later', 'nobody@dest.test': '550 5.1.1 No such user' } });
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['ok@dest.test', 'later@dest.test', 'nobody@dest.test']));
    assert.equal(s.connections.total, 1);
    assert.deepEqual(s.messages[0].rcptTo, ['ok@dest.test']);
    assert.equal(outcomes[0].status, 'delivered');
    assert.deepEqual(outcomes.slice(1), [
      { id: 2, status: 'deferred', smtpCode: 451, enhanced: '4.2.0', response: '451 4.2.0 Try later' },
      { id: 3, status: 'bounced', smtpCode: 550, enhanced: '5.1.1', response: '550 5.1.1 No such user' },
    ]);
  });

  it('bounces every recipient on MAIL FROM 550 and defers every one on 451', async () => {
    const s = await sink({ mailFrom: () => '550 5.7.1 Sender blocked' });
    const pool = track(makePool());
    const bounced = await pool.deliver(target(s), message(['a@dest.test', 'b@dest.test']));
    assert.deepEqual(bounced.outcomes.map((o) => [o.status, o.smtpCode, o.enhanced, o.response]), [
      ['bounced', 550, '5.7.1', '550 5.7.1 Sender blocked'],
      ['bounced', 550, '5.7.1', '550 5.7.1 Sender blocked'],
    ]);
    s.configure({ mailFrom: () => '451 4.3.0 Try again' });
    const deferred = await pool.deliver(target(s), message(['a@dest.test']));
    assert.deepEqual(deferred.outcomes.map((o) => [o.status, o.response]), [['deferred', '451 4.3.0 Try again']]);
    // The refused transactions left the session usable: one connection served both.
    assert.equal(s.connections.total, 1);
  });

  it('applies DATA 554 to every accepted recipient, while a refused RCPT keeps its own 550', async () => {
    const s = await sink({ rcptRules: { 'nobody@dest.test': '550 5.1.1 No such user' }, data: () => '554 5.6.0 Content rejected' });
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['a@dest.test', 'nobody@dest.test', 'c@dest.test']));
    assert.deepEqual(outcomes.map((o) => [o.status, o.response]), [
      ['bounced', '554 5.6.0 Content rejected'],
      ['bounced', '550 5.1.1 No such user'],
      ['bounced', '554 5.6.0 Content rejected'],
    ]);
    s.configure({ data: () => '451 4.3.0 Queue full' });
    const again = await pool.deliver(target(s), message(['a@dest.test']));
    assert.deepEqual(again.outcomes.map((o) => [o.status, o.smtpCode, o.response]), [['deferred', 451, '451 4.3.0 Queue full']]);
  });

  it('gives the same per-recipient answers without PIPELINING (RFC 2920 not offered)', async () => {
    const s = await sink({ hidePipelining: true, rcptRules: { 'later@dest.test': '452 4.2.2 Mailbox full', 'nobody@dest.test': '550 5.1.1 No such user' } });
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['later@dest.test', 'ok@dest.test', 'nobody@dest.test']));
    assert.deepEqual(outcomes.map((o) => [o.status, o.smtpCode, o.enhanced]), [['deferred', 452, '4.2.2'], ['delivered', 250, '2.0.0'], ['bounced', 550, '5.1.1']]);
  });

  it('does not open the message body when MAIL FROM is refused', async () => {
    const s = await sink({ mailFrom: () => '550 5.7.1 Sender blocked' });
    const pool = track(makePool());
    let opened = 0;
    const msg = message(['a@dest.test']);
    const { outcomes } = await pool.deliver(target(s), { ...msg, body: () => (opened++, msg.body()) });
    assert.equal(outcomes[0].status, 'bounced');
    assert.equal(opened, 0);
  });

  it('defers every recipient and drops the connection when reading the body fails', async () => {
    const s = await sink();
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['a@dest.test'], { body: () => createReadStream('/nonexistent/postline/body.eml') }));
    assert.equal(outcomes[0].status, 'deferred');
    assert.match(outcomes[0].response, /reading the message failed: .*ENOENT/);
    assert.equal(s.messages.length, 0);
    assert.equal(pool.stats().idle, 0);
  });

  it('defers accepted recipients when the connection drops after the DATA body', async () => {
    const s = await sink({ dropAfter: 'data' });
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['a@dest.test', 'b@dest.test']));
    assert.deepEqual(outcomes.map((o) => [o.status, o.smtpCode]), [['deferred', null], ['deferred', null]]);
    await waitUntil(() => pool.stats().open === 0);
  });
});

describe('RFC 5321 §5.1 MX fallback', () => {
  it('tries the next host when the first refuses the connection', async () => {
    const s = await sink({ host: '127.0.0.3' });
    const pool = track(makePool());
    const closed = { host: '127.0.0.2', port: s.port };
    const { outcomes, attempt } = await pool.deliver(target(closed, s), message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.equal(attempt.address, '127.0.0.3');
    assert.equal(attempt.mxHost, 'mx2.dest.test');
    assert.deepEqual(attempt.errors, [{ host: 'mx1.dest.test', address: '127.0.0.2', message: `connect ECONNREFUSED 127.0.0.2:${s.port}` }]);
  });

  it('defers every recipient with the last error text when every host fails', async () => {
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target({ host: '127.0.0.2', port: 1 }, { host: '127.0.0.4', port: 1 }), message(['a@dest.test', 'b@dest.test']));
    assert.deepEqual(outcomes, [
      { id: 1, status: 'deferred', smtpCode: null, enhanced: null, response: 'connect ECONNREFUSED 127.0.0.4:1' },
      { id: 2, status: 'deferred', smtpCode: null, enhanced: null, response: 'connect ECONNREFUSED 127.0.0.4:1' },
    ]);
    assert.equal(attempt.errors.length, 2);
    assert.equal(pool.stats().open, 0);
  });

  it('tries the next host after a 421 greeting', async () => {
    const busy = await sink({ host: '127.0.0.2', greeting: '421 4.3.2 Too busy' });
    const good = await sink({ host: '127.0.0.3' });
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target(busy, good), message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.equal(attempt.address, '127.0.0.3');
    assert.match(attempt.errors[0].message, /421 4\.3\.2 Too busy/);
    assert.equal(good.messages.length, 1);
  });

  it('tries the next host after 421 to MAIL FROM', async () => {
    const closing = await sink({ host: '127.0.0.2', mailFrom: () => '421 4.3.2 Shutting down' });
    const good = await sink({ host: '127.0.0.3' });
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target(closing, good), message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.match(attempt.errors[0].message, /^421 4\.3\.2 Shutting down/);
  });

  it('skips a host that greets with 554 and delivers through the next MX (as Postfix smtp_skip_5xx_greeting)', async () => {
    const refusing = await sink({ host: '127.0.0.2', greeting: '554 5.7.1 No service' });
    const other = await sink({ host: '127.0.0.3' });
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target(refusing, other), message(['b@dest.test']));
    assert.deepEqual(outcomes.map((o) => o.status), ['delivered']);
    assert.match(attempt.errors[0].message, /^554 5\.7\.1 No service/);
  });

  it('bounces every recipient when the last MX greets with 554', async () => {
    const refusing = await sink({ host: '127.0.0.2', greeting: '554 5.7.1 No service' });
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(refusing), message(['b@dest.test']));
    assert.deepEqual(outcomes.map((o) => [o.status, o.smtpCode, o.enhanced]), [['bounced', 554, '5.7.1']]);
  });
});

// These sinks run without STARTTLS: the sink counts a connection closed through the raw
// socket's 'close', which smtp-server detaches when it upgrades to TLS.
describe('Connection reuse and limits', () => {
  it('never opens more than maxConnectionsPerDestination (3) for 100 messages and reuses connections', async () => {
    const s = await sink({ starttls: false, delayMs: { data: 5 } });
    const pool = track(makePool({ maxConnectionsPerDestination: 3 }));
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => pool.deliver(target(s), message([`r${i}@dest.test`]))));
    assert.equal(results.filter((r) => r.outcomes[0].status === 'delivered').length, 100);
    assert.equal(s.messages.length, 100);
    assert.ok(s.connections.max <= 3, `sink saw ${s.connections.max} simultaneous connections`);
    assert.ok(s.connections.total <= 6, `sink saw ${s.connections.total} connections in all`);
    assert.ok(results.filter((r) => r.attempt.reusedConnection).length >= 90);
    assert.ok(pool.stats().open <= 3);
  });

  it('respects the global maxConnections across destinations', async () => {
    const s = await sink({ starttls: false, delayMs: { data: 5 } });
    const pool = track(makePool({ maxConnectionsPerDestination: 3, maxConnections: 2 }));
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      pool.deliver({ destination: `d${i % 4}.test`, hosts: [{ host: 'mx.shared.test', address: s.host, port: s.port }] }, message([`r${i}@d${i % 4}.test`]))));
    assert.equal(s.messages.length, 20);
    assert.ok(s.connections.max <= 2, `sink saw ${s.connections.max} simultaneous connections`);
  });

  it('RSETs and reuses an idle connection, and caps messages per connection', async () => {
    const s = await sink();
    const pool = track(makePool({ maxMessagesPerConnection: 2 }));
    const first = await pool.deliver(target(s), message(['a@dest.test']));
    const second = await pool.deliver(target(s), message(['b@dest.test']));
    const third = await pool.deliver(target(s), message(['c@dest.test']));
    assert.deepEqual([first, second, third].map((r) => r.attempt.reusedConnection), [false, true, false]);
    assert.equal(s.messages[0].connectionId, s.messages[1].connectionId);
    assert.notEqual(s.messages[1].connectionId, s.messages[2].connectionId);
  });

  it('closes idle connections after idleTimeoutMs', async () => {
    const s = await sink({ starttls: false });
    const pool = track(makePool({ idleTimeoutMs: 100 }));
    await pool.deliver(target(s), message(['a@dest.test']));
    assert.equal(pool.stats().idle, 1);
    await sleep(400);
    assert.deepEqual(pool.stats(), { open: 0, busy: 0, idle: 0, perDestination: {} });
    await sleep(50);
    assert.equal(s.connections.current, 0);
  });

  it('opens a fresh connection when the remote closed the idle one', async () => {
    const s = await sink();
    const pool = track(makePool());
    await pool.deliver(target(s), message(['a@dest.test']));
    await s.close();
    const again = await sink({ host: s.host, port: s.port });
    const { outcomes } = await pool.deliver(target(again), message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.equal(again.messages.length, 1);
  });

  it('defers when the signal aborts while the delivery waits for a connection', async () => {
    const s = await sink({ delayMs: { data: 500 } });
    const pool = track(makePool({ maxConnectionsPerDestination: 1 }));
    const busy = pool.deliver(target(s), message(['a@dest.test']));
    const controller = new AbortController();
    const waiting = pool.deliver(target(s), message(['b@dest.test']), controller.signal);
    await sleep(50);
    controller.abort();
    const aborted = await waiting;
    assert.equal(aborted.outcomes[0].status, 'deferred');
    assert.match(aborted.outcomes[0].response, /aborted while waiting/);
    assert.equal((await busy).outcomes[0].status, 'delivered');
  });

  it('defers accepted recipients when the signal aborts during DATA, and drops the connection', async () => {
    const s = await sink({ delayMs: { data: 2000 } });
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['a@dest.test']), AbortSignal.timeout(200));
    assert.equal(outcomes[0].status, 'deferred');
    assert.match(outcomes[0].response, /aborted in DATA/);
    assert.equal(pool.stats().idle, 0);
  });

  it('close() lets a busy delivery finish before resolving', async () => {
    const s = await sink({ delayMs: { data: 200 } });
    const pool = makePool();
    const busy = pool.deliver(target(s), message(['a@dest.test']));
    await sleep(50);
    await pool.close();
    assert.equal((await busy).outcomes[0].status, 'delivered');
    assert.equal(pool.stats().open, 0);
  });

  it('close() QUITs idle connections and defers deliveries made afterwards', async () => {
    const s = await sink();
    const pool = makePool();
    await pool.deliver(target(s), message(['a@dest.test']));
    await pool.close();
    assert.equal(pool.stats().open, 0);
    const late = await pool.deliver(target(s), message(['b@dest.test']));
    assert.equal(late.outcomes[0].status, 'deferred');
  });
});

describe('RFC 5321 §4.5.3.2 timeouts', () => {
  it('defers accepted recipients when the final DATA reply does not come in time, naming DATA', async () => {
    const s = await sink({ delayMs: { data: 3000 } });
    const pool = track(makePool({ dataTimeoutMs: 300 }));
    const started = Date.now();
    const { outcomes } = await pool.deliver(target(s), message(['a@dest.test']));
    assert.equal(outcomes[0].status, 'deferred');
    assert.equal(outcomes[0].smtpCode, null);
    assert.match(outcomes[0].response, /timeout after 300 ms in DATA/);
    assert.ok(Date.now() - started < 2000);
    // The timed-out connection is destroyed, not kept for reuse.
    assert.equal(pool.stats().idle, 0);
    await waitUntil(() => pool.stats().open === 0);
  });

  it('tries the next host when the greeting does not come in time', async () => {
    const slow = await sink({ host: '127.0.0.2', delayMs: { greeting: 3000 } });
    const good = await sink({ host: '127.0.0.3' });
    const pool = track(makePool({ greetingTimeoutMs: 200 }));
    const { outcomes, attempt } = await pool.deliver(target(slow, good), message(['a@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.match(attempt.errors[0].message, /timeout after 200 ms in greeting/);
  });

  it('defers when RCPT replies do not come within the command timeout', async () => {
    const s = await sink({ delayMs: { rcpt: 3000 } });
    const pool = track(makePool({ commandTimeoutMs: 200 }));
    const { outcomes } = await pool.deliver(target(s), message(['a@dest.test']));
    assert.equal(outcomes[0].status, 'deferred');
    assert.match(outcomes[0].response, /timeout after 200 ms in MAIL FROM\/RCPT TO/);
  });
});

describe('Message data', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'postline-pool-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('streams a 5 MB body from a file and the sink receives it byte-exact (dot-stuffing undone)', async () => {
    const lines: string[] = ['From: a@sender.test', 'To: b@dest.test', 'Subject: big', ''];
    for (let i = 0, length = 0; length < 5 * 1024 * 1024; i++) {
      const line = i % 7 === 0 ? `.line ${i} starts with a dot` : `line ${i} ${'x'.repeat(60)}`;
      lines.push(line);
      length += line.length + 2;
    }
    const bytes = Buffer.from(lines.join('\r\n') + '\r\n');
    const file = join(dir, 'big.eml');
    await writeFile(file, bytes);
    const s = await sink();
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['b@dest.test'], { size: bytes.length, body: () => createReadStream(file) }));
    assert.equal(outcomes[0].status, 'delivered');
    assert.equal(s.messages[0].raw.length, bytes.length);
    assert.ok(s.messages[0].raw.equals(bytes));
  });

  it('bounces with 5.3.4 when the message exceeds the SIZE the remote announced (RFC 1870 §6.1)', async () => {
    const s = await sink({ maxMessageBytes: 1000 });
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['b@dest.test'], { size: 5000 }));
    assert.deepEqual(outcomes.map((o) => [o.status, o.enhanced]), [['bounced', '5.3.4']]);
    assert.equal(s.messages.length, 0);
  });

  it('sends SMTPUTF8 when the message needs it and bounces with 5.6.9 when the remote lacks it (RFC 6531 §3.4)', async () => {
    const s = await sink();
    const pool = track(makePool());
    const ok = await pool.deliver(target(s), message(['b@dest.test'], { smtputf8: true }));
    assert.equal(ok.outcomes[0].status, 'delivered');
    assert.equal(s.messages[0].smtpUtf8, true);
    const plain = await sink({ host: '127.0.0.2', hideSmtpUtf8: true });
    const refused = await pool.deliver(target(plain), message(['b@dest.test'], { smtputf8: true }));
    assert.deepEqual(refused.outcomes.map((o) => [o.status, o.enhanced]), [['bounced', '5.6.9']]);
  });

  it('sends a UTF-8 recipient address with SMTPUTF8 (RFC 6531 §3.4)', async () => {
    const s = await sink();
    const pool = track(makePool());
    const { outcomes } = await pool.deliver(target(s), message(['josé@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.deepEqual(s.messages[0].rcptTo, ['josé@dest.test']);
    assert.equal(s.messages[0].smtpUtf8, true);
  });

  it('declares BODY=8BITMIME when asked and the remote offers it (RFC 6152)', async () => {
    const s = await sink();
    const pool = track(makePool());
    await pool.deliver(target(s), message(['b@dest.test'], { eightBitMime: true }));
    assert.equal(s.messages[0].bodyType, '8bitmime');
  });
});

describe('RFC 3461 DSN parameters', () => {
  it('passes RET, ENVID, NOTIFY and ORCPT per recipient when the sink advertises DSN', async () => {
    const s = await sink();
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target(s), message([
      { id: 'r1', address: 'a@dest.test', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;orig+tag@dest.test' },
      { id: 'r2', address: 'b@dest.test', notify: ['NEVER'] },
      { id: 'r3', address: 'c@dest.test' },
    ], { envid: 'env-1', ret: 'HDRS' }));
    assert.deepEqual(outcomes.map((o) => o.status), ['delivered', 'delivered', 'delivered']);
    assert.equal(attempt.remoteSupportsDsn, true);
    assert.deepEqual(s.messages[0].dsn, {
      ret: 'HDRS',
      envid: 'env-1',
      recipients: [
        { address: 'a@dest.test', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;orig+tag@dest.test' },
        { address: 'b@dest.test', notify: ['NEVER'], orcpt: undefined },
        { address: 'c@dest.test', notify: undefined, orcpt: undefined },
      ],
    });
  });

  it('leaves DSN parameters out when the sink does not advertise DSN', async () => {
    const s = await sink({ hideDSN: true });
    const pool = track(makePool());
    const { outcomes, attempt } = await pool.deliver(target(s), message([{ id: 1, address: 'a@dest.test', notify: ['SUCCESS'], orcpt: 'rfc822;a@dest.test' }], { envid: 'env-2', ret: 'FULL' }));
    assert.equal(outcomes[0].status, 'delivered');
    assert.equal(attempt.remoteSupportsDsn, false);
    assert.equal(s.messages[0].dsn, undefined);
  });
});

/** A peer whose STARTTLS handshake always fails but that takes mail in plaintext. */
async function brokenTlsPeer(host: string): Promise<{ port: number; sessions: string[] }> {
  const sessions: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let transcript = '';
    let inData = false;
    let buffer = '';
    socket.write('220 broken-tls.test ESMTP\r\n');
    let handshake = false;
    socket.on('data', (chunk) => {
      // After 220 to STARTTLS the client's ClientHello gets plaintext back: the handshake fails.
      if (handshake) return void socket.write('this is not TLS\r\n\r\n');
      buffer += chunk.toString('latin1');
      let nl: number;
      while ((nl = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            socket.write('250 2.0.0 queued\r\n');
          }
          continue;
        }
        transcript += `${line.split(' ')[0].toUpperCase()} `;
        if (/^EHLO/i.test(line)) socket.write('250-broken-tls.test\r\n250 STARTTLS\r\n');
        else if (/^STARTTLS/i.test(line)) {
          handshake = true;
          socket.write('220 2.0.0 go ahead\r\n');
        }
        else if (/^DATA/i.test(line)) {
          inData = true;
          socket.write('354 go on\r\n');
        } else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
        else socket.write('250 2.0.0 ok\r\n');
      }
    });
    socket.on('close', () => sessions.push(transcript.trim()));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanups.push(() => new Promise((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  return { port: (server.address() as AddressInfo).port, sessions };
}

describe('RFC 3207 §4.1 failed handshake: one plaintext retry (tls_policy.plaintext_fallback)', () => {
  it('retries the same host once without STARTTLS and records tls_outcome plaintext-after-tls-failure', async () => {
    const peer = await brokenTlsPeer('127.0.0.2');
    const pool = track(makePool({ plaintextFallback: true }));
    const { outcomes, attempt } = await pool.deliver(target({ host: '127.0.0.2', port: peer.port }), message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'delivered');
    assert.equal(attempt.address, '127.0.0.2');
    assert.equal(attempt.tlsOutcome, 'plaintext-after-tls-failure');
    assert.equal(attempt.tlsVersion, null);
  });

  it('never falls back to plaintext where the host requires a verified certificate (MTA-STS enforce)', async () => {
    const peer = await brokenTlsPeer('127.0.0.2');
    const pool = track(makePool({ plaintextFallback: true }));
    const t = target({ host: '127.0.0.2', port: peer.port });
    const { outcomes, attempt } = await pool.deliver({ ...t, hosts: t.hosts.map((h) => ({ ...h, tls: 'verify' as const })) }, message(['b@dest.test']));
    assert.equal(outcomes[0].status, 'deferred');
    assert.equal(outcomes[0].enhanced, '4.7.5');
    assert.match(outcomes[0].response, /^TLS required by the MTA-STS policy: STARTTLS with mx1\.dest\.test \[127\.0\.0\.2\] failed/);
    assert.equal(attempt.tlsOutcome, null);
    await waitUntil(() => peer.sessions.length === 1);
    assert.doesNotMatch(peer.sessions[0], /MAIL/, 'no mail was offered in plaintext');
  });
});

describe('source addresses (IP pools)', () => {
  it('binds each host\'s connection to its localAddress, greets with its ehloName, and keeps connections from different addresses apart', async () => {
    const s = await sink({ host: '127.0.0.3' });
    const pool = track(makePool());
    const from = (localAddress: string, ehloName: string): DeliveryTarget => ({ destination: 'dest.test', hosts: [{ host: 'mx1.dest.test', address: s.host, port: s.port, localAddress, ehloName }] });
    const a = await pool.deliver(from('127.0.0.5', 'five.pool.test'), message(['a@dest.test']));
    const b = await pool.deliver(from('127.0.0.6', 'six.pool.test'), message(['b@dest.test']));
    const c = await pool.deliver(from('127.0.0.5', 'five.pool.test'), message(['c@dest.test']));
    assert.deepEqual([a.attempt.localAddress, b.attempt.localAddress, c.attempt.localAddress], ['127.0.0.5', '127.0.0.6', '127.0.0.5']);
    assert.equal(c.attempt.reusedConnection, true, 'the third reuses the first address\'s connection');
    assert.deepEqual(s.messages.map((m) => [m.remoteAddress, m.heloName]), [['127.0.0.5', 'five.pool.test'], ['127.0.0.6', 'six.pool.test'], ['127.0.0.5', 'five.pool.test']]);
    assert.equal(s.messages[0].connectionId, s.messages[2].connectionId);
    assert.deepEqual(pool.stats().perDestination, { 'dest.test|127.0.0.5': 1, 'dest.test|127.0.0.6': 1 });
  });
});
