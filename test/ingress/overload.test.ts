// Issue 8 overload figures (SECURITY.md "Limits" quotes what this prints): 2,000 idle
// sessions plus a slowloris client do not keep a well-behaved client from a whole
// transaction in under 1 s, the server's RSS stays bounded, and a 10,000-try AUTH brute
// force is slowed, then refused with 421 4.7.0, while a real user logs in at once.
// Run alone: node --test test/ingress/overload.test.ts
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp, type SmtpReply } from '../helpers/smtp-talk.ts';

const IDLE_SESSIONS = 2000;
const RSS_BOUND_MB = 400;
const BRUTE_IPS = 40;
const BRUTE_TRIES = 10_000;
const BLOCK_AFTER = 10;
const DELAY_MS = 100;
const BLOCKED_LOGIN = '421 4.7.0 Too many failed logins from your address, try again later';

let server: PostlineProcess;
const configDir = mkdtempSync(join(tmpdir(), 'postline-overload-'));

before(async () => {
  const config = join(configDir, 'overload.yaml');
  // Defaults except the AUTH delay base, shortened so the slowing shows within seconds.
  writeFileSync(config, `smtp:\n  auth_failure_delay: ${DELAY_MS}ms\n  auth_slow_after_failures: 3\n  auth_block_after_failures: ${BLOCK_AFTER}\n`);
  server = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    env: { POSTLINE_DELIVERY_MODE: 'capture', POSTLINE_LOG_LEVEL: 'warn', POSTLINE_CONFIG: config },
  });
});

after(async () => {
  await server?.cleanup();
  rmSync(configDir, { recursive: true, force: true });
});

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** A raw socket that has read the server's first line. */
async function rawConnect(port: number, localAddress: string): Promise<{ socket: Socket; greeting: string }> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  let data = '';
  while (!data.includes('\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    data += chunk.toString('latin1');
  }
  return { socket, greeting: data.slice(0, data.indexOf('\r\n')) };
}

/** EHLO … AUTH … MAIL … RCPT … DATA … 250 over implicit TLS; returns the elapsed ms. */
async function fullTransaction(localAddress: string): Promise<number> {
  const started = performance.now();
  const t = await connectSmtp({ host: server.smtps.host, port: server.smtps.port, tls: true, localAddress, timeoutMs: 5000 });
  try {
    assert.equal(t.greeting.code, 220);
    assert.equal((await t.ehlo()).code, 250);
    assert.equal((await t.authPlain(server.credential!.username, server.credential!.password)).code, 235);
    assert.equal((await t.send('MAIL FROM:<app@acme.test>')).code, 250);
    assert.equal((await t.send('RCPT TO:<user@example.net>')).code, 250);
    const done = await t.data('From: app@acme.test\r\nTo: user@example.net\r\nSubject: under load\r\n\r\nhello\r\n');
    assert.equal(done.code, 250, done.last);
    await t.send('QUIT');
    return performance.now() - started;
  } finally {
    t.close();
  }
}

describe('overload: 2,000 idle sessions and a slowloris client', () => {
  it(`keeps a well-behaved client under 1 s per transaction and RSS under ${RSS_BOUND_MB} MB`, async () => {
    const pid = server.child.pid!;
    // One transaction first, so the figures below measure load and not a cold start.
    await fullTransaction('127.0.60.1');
    const baseline = await rssMb(pid);
    const sockets: Socket[] = [];
    // 10 /24s × 4 addresses × 50 sessions: the default per-IP (50) and per-/24 (200) limits admit them all.
    const sources: string[] = [];
    for (let n = 0; n < 10; n++) for (let i = 1; i <= 4; i++) for (let k = 0; k < 50; k++) sources.push(`127.0.${20 + n}.${i}`);
    const openStarted = performance.now();
    for (let i = 0; i < sources.length; i += 200) {
      const batch = await Promise.all(sources.slice(i, i + 200).map((a) => rawConnect(server.smtp.port, a)));
      for (const { socket, greeting } of batch) {
        assert.match(greeting, /^220 /);
        sockets.push(socket);
      }
    }
    const openMs = performance.now() - openStarted;
    assert.equal(sockets.length, IDLE_SESSIONS);
    // Slowloris on the MX listener: one byte a second, never a whole line.
    const slow = await rawConnect(server.mx.port, '127.0.50.1');
    const drip = setInterval(() => slow.socket.write('X'), 1000);
    try {
      // The listener is full: smtp.max_clients (2000) answers the next one.
      const full = await rawConnect(server.smtp.port, '127.0.40.1');
      assert.equal(full.greeting, '421 4.3.2 mta.postline.test Too many connected clients, try again in a moment');
      full.socket.destroy();
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        times.push(await fullTransaction('127.0.60.1'));
        await sleep(200);
      }
      const loaded = await rssMb(pid);
      console.log(`# overload: ${sockets.length} idle sessions opened in ${openMs.toFixed(0)} ms; ` +
        `transactions ${times.map((t) => t.toFixed(0)).join(', ')} ms; RSS ${baseline.toFixed(0)} MB idle → ${loaded.toFixed(0)} MB loaded`);
      for (const t of times) assert.ok(t < 1000, `transaction took ${t} ms`);
      assert.ok(loaded < RSS_BOUND_MB, `RSS ${loaded} MB`);
      assert.ok(!slow.socket.destroyed, 'the slowloris client is bounded by session_timeout, not refused early');
    } finally {
      clearInterval(drip);
      slow.socket.destroy();
      for (const s of sockets) s.destroy();
    }
  });
});

