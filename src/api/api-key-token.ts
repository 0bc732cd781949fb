// API key tokens: `pl_<keyId>_<secret>`, keyId `key_` + a 26-character ULID, secret 32
// random bytes in base64url (43 characters). Only SHA-256(secret) is stored.
//
// Why SHA-256 and not scrypt (as for SMTP passwords): the secret is 256 bits from the CSPRNG,
// so there is nothing to brute-force and no dictionary to slow down; a key-stretching hash
// would only cost every API request a thread-pool round trip (tens of ms at 50 clients).
// Hashing 43 bytes takes about a microsecond, so doing it on the loop blocks nothing.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newPublicId } from '../store/index.ts';

export const API_KEY_SECRET_BYTES = 32;
const TOKEN_RE = /^pl_(key_[0-9A-HJKMNP-TV-Z]{26})_([A-Za-z0-9_-]{43,128})$/;

export interface MintedApiKey {
  readonly id: string;
  /** The full token, shown to the user once. */
  readonly token: string;
  /** base64url SHA-256 of the secret: what the store keeps. */
  readonly secretHash: string;
}

export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** A new key id, token and digest (nothing is stored here). */
export function mintApiKey(): MintedApiKey {
  const id = newPublicId('key');
  const secret = randomBytes(API_KEY_SECRET_BYTES).toString('base64url');
  return { id, token: `pl_${id}_${secret}`, secretHash: hashApiKeySecret(secret) };
}

/** Splits a token into key id and secret; undefined when it is not shaped like one of ours. */
export function tryParseApiKey(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1], secret: m[2] } : undefined;
}

/** Constant-time comparison of a presented secret with the stored digest. */
export function apiKeySecretMatches(secret: string, storedHash: string): boolean {
  const presented = createHash('sha256').update(secret).digest();
  const stored = Buffer.from(storedHash, 'base64url');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
