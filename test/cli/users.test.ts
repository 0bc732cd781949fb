import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { runCli } from '../helpers/postline.ts';
import { withBackend } from '../helpers/backend.ts';

const execFileP = promisify(execFile);
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');

describe('postline user (CLI)', () => {
  let dir: string;
  let env: Record<string, string>;
  /** Runs `postline --json ARGS`, resolving to the JSON whether the command succeeded or failed. */
  const json = (args: string[], input?: string) => new Promise<any>((done) => {
    const child = execFile(process.execPath, [MAIN, '--json', ...args], { env: { ...process.env, ...env } }, (_err, stdout) => done(JSON.parse(stdout.trim().split('\n').at(-1)!)));
    if (input !== undefined) child.stdin!.end(input);
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-cli-users-'));
    env = await withBackend({ POSTLINE_DATA_DIR: dir, POSTLINE_LOG_LEVEL: 'silent' });
    await runCli(env, ['tenant', 'create', 'acme']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('user create --admin makes an instance admin; --tenant NAME --role owner a tenant owner; --json prints the user without secrets', async () => {
    const admin = await runCli(env, ['user', 'create', 'Ops@Example.test', '--password', 'correct horse battery', '--admin']);
    assert.deepEqual([admin.email, admin.is_admin, admin.tenant_id, admin.role], ['ops@example.test', true, null, null]);
    const owner = await runCli(env, ['user', 'create', 'ann@acme.test', '--password', 'correct horse battery', '--tenant', 'acme', '--role', 'owner']);
    assert.deepEqual([owner.is_admin, owner.role], [false, 'owner']);
    assert.ok(!JSON.stringify(owner).includes('correct horse'));
  });

  it('takes the password from standard input with --password-stdin; the role defaults to viewer', async () => {
    const v = await json(['user', 'create', 'viewer@acme.test', '--password-stdin', '--tenant', 'acme'], 'a password from stdin\n');
    assert.equal(v.role, 'viewer');
  });

  it('fails with a stable code: USER_EMAIL_TAKEN, USER_TENANT_NOT_FOUND, USER_INVALID (short password), ARGUMENT_MISSING', async () => {
    assert.equal((await json(['user', 'create', 'ANN@acme.test', '--password', 'correct horse battery', '--admin'])).error.code, 'USER_EMAIL_TAKEN');
    assert.equal((await json(['user', 'create', 'b@acme.test', '--password', 'correct horse battery', '--tenant', 'nope'])).error.code, 'USER_TENANT_NOT_FOUND');
    assert.equal((await json(['user', 'create', 'b@acme.test', '--password', 'short', '--admin'])).error.code, 'USER_INVALID');
    assert.equal((await json(['user', 'create', 'b@acme.test', '--password', 'correct horse battery'])).error.code, 'ARGUMENT_MISSING');
    assert.equal((await json(['user', 'create', 'b@acme.test', '--password', 'correct horse battery', '--tenant', 'acme', '--role', 'god'])).error.code, 'ARGUMENT_INVALID');
  });

  it('user list shows every user (or one tenant\'s); user delete removes one by email', async () => {
    assert.deepEqual((await runCli(env, ['user', 'list'])).map((u: { email: string }) => u.email), ['ops@example.test', 'ann@acme.test', 'viewer@acme.test']);
    assert.equal((await runCli(env, ['user', 'list', '--tenant', 'acme'])).length, 2);
    const deleted = await runCli(env, ['user', 'delete', 'viewer@acme.test']);
    assert.equal(deleted.deleted.email, 'viewer@acme.test');
    assert.equal((await json(['user', 'delete', 'viewer@acme.test'])).error.code, 'USER_NOT_FOUND');
    const { stdout } = await execFileP(process.execPath, [MAIN, 'user', 'list'], { env: { ...process.env, ...env } });
    assert.match(stdout, /ann@acme\.test {2}owner of ten_/);
  });
});
