// The key that seals secrets: configured (POSTLINE_SECRET_KEY), a configured file, or
// <data_dir>/secret.key generated once with mode 0600.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { loadSecretKey, secretKeyOf } from '../../src/security/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'postline-secret-key-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('security/secret-key: loadSecretKey', () => {
  it('generates <data_dir>/secret.key (0600, base64 of 32 bytes) on first use and returns the same key after', async () => {
    const dataDir = join(dir, 'gen');
    const key = await loadSecretKey({ dataDir });
    assert.equal(key.length, 32);
    const file = join(dataDir, 'secret.key');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64'), key);
    assert.deepEqual(await loadSecretKey({ dataDir }), key);
  });

  it('uses POSTLINE_SECRET_KEY when set, and makes no file', async () => {
    const raw = randomBytes(32);
    const dataDir = join(dir, 'env');
    const config = loadConfig({ env: { POSTLINE_DATA_DIR: dataDir, POSTLINE_SECRET_KEY: raw.toString('base64') } });
    assert.deepEqual(await secretKeyOf(config), raw);
    await assert.rejects(stat(join(dataDir, 'secret.key')), { code: 'ENOENT' });
  });

  it('reads security.secret_key_file, and refuses a malformed key with SECRET_KEY_INVALID', async () => {
    const raw = randomBytes(32);
    const file = join(dir, 'given.key');
    writeFileSync(file, `${raw.toString('base64')}\n`, { mode: 0o600 });
    assert.deepEqual(await loadSecretKey({ dataDir: join(dir, 'unused'), secretKeyFile: file }), raw);
    await assert.rejects(loadSecretKey({ dataDir: dir, secretKey: 'c2hvcnQ=' }), { code: 'SECRET_KEY_INVALID' });
    await assert.rejects(loadSecretKey({ dataDir: dir, secretKeyFile: join(dir, 'missing.key') }), { code: 'ENOENT' });
  });
});
