// Issue 8: every SMTP limit answers its exact reply, closes only the session that hit it, and
// is logged once per source, not per hit. Clients bind to their own 127.0.x.y so that one
// test's counts never reach another's.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp, type SmtpTalk, type TalkOptions } from '../helpers/smtp-talk.ts';
import { ConnectionLimits, LogOnce, networkOf } from '../../src/ingress/connection-limits.ts';

const TOO_MANY_CONNECTIONS = '421 4.7.0 Too many connections from your network';
const configDir = mkdtempSync(join(tmpdir(), 'postline-limits-'));
const talks: SmtpTalk[] = [];

function configFile(name: string, yaml: string): string {
  const file = join(configDir, name);
  writeFileSync(file, yaml);
  return file;
}

async function talk(options: TalkOptions): Promise<SmtpTalk> {
  const t = await connectSmtp({ timeoutMs: 5000, ...options });
  talks.push(t);
  return t;
}

/** Log lines (pino JSON) that report `limit` for `key`. */
function limitLines(server: PostlineProcess, limit: string, key: string): number {
  return server.logs().split('\n').filter((l) => l.includes('"limit reached"') && l.includes(`"limit":"${limit}"`) && l.includes(key)).length;
}

after(() => {
  for (const t of talks) t.close();
  rmSync(configDir, { recursive: true, force: true });
});

describe('SMTP limits: connections, commands, errors, line length, AUTH per account', () => {
  let server: PostlineProcess;
  const submission = (localAddress: string) => talk({ host: server.smtp.host, port: server.smtp.port, localAddress });

  before(async () => {
    server = await startPostline({
      tenant: { name: 'acme', domains: ['acme.test'] },
      env: {
        POSTLINE_DELIVERY_MODE: 'capture',
        POSTLINE_CONFIG: configFile('limits.yaml', [
          'smtp:',
          '  max_connections_per_ip: 3',
          '  max_connections_per_network: 5',
          '  max_commands_per_session: 30',
          '  max_errors_per_session: 5',
          '  max_line_length: 2048',
          '  auth_slow_after_failures: 100',
          '  auth_block_after_failures: 100',
          '  auth_account_slow_after_failures: 2',
          '  auth_account_block_after_failures: 4',
          '  auth_failure_delay: 50ms',
          '',
        ].join('\n')),
      },
    });
  });
  after(async () => {
    await server?.cleanup();
  });

  it('refuses a client IP beyond max_connections_per_ip with 421 4.7.0, serves other IPs, and logs it once', async () => {
    const held = [];
    for (let i = 0; i < 3; i++) {
      const t = await submission('127.0.3.1');
      assert.equal(t.greeting.code, 220);
      held.push(t);
    }
    for (let i = 0; i < 4; i++) {
      const refused = await submission('127.0.3.1');
      assert.equal(refused.greeting.last, TOO_MANY_CONNECTIONS);
      await refused.closed;
    }
    const other = await submission('127.0.3.2');
    assert.equal(other.greeting.code, 220);
    assert.equal((await other.send('NOOP')).code, 250);
    // A session that ends gives its slot back.
    held[0].close();
    await held[0].closed;
    await sleep(100);
    assert.equal((await submission('127.0.3.1')).greeting.code, 220);
    await sleep(200);
    assert.equal(limitLines(server, 'per_ip', '127.0.3.1'), 1, 'four refusals, one log line');
  });

  it('refuses an IPv4 /24 beyond max_connections_per_network with 421 4.7.0 and serves other networks', async () => {
    for (let i = 1; i <= 5; i++) assert.equal((await submission(`127.0.4.${i}`)).greeting.code, 220);
    const refused = await submission('127.0.4.6');
    assert.equal(refused.greeting.last, TOO_MANY_CONNECTIONS);
    await refused.closed;
    assert.equal((await submission('127.0.5.1')).greeting.code, 220);
    await sleep(200);
    assert.equal(limitLines(server, 'per_network', '127.0.4.0/24'), 1);
  });

  it('ends a session after max_commands_per_session with 421 4.7.0 Too many commands', async () => {
    const t = await submission('127.0.6.1');
    assert.equal((await t.ehlo()).code, 250);
    for (let i = 0; i < 29; i++) assert.equal((await t.send('NOOP')).code, 250);
    assert.equal((await t.send('NOOP')).last, '421 4.7.0 Too many commands');
    await t.closed;
    const other = await submission('127.0.6.2');
    assert.equal((await other.send('NOOP')).code, 250);
  });

  it('ends a session at max_errors_per_session with the error reply, then 421 4.7.0 Too many errors', async () => {
    const t = await submission('127.0.7.1');
    await t.ehlo();
    for (let i = 0; i < 4; i++) assert.equal((await t.send('XYZZY')).code, 500);
    assert.equal((await t.send('XYZZY')).code, 500);
    assert.equal((await t.read()).last, '421 4.7.0 Too many errors');
    await t.closed;
    const other = await submission('127.0.7.2');
    assert.equal((await other.send('NOOP')).code, 250);
  });

  it('RFC 5321 §4.5.3.1.4: takes a 2048-octet command line and ends a longer one with 421 4.5.2 Line too long', async () => {
    const t = await submission('127.0.8.1');
    await t.ehlo();
    assert.equal((await t.send(`NOOP ${'x'.repeat(2048 - 5)}`)).code, 250);
    assert.equal((await t.send(`NOOP ${'x'.repeat(2048)}`)).last, '421 4.5.2 Line too long');
    await t.closed;
    // A line that never ends is cut at the same length, not buffered without bound.
    const endless = await submission('127.0.8.2');
    endless.write('NOOP ' + 'y'.repeat(4096));
    assert.equal((await endless.read()).last, '421 4.5.2 Line too long');
    const other = await submission('127.0.8.3');
    assert.equal((await other.send('NOOP')).code, 250);
  });

  it('RFC 4954 §6: refuses AUTH for an account after auth_account_block_after_failures from any IPs with 454 4.7.0, other accounts still log in', async () => {
    const victim = server.credential!;
    const other = await server.cli('credential', 'create', '--tenant', 'acme');
    const smtps = (localAddress: string) => talk({ host: server.smtps.host, port: server.smtps.port, tls: true, localAddress });
    const started = Date.now();
    for (let i = 1; i <= 4; i++) {
      const t = await smtps(`127.0.9.${i}`);
      await t.ehlo();
      assert.equal((await t.authPlain(victim.username, `wrong-${i}`)).code, 535);
      t.close();
    }
    // Failures 2..4 were slowed: 50 + 100 + 200 ms at least.
    assert.ok(Date.now() - started >= 350, `slowed: ${Date.now() - started} ms`);
    const t = await smtps('127.0.9.5');
    await t.ehlo();
    // The right password does not open a blocked account: the attacker learns nothing from it.
    assert.equal((await t.authPlain(victim.username, victim.password)).last, '454 4.7.0 Too many failed logins for this account, try again later');
    assert.equal((await t.authPlain(other.username, other.password)).code, 235);
    await sleep(200);
    assert.equal(limitLines(server, 'auth_account', victim.username.slice(0, 16)), 1);
  });
});

