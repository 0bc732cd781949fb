// The key that seals secrets at rest (secret-box.ts), from the first of: `security.secret_key`
// (POSTLINE_SECRET_KEY, base64 of 32 bytes), the file `security.secret_key_file`, or
// `<data_dir>/secret.key`, generated on first use with mode 0600. Several nodes that share a
// database must be given the same key. Loaded once per process and source; never logged.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { SECRET_KEY_BYTES, SecretBoxError } from './secret-box.ts';

export interface SecretKeySource {
  readonly dataDir: string;
  /** Base64 of 32 bytes, or null. */
  readonly secretKey?: string | null;
  /** A file holding base64 of 32 bytes, or null. */
  readonly secretKeyFile?: string | null;
}

const cache = new Map<string, Promise<Buffer>>();

function decodeKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(t) ? Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64') : Buffer.alloc(0);
  if (key.length !== SECRET_KEY_BYTES) {
    throw new SecretBoxError('SECRET_KEY_INVALID', `${where}: expected base64 of ${SECRET_KEY_BYTES} random bytes (openssl rand -base64 32)`);
  }
  return key;
}

async function readOrCreate(file: string, create: boolean): Promise<Buffer> {
  try {
    return decodeKey(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) throw err;
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  try {
    // 'wx': if another process made it first, we read theirs below.
    await writeFile(file, `${randomBytes(SECRET_KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return decodeKey(await readFile(file, 'utf8'), file);
}

/** The secret key for `source`; throws SecretBoxError `SECRET_KEY_INVALID` when a configured key is malformed. */
export function loadSecretKey(source: SecretKeySource): Promise<Buffer> {
  if (source.secretKey) {
    try {
      return Promise.resolve(decodeKey(source.secretKey, 'security.secret_key'));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
  const file = source.secretKeyFile ? resolve(source.secretKeyFile) : join(resolve(source.dataDir), 'secret.key');
  let p = cache.get(file);
  if (!p) {
    p = readOrCreate(file, !source.secretKeyFile);
    cache.set(file, p);
    // A failed read is not remembered: the operator may fix the file and retry.
    p.catch(() => cache.delete(file));
  }
  return p;
}

/** The key named by a loaded configuration. */
export function secretKeyOf(config: { readonly data_dir: string; readonly security: { readonly secret_key: string | null; readonly secret_key_file: string | null } }): Promise<Buffer> {
  return loadSecretKey({ dataDir: config.data_dir, secretKey: config.security.secret_key, secretKeyFile: config.security.secret_key_file });
}
