import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { runCli } from '../helpers/postline.ts';
import { withBackend } from '../helpers/backend.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { openTestStore } from '../helpers/backend.ts';

const execFileP = promisify(execFile);
const MAIN = join(resolve(import.meta.dirname, '../..'), 'src/cli/main.ts');

/** Runs the CLI without --json; resolves with the exit code and output (no throw on exit 1). */
async function cliText(env: Record<string, string>, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('postline domain add | check | rotate | list', () => {
  let dir: string;
  let dns: TestDnsServer;
  let env: Record<string, string>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-cli-domains-'));
    dns = await startDnsServer();
    env = await withBackend({ POSTLINE_DATA_DIR: dir, POSTLINE_HOSTNAME: 'mta.postline.test', POSTLINE_DNS_SERVERS: dns.address, POSTLINE_DKIM_ED25519: 'true' });
    await runCli(env, ['tenant', 'create', 'shop']);
  });
  after(async () => {
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('domain add prints the records to publish as a table; --json gives the API Domain object without private keys', async () => {
    const text = await cliText(env, ['domain', 'add', '--tenant', 'shop', 'cli.example']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^NAME +TYPE +PURPOSE +STATUS +VALUE$/m);
    assert.match(text.stdout, /^cli\.example +TXT +ownership +pending +postline-verification=[0-9a-f]{32}$/m);
    assert.match(text.stdout, /^pl\d{8}r\._domainkey\.cli\.example +TXT +dkim +pending +v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{392}$/m);
    assert.match(text.stdout, /^pl\d{8}e\._domainkey\.cli\.example +TXT +dkim +pending +v=DKIM1; k=ed25519; p=[A-Za-z0-9+/=]{44}$/m);
    assert.match(text.stdout, /^pl-bounces\.cli\.example +CNAME +return_path +pending +mta\.postline\.test$/m);
    const json = await runCli(env, ['domain', 'add', '--tenant', 'shop', 'cli.example']);
    assert.equal(json.name, 'cli.example');
    assert.equal(json.records.length, 6);
    assert.ok(!JSON.stringify(json).includes('PRIVATE'));
  });

  it('domain check prints NAME TYPE PURPOSE STATUS EXPECTED FOUND and exits 1 until verified, then 0', async () => {
    const d = await runCli(env, ['domain', 'show', 'cli.example']);
    let res = await cliText(env, ['domain', 'check', 'cli.example']);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /^NAME +TYPE +PURPOSE +STATUS +EXPECTED +FOUND$/m);
    assert.match(res.stdout, /^cli\.example +TXT +ownership +missing +postline-verification=.+ +-$/m);
    assert.match(res.stdout, /cli\.example is not verified/);

    for (const r of d.records) dns.addRecord(r.name, { type: r.type, value: r.value });
    dns.removeName('cli.example');
    dns.addRecord('cli.example', { type: 'TXT', value: d.records[0].value });
    dns.addRecord('cli.example', { type: 'TXT', value: 'v=spf1 include:_spf.google.com ~all' });
    res = await cliText(env, ['domain', 'check', 'cli.example']);
    assert.equal(res.code, 0, res.stdout);
    assert.match(res.stdout, /^cli\.example +TXT +spf +wrong +v=spf1 include:_spf\.google\.com include:_spf\.mta\.postline\.test ~all +v=spf1 include:_spf\.google\.com ~all$/m);
    assert.match(res.stdout, /spf cli\.example: The domain already has an SPF record .* 1 DNS lookup now and 2 merged/);
    assert.match(res.stdout, /cli\.example is verified/);
    const json = await runCli(env, ['domain', 'check', 'cli.example']);
    assert.equal(json.verified, true);
    assert.deepEqual(json.records.map((r: { status: string }) => r.status), ['ok', 'ok', 'ok', 'wrong', 'ok', 'ok']);
  });

  it('domain rotate prints the new selectors to publish; domain list shows verified', async () => {
    const res = await cliText(env, ['domain', 'rotate', 'cli.example']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^pl\d{8}r2\._domainkey\.cli\.example +TXT +dkim +pending +v=DKIM1; k=rsa; p=/m);
    assert.match(res.stdout, /^pl\d{8}e2\._domainkey\.cli\.example +TXT +dkim +pending +v=DKIM1; k=ed25519; p=/m);
    const list = await runCli(env, ['domain', 'list', '--tenant', 'shop']);
    assert.deepEqual(list.map((d: { name: string; verified: boolean }) => [d.name, d.verified]), [['cli.example', true]]);
  });

  it('audits domain add and rotate as the CLI, like key creation', async () => {
    const store = await openTestStore({ dataDir: dir });
    try {
      const rows = await store.db.selectFrom('audit_log').selectAll().where('action', 'like', 'domain.%').orderBy('id').execute();
      assert.deepEqual(rows.map((r) => [r.action, r.actor_kind]), [['domain.added', 'cli'], ['domain.dkim_rotated', 'cli']]);
    } finally {
      await store.close();
    }
  });

  it('names an unknown domain with DOMAIN_NOT_FOUND and exit status 1', async () => {
    const res = await cliText(env, ['--json', 'domain', 'check', 'nope.example']);
    assert.equal(res.code, 1);
    assert.equal(JSON.parse(res.stdout.trim()).error.code, 'DOMAIN_NOT_FOUND');
  });
});
