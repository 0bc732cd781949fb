// Encryption at rest for secrets Postline must be able to read back (webhook signing
// secrets, DKIM private keys): AES-256-GCM with a 32-byte key from configuration or the data
// dir (secret-key.ts). The stored form is versioned, `v1:<iv>:<tag>:<ciphertext>` (base64),
// so the algorithm can change without guessing. A fresh 96-bit IV per value (NIST SP
// 800-38D §8.2.2: random IVs are fine far below 2^32 encryptions under one key). `context`
// is bound as associated data, so a sealed value copied into another column or row does
// not open there.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PREFIX = 'v1:';

export class SecretBoxError extends Error {
  readonly code: 'SECRET_KEY_INVALID' | 'SECRET_UNREADABLE';
  constructor(code: 'SECRET_KEY_INVALID' | 'SECRET_UNREADABLE', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

function assertKey(key: Buffer): void {
  if (key.length !== SECRET_KEY_BYTES) throw new SecretBoxError('SECRET_KEY_INVALID', `the secret key must be ${SECRET_KEY_BYTES} bytes, got ${key.length}`);
}

/** True when `stored` is in a sealed form (as opposed to a legacy plaintext value). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** Encrypts `plaintext` for storage; `context` (e.g. `webhook:whk_…`) must be given again to open it. */
export function sealSecret(key: Buffer, plaintext: string, context = ''): string {
  assertKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${PREFIX}${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${ct.toString('base64')}`;
}

/**
 * The plaintext of a sealed value; throws SecretBoxError `SECRET_UNREADABLE` when it is
 * malformed, was sealed with another key or context, or was tampered with.
 */
export function openSecret(key: Buffer, stored: string, context = ''): string {
  assertKey(key);
  if (!isSealed(stored)) throw new SecretBoxError('SECRET_UNREADABLE', 'not a sealed secret (expected v1:…)');
  const parts = stored.slice(PREFIX.length).split(':');
  if (parts.length !== 3) throw new SecretBoxError('SECRET_UNREADABLE', 'a sealed secret has three parts after v1:');
  const [iv, tag, ct] = parts.map((p) => Buffer.from(p, 'base64'));
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretBoxError('SECRET_UNREADABLE', 'a sealed secret has a bad IV or tag length');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new SecretBoxError('SECRET_UNREADABLE', 'the secret does not open with this key (wrong secret key, or the value was altered)', { cause: err });
  }
}

/** Opens a sealed value, or returns a legacy plaintext one as it is (rows written before encryption). */
export function openSecretOrPlain(key: Buffer, stored: string, context = ''): string {
  return isSealed(stored) ? openSecret(key, stored, context) : stored;
}
