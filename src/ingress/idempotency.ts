// `X-Postline-Idempotency-Key` over SMTP: the API's Idempotency-Key for clients that submit
// by SMTP (docs/api.md). A tenant's submission (SMTP AUTH or a relay network) carrying the
// header is stored once: a repeat within 24 hours with the same key, envelope and DATA bytes
// answers 250 with the ORIGINAL queue id and queues nothing; a repeat with other content is
// refused with 554 5.6.0. Keys share the API's table, per tenant, so a key used by the API
// and then over SMTP (or the reverse) is a clash, as the two requests cannot be the same.
//
// The fingerprint is SHA-256 of the envelope (MAIL FROM, RCPT TOs in order) and the DATA
// bytes as received (after dot-unstuffing, before our header edits): what we add (Received,
// a missing Message-ID or Date) differs per attempt and must not make a retry look new.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { smtpError, SmtpError } from '../smtp/index.ts';
import { findIdempotencyKey, purgeIdempotencyKeys, saveIdempotencyKey, type Database, type Store } from '../store/index.ts';

export const IDEMPOTENCY_HEADER = 'x-postline-idempotency-key';
/** How long a key is remembered: as long as the API's. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
/** Marks rows written by SMTP, whose `response` is the queue id. */
const SMTP_STATUS = 250;
const PURGE_INTERVAL_MS = 60_000;

export interface SmtpIdempotencyClaim {
  readonly key: string;
  readonly fingerprint: string;
}

export type SmtpIdempotencyHit =
  | { readonly kind: 'replay'; readonly queueId: string }
  | { readonly kind: 'conflict' };

/** The header's value as a key; throws 550 5.6.0 for one the API would refuse too (1-255 printable ASCII). */
export function parseIdempotencyKey(value: string): string {
  if (!/^[\x20-\x7e]{1,255}$/.test(value) || value.trim() === '') {
    throw smtpError('C550BadContent', 'X-Postline-Idempotency-Key must be 1-255 printable ASCII characters');
  }
  return value;
}

const HEADER_END = Buffer.from('\r\n\r\n');
// The header at the start of a (possibly folded) field line, as splitHeaderFields reads it.
const KEY_FIELD = /(?:^|\n)x-postline-idempotency-key[ \t]*:/i;
/** Past this much without the end of the header section, hash anyway (intake refuses long before). */
const MAX_HEADER_SCAN_BYTES = 4 * 1024 * 1024;

/**
 * A pass-through stream that hashes the envelope and the DATA bytes flowing through it, but
 * only for a message whose header section carries the idempotency key: it holds the header
 * section's chunks until it has seen all of it, then either hashes from the first byte or
 * stops looking. Messages without the header (nearly all) cost a scan of their header only.
 */
export class FingerprintTap extends Transform {
  readonly #envelope: string;
  #hash: ReturnType<typeof createHash> | null = null;
  #held: Buffer[] | null = [];
  #heldBytes = 0;

  constructor(mailFrom: string, rcptTo: readonly string[]) {
    super();
    // Lengths first, so no choice of addresses can make two envelopes hash alike.
    this.#envelope = `smtp\n${[mailFrom, ...rcptTo].map((a) => `${Buffer.byteLength(a)}:${a}`).join('\n')}\n\n`;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null, data?: Buffer) => void): void {
    if (this.#hash) this.#hash.update(chunk);
    else if (this.#held) {
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      const head = Buffer.concat(this.#held, this.#heldBytes);
      this.#held = [head];
      const end = head.indexOf(HEADER_END);
      if (end >= 0) this.#decide(head.subarray(0, end + 2).toString('latin1'));
      else if (this.#heldBytes > MAX_HEADER_SCAN_BYTES) this.#startHash();
    }
    callback(null, chunk);
  }

  override _flush(callback: (err?: Error | null) => void): void {
    // A message that is all header section (no blank line).
    if (this.#held) this.#decide(Buffer.concat(this.#held, this.#heldBytes).toString('latin1'));
    callback();
  }

  #decide(headerSection: string): void {
    if (KEY_FIELD.test(headerSection)) this.#startHash();
    else this.#held = null;
  }

  #startHash(): void {
    this.#hash = createHash('sha256').update(this.#envelope);
    for (const c of this.#held ?? []) this.#hash.update(c);
    this.#held = null;
  }

  /** base64url SHA-256; call once, after the stream has ended, for a message that has the key. */
  fingerprint(): string {
    if (!this.#hash) throw new Error('no fingerprint: the message carries no X-Postline-Idempotency-Key');
    return this.#hash.digest('base64url');
  }
}

/** The live record of the key, if any, read in the caller's write transaction. */
export async function findSmtpIdempotencyHit(trx: Kysely<Database>, tenantId: string, claim: SmtpIdempotencyClaim, now: number): Promise<SmtpIdempotencyHit | null> {
  const row = await findIdempotencyKey(trx, tenantId, claim.key, now);
  if (!row) return null;
  if (row.fingerprint !== claim.fingerprint || Number(row.status) !== SMTP_STATUS) return { kind: 'conflict' };
  return { kind: 'replay', queueId: row.response };
}

/** Records the queue id for the key, in the transaction that stores the message. */
export async function rememberQueueId(trx: Kysely<Database>, tenantId: string, claim: SmtpIdempotencyClaim, queueId: string, now: number): Promise<void> {
  await saveIdempotencyKey(trx, {
    tenant_id: tenantId, key: claim.key, fingerprint: claim.fingerprint, status: SMTP_STATUS, response: queueId, created_at: now, expires_at: now + IDEMPOTENCY_TTL_MS,
  });
}

/** The reply to a key reused with other content (RFC 3463 X.6.0: other or undefined media error). */
export function idempotencyConflict(key: string): SmtpError {
  return new SmtpError(554, '5.6.0', `Idempotency key reused with different content (X-Postline-Idempotency-Key "${key.slice(0, 64)}")`);
}

/** When each store last had its expired keys purged from here; the API purges too. */
const lastPurge = new WeakMap<Store, number>();

/** Removes expired keys at most once a minute, off the submission's path. */
export function maybePurgeIdempotencyKeys(store: Store, log: Logger, now = Date.now()): void {
  if (now - (lastPurge.get(store) ?? 0) < PURGE_INTERVAL_MS) return;
  lastPurge.set(store, now);
  store.write((trx) => purgeIdempotencyKeys(trx, now), { durable: false })
    .catch((err: unknown) => log.warn({ err }, 'could not purge expired idempotency keys'));
}
