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

const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
const OUT = new Uint8Array(26);
let lastTime = -1;

/** A 26-character time-sortable id. */
export function newId(now = Date.now()): string {
  if (now !== lastTime) {
    // 48-bit time: 10 base32 characters, most significant first.
    let time = now;
    for (let i = 9; i >= 0; i--) {
      OUT[i] = CODES[time % 32];
      time = Math.floor(time / 32);
    }
    lastTime = now;
  }
  // 80 random bits: 16 characters, 5 bits each, from two 40-bit halves.
  const rnd = randomBytes10();
  for (let half = 0; half < 2; half++) {
    const o = half * 5;
    let v = rnd[o] * 2 ** 32 + ((rnd[o + 1] << 24) >>> 0) + (rnd[o + 2] << 16) + (rnd[o + 3] << 8) + rnd[o + 4];
    for (let i = 7; i >= 0; i--) {
      OUT[10 + half * 8 + i] = CODES[v % 32];
      v = Math.floor(v / 32);
    }
  }
  return String.fromCharCode(...OUT);
}

/** A prefixed public id such as `ten_01J…` or `evt_01J…`. */
export function newPublicId(prefix: string, now?: number): string {
  return `${prefix}_${newId(now)}`;
}
