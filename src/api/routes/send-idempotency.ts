// `Idempotency-Key` on the send endpoints (draft-ietf-httpapi-idempotency-key-header): the
// first request with a key is carried out and its response remembered for 24 hours per
// tenant; a repeat with the same method, route and body bytes gets that response again
// (with `Idempotent-Replayed: true`) and sends nothing; a repeat with another request is a
// 409. The body is hashed while it streams in (preParsing), so the fingerprint is of the
// bytes received and costs no second pass.
import { createHash, type Hash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream';
import type { FastifyReply, FastifyRequest, preParsingHookHandler } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database, Store } from '../../store/index.ts';
import { findIdempotencyKey, purgeIdempotencyKeys, saveIdempotencyKey } from '../../store/index.ts';
import { ApiProblem } from '../problem.ts';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** How long a key is remembered. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
const PURGE_INTERVAL_MS = 60_000;

export interface IdempotencyClaim {
  readonly key: string;
  readonly fingerprint: string;
}

/** What an earlier request with the key left: its response, or a clash with this request. */
export type IdempotencyHit =
  | { readonly kind: 'replay'; readonly status: number; readonly body: string }
  | { readonly kind: 'conflict' };

const hashes = new WeakMap<FastifyRequest, Hash>();

/** The key of a request, or null without the header; throws a 400 problem for a malformed one. */
export function idempotencyKeyOf(request: FastifyRequest): string | null {
  const value = request.headers[IDEMPOTENCY_HEADER];
  if (value === undefined) return null;
  // The draft defines the value as a structured-field string (RFC 8941 §3.3.3, quoted); a
  // bare token is what most clients send, so both are taken.
  const raw = Array.isArray(value) ? value.join(',') : value;
  const key = /^"(.*)"$/.test(raw) ? raw.slice(1, -1) : raw;
  if (!/^[\x20-\x7e]{1,255}$/.test(key) || key.trim() === '') {
    const detail = 'Idempotency-Key must be 1-255 printable ASCII characters';
    throw new ApiProblem('validation', detail, { code: 'API_IDEMPOTENCY_KEY_INVALID', errors: [{ in: 'header', pointer: `/${IDEMPOTENCY_HEADER}`, detail }] });
  }
  return key;
}

/** preParsing hook: hashes method, route and body bytes of requests that carry a key. */
export const hashIdempotentBody: preParsingHookHandler = async (request, _reply, payload) => {
  if (request.headers[IDEMPOTENCY_HEADER] === undefined) return payload;
  const hash = createHash('sha256').update(`${request.method} ${request.routeOptions.url}\n`);
  hashes.set(request, hash);
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  // Errors of the request stream reach Fastify through the tap (pipeline destroys it).
  return pipeline(payload, tap, () => undefined);
};

/** The claim for this request, or null when it has no Idempotency-Key. Call after the body was read. */
export function idempotencyClaimOf(request: FastifyRequest): IdempotencyClaim | null {
  const key = idempotencyKeyOf(request);
  if (key === null) return null;
  let hash = hashes.get(request);
  if (!hash) {
    // No body (DELETE) or the hook did not run: the fingerprint is the route alone.
    hash = createHash('sha256').update(`${request.method} ${request.routeOptions.url}\n`);
  }
  hashes.delete(request);
  return { key, fingerprint: hash.digest('base64url') };
}

/** Looks the key up (in a transaction or not); null when it is new or expired. */
export async function findIdempotencyHit(db: Kysely<Database>, tenantId: string, claim: IdempotencyClaim, now = Date.now()): Promise<IdempotencyHit | null> {
  const row = await findIdempotencyKey(db, tenantId, claim.key, now);
  if (!row) return null;
  if (row.fingerprint !== claim.fingerprint) return { kind: 'conflict' };
  return { kind: 'replay', status: Number(row.status), body: row.response };
}

/** Records the response of the first request with the key, in the caller's transaction. */
export async function rememberResponse(db: Kysely<Database>, tenantId: string, claim: IdempotencyClaim, status: number, body: string, now = Date.now()): Promise<void> {
  await saveIdempotencyKey(db, { tenant_id: tenantId, key: claim.key, fingerprint: claim.fingerprint, status, response: body, created_at: now, expires_at: now + IDEMPOTENCY_TTL_MS });
}

/** The 409 for a key that was used with another request. */
export function idempotencyConflict(claim: IdempotencyClaim): ApiProblem {
  return new ApiProblem('conflict', `Idempotency-Key "${claim.key}" was used for a different request in the last 24 hours`, {
    code: 'API_IDEMPOTENCY_KEY_REUSED',
    errors: [{ in: 'header', pointer: `/${IDEMPOTENCY_HEADER}`, detail: 'used before with another method, route or body' }],
  });
}

/** Sends the remembered response again. */
export function sendReplay(reply: FastifyReply, hit: { readonly status: number; readonly body: string }): FastifyReply {
  return reply.code(hit.status).header('idempotent-replayed', 'true').type('application/json; charset=utf-8').send(hit.body);
}

/** Removes expired keys now and then (at most once a minute), off the request's path. */
export class IdempotencyPurger {
  readonly #store: Store;
  #last = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  maybePurge(onError: (err: unknown) => void, now = Date.now()): void {
    if (now - this.#last < PURGE_INTERVAL_MS) return;
    this.#last = now;
    this.#store.write((trx) => purgeIdempotencyKeys(trx, now), { durable: false }).catch(onError);
  }
}
