import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { runCli, startPostline } from '../helpers/postline.ts';

const execFileP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

describe('postline CLI (--json contract)', () => {
  let dir: string;
  let env: Record<string, string>;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'postline-cli-'));
    env = { POSTLINE_DATA_DIR: dir };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('tenant create prints {id, name}', async () => {
    const t = await runCli(env, ['tenant', 'create', 'acme']);
    assert.match(t.id, /^ten_[0-9A-Z]{26}$/);
    assert.equal(t.name, 'acme');
    assert.equal(t.sandbox, false);
  });

  it('credential create prints {username, password} once', async () => {
    const c = await runCli(env, ['credential', 'create', '--tenant', 'acme', '--username', 'app1']);
    assert.equal(c.username, 'app1');
    assert.ok(c.password.length >= 24);
  });

  it('key create prints the key once, with its scopes', async () => {
    const k = await runCli(env, ['key', 'create', '--tenant', 'acme', '--scopes', 'send']);
    assert.match(k.key, /^pl_/);
    assert.deepEqual(k.scopes, ['send']);
  });

  it('domain add then send queues a message that queue list and queue show report', async () => {
    const d = await runCli(env, ['domain', 'add', '--tenant', 'acme', 'Acme.TEST']);
    assert.equal(d.name, 'acme.test');
    const sent = await runCli(env, ['send', '--from', 'me@acme.test', '--to', 'you@dest.test', '--subject', 'cli']);
    const list = await runCli(env, ['queue', 'list']);
    assert.ok(list.some((r: { message_id: string; state: string }) => r.message_id === sent.id && r.state === 'queued'));
    const shown = await runCli(env, ['queue', 'show', sent.id]);
    assert.equal(shown.subject, 'cli');
    assert.deepEqual(shown.events.map((e: { type: string }) => e.type), ['message.queued']);
  });

  it('refuses to send from a domain no tenant owns, with a JSON error and exit status 1', async () => {
    await assert.rejects(
      execFileP(process.execPath, [join(ROOT, 'src/cli/main.ts'), '--json', 'send', '--from', 'me@other.test', '--to', 'you@dest.test'], { env: { ...process.env, ...env } }),
      (err: { code: number; stdout: string }) => {
        assert.equal(err.code, 1);
        const out = JSON.parse(err.stdout.trim());
        assert.equal(out.error.code, 'SENDER_DOMAIN_UNKNOWN');
        return true;
      },
    );
  });

  it('names a misspelt configuration key and exits 1', async () => {
    const file = join(dir, 'bad.yaml');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, 'smtp:\n  lisen: 127.0.0.1:25\n'));
    await assert.rejects(execFileP(process.execPath, [join(ROOT, 'src/cli/main.ts'), '--config', file, 'tenant', 'list'], { env: { ...process.env, ...env } }), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /Unrecognized key: "lisen"/);
      return true;
    });
  });

  it('--help documents the commands', async () => {
    const { stdout } = await execFileP(process.execPath, [join(ROOT, 'src/cli/main.ts'), '--help']);
    for (const cmd of ['start', 'tenant', 'credential', 'domain', 'queue', 'send']) assert.match(stdout, new RegExp(`\\b${cmd}\\b`));
  });
});

describe('postline start (first run)', () => {
  it('creates a self-signed certificate and an admin token with mode 0600, and prints where they are', async () => {
    const server = await startPostline();
    try {
      const tokenFile = join(server.dataDir, 'admin-token');
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      assert.ok(readFileSync(tokenFile, 'utf8').trim().length >= 40);
      assert.equal(statSync(join(server.dataDir, 'tls', 'key.pem')).mode & 0o777, 0o600);
      assert.match(readFileSync(join(server.dataDir, 'tls', 'cert.pem'), 'utf8'), /BEGIN CERTIFICATE/);
      const res = await fetch(`http://${server.http!.host}:${server.http!.port}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      await server.cleanup();
    }
  });
});