describe('SMTP limits: idle and whole-session timeouts', () => {
  let server: PostlineProcess;
  before(async () => {
    server = await startPostline({
      env: { POSTLINE_CONFIG: configFile('timeouts.yaml', 'smtp:\n  idle_timeout: 1s\n  session_timeout: 3s\n') },
    });
  });
  after(async () => {
    await server?.cleanup();
  });

  it('RFC 5321 §4.5.3.2.7: closes an idle session with 421 4.4.2', async () => {
    const t = await talk({ host: server.smtp.host, port: server.smtp.port, localAddress: '127.0.10.1' });
    const started = Date.now();
    assert.equal((await t.read(4000)).last, '421 4.4.2 Timeout - closing connection');
    assert.ok(Date.now() - started >= 900);
    await t.closed;
  });

  it('ends a busy session at session_timeout with 421 4.4.2, however often it talks', async () => {
    const t = await talk({ host: server.smtp.host, port: server.smtp.port, localAddress: '127.0.10.2' });
    const started = Date.now();
    let last = '';
    while (Date.now() - started < 6000) {
      const reply = await t.send('NOOP');
      if (reply.code !== 250) {
        last = reply.last;
        break;
      }
      await sleep(300);
    }
    const elapsed = Date.now() - started;
    assert.equal(last, '421 4.4.2 Session time limit reached, closing connection');
    assert.ok(elapsed >= 2800 && elapsed < 4500, `ended after ${elapsed} ms`);
    await t.closed;
  });
});

describe('connection limits (white box): networks and log throttling', () => {
  it('counts IPv6 clients per /64 and IPv4-mapped addresses as IPv4', () => {
    assert.deepEqual(networkOf('2001:db8:1:2:aaaa::1'), { ip: '2001:db8:1:2:aaaa::1', network: '2001:db8:1:2::/64' });
    assert.deepEqual(networkOf('::ffff:192.0.2.7'), { ip: '192.0.2.7', network: '192.0.2.0/24' });
    const limits = new ConnectionLimits({ perIp: 10, perNetwork: 2 });
    assert.equal(limits.admit('2001:db8:1:2::1').ok, true);
    assert.equal(limits.admit('2001:db8:1:2:ffff::9').ok, true);
    const refused = limits.admit('2001:db8:1:2::77');
    assert.deepEqual(refused.ok ? null : [refused.limit, refused.key], ['per_network', '2001:db8:1:2::/64']);
    assert.equal(limits.admit('2001:db8:1:3::1').ok, true, 'the next /64 is another network');
  });

  it('gives a slot back once per release, however often release runs', () => {
    const limits = new ConnectionLimits({ perIp: 1, perNetwork: 0 });
    const first = limits.admit('192.0.2.1');
    assert.ok(first.ok);
    assert.equal(limits.admit('192.0.2.1').ok, false);
    first.release();
    first.release();
    assert.equal(limits.count('192.0.2.1'), 0);
    assert.equal(limits.admit('192.0.2.1').ok, true);
  });

  it('logs a key once per interval and reports how many hits it held back', () => {
    const log = new LogOnce(60_000);
    assert.equal(log.hit('a', 0), 0);
    assert.equal(log.hit('a', 1000), -1);
    assert.equal(log.hit('a', 2000), -1);
    assert.equal(log.hit('b', 2000), 0);
    assert.equal(log.hit('a', 61_000), 2);
  });
});
