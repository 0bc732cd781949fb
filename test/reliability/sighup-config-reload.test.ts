// Issue 8: SIGHUP reloads the configuration without dropping connections. Settings that can
// change live (relay networks, hosted MX domains, connection and session limits, AUTH
// throttling, feedback-loop addresses) apply to new sessions at once; the log names the
// changes that need a restart; a configuration that does not load is refused and the running
// one stays.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp, type SmtpTalk } from '../helpers/smtp-talk.ts';

let postline: PostlineProcess;
let dir: string;
let file: string;

async function logLine(match: RegExp, from: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = postline.logs().slice(from).split('\n').filter(Boolean);
    for (const line of lines) if (match.test(line)) return JSON.parse(line) as Record<string, unknown>;
    if (Date.now() > deadline) throw new Error(`no log line matching ${match} in:\n${postline.logs().slice(from)}`);
    await sleep(50);
  }
}

async function session(): Promise<SmtpTalk> {
  const talk = await connectSmtp({ host: postline.smtp.host, port: postline.smtp.port });
  return talk;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postline-sighup-'));
  file = join(dir, 'postline.yaml');
  writeFileSync(file, 'smtp:\n  max_connections_per_ip: 50\n');
  postline = await startPostline({ env: { POSTLINE_CONFIG: file }, tenant: { name: 'acme', domains: ['acme.test'] } });
});

after(async () => {
  await postline?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('SIGHUP configuration reload', () => {
  it('applies relay networks and connection limits to new sessions, keeps open sessions, and names what needs a restart', async () => {
    const open = await session();
    assert.equal((await open.ehlo('client.example')).code, 250);
    const before = await session();
    await before.ehlo('client.example');
    // Submission without AUTH and no relay network: RFC 4954 §6.
    assert.equal((await before.send('MAIL FROM:<app@acme.test>')).last.slice(0, 9), '530 5.7.0');
    await before.send('QUIT');

    writeFileSync(file, [
      'smtp:',
      '  max_connections_per_ip: 2',
      '  relay_networks: ["127.0.0.0/8=acme"]',
      '  max_message_bytes: 1000000',
      '',
    ].join('\n'));
    const mark = postline.logs().length;
    postline.child.kill('SIGHUP');
    const reloaded = await logLine(/configuration reloaded/, mark);
    assert.deepEqual((reloaded.applied as string[]).sort(), ['smtp.max_connections_per_ip', 'smtp.relay_networks']);
    assert.deepEqual(reloaded.needRestart, ['smtp.max_message_bytes']);

    // The session opened before the reload is still served.
    assert.equal((await open.send('NOOP')).code, 250);
    // A new one relays as tenant acme without AUTH.
    const relay = await session();
    await relay.ehlo('client.example');
    assert.equal((await relay.send('MAIL FROM:<app@acme.test>')).code, 250);
    assert.equal((await relay.send('RCPT TO:<someone@dest.test>')).code, 250);
    await relay.send('RSET');
    // Two sessions from 127.0.0.1 are open: the third meets the new limit of 2.
    const third = await connectSmtp({ host: postline.smtp.host, port: postline.smtp.port }).catch((err: Error) => err);
    if (third instanceof Error) assert.fail(third.message);
    assert.match(third.greeting.last, /^421 4\.7\.0 /);
    await relay.send('QUIT');
    await open.send('QUIT');
  });

  it('refuses a configuration that does not load and keeps the running one', async () => {
    writeFileSync(file, 'smtp:\n  max_conections_per_ip: 3\n');
    const mark = postline.logs().length;
    postline.child.kill('SIGHUP');
    const failed = await logLine(/configuration reload failed/, mark);
    assert.match(String(failed.err), /max_conections_per_ip/);
    const still = await session();
    await still.ehlo('client.example');
    assert.equal((await still.send('MAIL FROM:<app@acme.test>')).code, 250, 'the relay network of the last good configuration still applies');
    await still.send('QUIT');
  });
});
