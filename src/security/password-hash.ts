// Passwords and tokens are stored as scrypt hashes: `scrypt$N$r$p$salt$hash` (base64).
// The callback form of scrypt runs on the thread pool, so hashing never blocks the loop.
import { scrypt, randomBytes, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { Gate } from '../concurrency/gate.ts';

const N = 16384;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

// Each scrypt holds 128·N·r bytes (16 MiB here) on a pool thread, and glibc keeps that memory
// with the thread afterwards: an AUTH flood on 16 pool threads would pin 256 MiB. At most
// 4 run at once; the rest wait their turn (they are slow on purpose anyway).
const scrypts = new Gate(4);

function scryptAsync(secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return scrypts.run(() => new Promise((resolve, reject) => scrypt(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)))));
}

export async function hashPassword(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, KEY_BYTES, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  const key = await scryptAsync(secret, salt, expected.length, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A random secret for passwords and tokens, URL-safe. */
export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}