describe('overload: AUTH brute force', () => {
  it(`throttles ${BRUTE_TRIES} AUTH tries: slowed, then 421 4.7.0 after ${BLOCK_AFTER} failures per IP; a real user logs in at once`, async () => {
    const perIp = BRUTE_TRIES / BRUTE_IPS;
    const deadline = Date.now() + 60_000;
    const totals = { answered: 0, failed535: 0, refused421: 0 };
    const started = performance.now();
    const attacker = async (ip: string) => {
      // One TLS session, every try pipelined (the server answers them in order).
      const t = await connectSmtp({ host: server.smtps.host, port: server.smtps.port, tls: true, localAddress: ip, timeoutMs: 20_000 });
      await t.ehlo('brute.example');
      const lines: string[] = [];
      for (let i = 0; i < perIp; i++) {
        const plain = Buffer.from(`\0user${i}@${ip}\0guess-${i}`).toString('base64');
        lines.push(`AUTH PLAIN ${plain}\r\n`);
      }
      t.write(lines.join(''));
      const replies: Array<{ reply: SmtpReply; at: number }> = [];
      for (;;) {
        try {
          replies.push({ reply: await t.read(), at: performance.now() });
        } catch {
          break;
        }
      }
      const codes = replies.map((r) => r.reply.code);
      assert.deepEqual(codes, [...Array(BLOCK_AFTER).fill(535), 421], `${ip}: ${codes.join(',')}`);
      assert.equal(replies[BLOCK_AFTER].reply.last, BLOCKED_LOGIN);
      // Slowing: the gaps between failures grow once auth_slow_after_failures is passed.
      const gaps = replies.slice(1, BLOCK_AFTER).map((r, i) => r.at - replies[i].at);
      assert.ok(gaps[6] > gaps[1] + DELAY_MS, `${ip}: gaps ${gaps.map((g) => g.toFixed(0)).join(',')}`);
      let answered = replies.length;
      totals.failed535 += BLOCK_AFTER;
      totals.refused421 += 1;
      // The rest of this IP's tries, one connection each, are refused at the greeting.
      while (answered < perIp && Date.now() < deadline) {
        const again = await rawConnect(server.smtp.port, ip);
        assert.equal(again.greeting, BLOCKED_LOGIN);
        again.socket.destroy();
        answered++;
        totals.refused421++;
      }
      totals.answered += answered;
    };
    const attack = Promise.all(Array.from({ length: BRUTE_IPS }, (_, i) => attacker(`127.0.70.${i + 1}`)));
    // During the attack a real user, from another address, logs in without delay.
    await sleep(2000);
    const loginStarted = performance.now();
    const user = await connectSmtp({ host: server.smtps.host, port: server.smtps.port, tls: true, localAddress: '127.0.61.1' });
    await user.ehlo();
    assert.equal((await user.authPlain(server.credential!.username, server.credential!.password)).code, 235);
    const loginMs = performance.now() - loginStarted;
    user.close();
    await attack;
    const totalMs = performance.now() - started;
    console.log(`# brute force: ${totals.answered} tries from ${BRUTE_IPS} IPs in ${(totalMs / 1000).toFixed(1)} s: ` +
      `${totals.failed535} checked (535), ${totals.refused421} refused (421 4.7.0); real login ${loginMs.toFixed(0)} ms`);
    assert.equal(totals.answered, BRUTE_TRIES);
    assert.equal(totals.failed535, BRUTE_IPS * BLOCK_AFTER);
    assert.ok(loginMs < 1000, `login took ${loginMs} ms`);
    // Failures 3..10 wait 100, 200, 400, 800, then 1600 ms (the cap) four times: 7.9 s.
    assert.ok(totalMs > 7900, `the attack was slowed: ${totalMs} ms`);
  });
});
