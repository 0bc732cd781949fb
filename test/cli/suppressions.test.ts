import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { runCli } from '../helpers/postline.ts';
import { withBackend } from '../helpers/backend.ts';
import { csvRecords } from '../../src/api/csv.ts';

const execFileP = promisify(execFile);
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');

describe('postline suppression (CLI)', () => {
  let dir: string;
  let env: Record<string, string>;
  /** Runs the CLI without --json: stdout and stderr as text. */
  const raw = (args: string[]) => execFileP(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-cli-sup-'));
    env = await withBackend({ POSTLINE_DATA_DIR: dir, POSTLINE_LOG_LEVEL: 'silent' });
    await runCli(env, ['tenant', 'create', 'acme']);
    await runCli(env, ['tenant', 'create', 'globex']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('add suppresses a normalised address and prints {added, updated, entry}; again it keeps the stronger reason', async () => {
    const first = await runCli(env, ['suppression', 'add', 'Ann@Example.TEST', '--tenant', 'acme', '--reason', 'complaint', '--description', 'FBL report']);
    assert.deepEqual([first.added, first.updated, first.entry.address, first.entry.reason, first.entry.stream], [1, 0, 'ann@example.test', 'complaint', 'transactional']);
    assert.match(first.entry.id, /^sup_/);
    const again = await runCli(env, ['suppression', 'add', 'ann@example.test', '--tenant', 'acme', '--reason', 'manual']);
    assert.deepEqual([again.added, again.updated, again.entry.reason, again.entry.description], [0, 1, 'complaint', 'FBL report']);
    await runCli(env, ['suppression', 'add', 'bob@example.test', '--tenant', 'acme', '--stream', 'broadcast', '--expires-at', '2099-01-01T00:00:00Z']);
  });

  it('list shows entries per tenant and stream', async () => {
    const all = await runCli(env, ['suppression', 'list', '--tenant', 'acme']);
    assert.deepEqual(all.map((s: { address: string; stream: string }) => [s.address, s.stream]), [['ann@example.test', 'transactional'], ['bob@example.test', 'broadcast']]);
    const broadcast = await runCli(env, ['suppression', 'list', '--tenant', 'acme', '--stream', 'broadcast']);
    assert.deepEqual(broadcast.map((s: { expires_at: string }) => s.expires_at), ['2099-01-01T00:00:00.000Z']);
    assert.deepEqual(await runCli(env, ['suppression', 'list', '--tenant', 'globex']), []);
    const { stdout } = await raw(['suppression', 'list', '--tenant', 'acme']);
    assert.match(stdout, /ann@example\.test {2}transactional {2}complaint {2}FBL report/);
  });

  it('remove takes the address off one stream; a second remove exits 1 with SUPPRESSION_NOT_FOUND', async () => {
    const removed = await runCli(env, ['suppression', 'remove', 'BOB@example.test', '--tenant', 'acme', '--stream', 'broadcast']);
    assert.equal(removed.removed.address, 'bob@example.test');
    await assert.rejects(execFileP(process.execPath, [MAIN, '--json', 'suppression', 'remove', 'bob@example.test', '--tenant', 'acme', '--stream', 'broadcast'], { env: { ...process.env, ...env } }),
      (err: { code: number; stdout: string }) => err.code === 1 && JSON.parse(err.stdout.trim()).error.code === 'SUPPRESSION_NOT_FOUND');
  });

  it('refuses an unknown stream or reason, an invalid address and an unknown tenant with their codes', async () => {
    const cases: Array<[string[], string]> = [
      [['suppression', 'add', 'x@example.test', '--tenant', 'acme', '--stream', 'marketing'], 'SUPPRESSION_STREAM_INVALID'],
      [['suppression', 'add', 'x@example.test', '--tenant', 'acme', '--reason', 'spam'], 'SUPPRESSION_REASON_INVALID'],
      [['suppression', 'add', 'not-an-address', '--tenant', 'acme'], 'SUPPRESSION_ADDRESS_INVALID'],
      [['suppression', 'list', '--tenant', 'nobody'], 'TENANT_NOT_FOUND'],
    ];
    for (const [args, code] of cases) {
      await assert.rejects(execFileP(process.execPath, [MAIN, '--json', ...args], { env: { ...process.env, ...env } }),
        (err: { code: number; stdout: string }) => err.code === 1 && JSON.parse(err.stdout.trim()).error.code === code, code);
    }
  });

  it('import reads a CSV file with quoted fields, reports bad rows by line, and prints progress on stderr for a big file', async () => {
    const small = join(dir, 'small.csv');
    writeFileSync(small, 'email,reason,description\r\nc1@example.test,hard_bounce,"550, ""no such user""\r\nsecond line"\r\nbad-address,manual,\r\nc2@example.test,,\r\n');
    const r = await runCli(env, ['suppression', 'import', small, '--tenant', 'globex']);
    assert.deepEqual([r.imported, r.updated, r.rejected], [2, 0, [{ line: 4, address: 'bad-address', error: 'not a valid email address' }]]);

    const big = join(dir, 'big.csv');
    const rows = ['address'];
    for (let i = 0; i < 60_000; i++) rows.push(`big${i}@example.test`);
    writeFileSync(big, rows.join('\n'));
    const { stdout, stderr } = await raw(['--json', 'suppression', 'import', big, '--tenant', 'globex', '--stream', 'broadcast']);
    assert.deepEqual(JSON.parse(stdout.trim()), { imported: 60_000, updated: 0, rejected: [], rejected_count: 0 });
    assert.match(stderr, /big\.csv: line \d+: \d+ imported, 0 updated, 0 rejected/);
  });

  it('export writes CSV to stdout that imports into another tenant as the same list', async () => {
    const { stdout } = await raw(['suppression', 'export', '--tenant', 'globex']);
    assert.ok(stdout.startsWith('address,reason,description,created_at,expires_at\r\n'));
    const records: string[][] = [];
    for await (const rec of csvRecords([stdout])) records.push(rec.fields);
    assert.deepEqual(records.slice(1).map((f) => [f[0], f[1], f[2]]).sort(), [['c1@example.test', 'hard_bounce', '550, "no such user"\r\nsecond line'], ['c2@example.test', 'manual', '']]);
    const file = join(dir, 'export.csv');
    writeFileSync(file, stdout);
    assert.equal((await runCli(env, ['suppression', 'import', file, '--tenant', 'acme'])).imported, 2);
    const copied = await raw(['suppression', 'export', '--tenant', 'acme']);
    assert.ok(copied.stdout.includes('"550, ""no such user""\r\nsecond line"'));
    const broadcast = await raw(['suppression', 'export', '--tenant', 'globex', '--stream', 'broadcast']);
    assert.equal(broadcast.stdout.split('\r\n').filter(Boolean).length, 60_001);
  });
});
