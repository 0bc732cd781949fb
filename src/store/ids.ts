// Identifiers: ULID-shaped (48-bit ms time + 80 random bits, Crockford base32), so ids sort
// by creation time and a queue id tells an operator roughly when mail arrived.
import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let offset = POOL_SIZE;

function randomBytes10(): Buffer {
  if (offset + 10 > pool.length) {
    pool = Buffer.allocUnsafe(POOL_SIZE);
    randomFillSync(pool);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + 10);
  offset += 10;
  return out;
}

/** A 26-character time-sortable id. */
export function newId(now = Date.now()): string {
  let out = '';
  let time = now;
  for (let i = 9; i >= 0; i--) {
    out = ALPHABET[time % 32] + out;
    time = Math.floor(time / 32);
  }
  const rnd = randomBytes10();
  // 80 bits → 16 base32 characters, 5 bits at a time.
  let bits = 0;
  let acc = 0;
  for (const byte of rnd) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** A prefixed public id such as `ten_01J…` or `evt_01J…`. */
export function newPublicId(prefix: string, now?: number): string {
  return `${prefix}_${newId(now)}`;
}
