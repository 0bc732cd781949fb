// Who is calling: `Authorization: Bearer <token>` (RFC 6750 §2.1) is either the admin token
// or a tenant API key `pl_<keyId>_<secret>`. Anything else, a revoked or unknown key, or no
// header at all answers 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiKeyScope, Store } from '../store/index.ts';
import { findApiKeyWithTenant, touchApiKey } from '../store/index.ts';
import { ApiProblem } from './problem.ts';
import { apiKeySecretMatches, tryParseApiKey } from './api-key-token.ts';
import type { ApiRateLimits, TakeResult } from './rate-limit.ts';

export const API_KEY_SCOPES = ['send', 'read', 'manage'] as const satisfies readonly ApiKeyScope[];

/** A tenant id that came from an authenticated principal, never from request input. */
export type TenantId = string & { readonly __brand: 'TenantId' };

export type Principal =
  | { readonly kind: 'admin' }
  | {
    readonly kind: 'key';
    readonly tenantId: TenantId;
    readonly tenantName: string;
    /** Sandbox tenants' mail is captured, not sent. */
    readonly sandbox: boolean;
    readonly keyId: string;
    readonly scopes: readonly ApiKeyScope[];
  };

const REALM = 'postline';

/** The RFC 6750 §3 challenge. Without credentials there is no `error` (§3.1). */
export function bearerChallenge(error?: 'invalid_token' | 'insufficient_scope', scope?: string): string {
  let value = `Bearer realm="${REALM}"`;
  if (error) value += `, error="${error}"`;
  if (scope) value += `, scope="${scope}"`;
  return value;
}

function unauthorized(detail: string, error?: 'invalid_token'): ApiProblem {
  return new ApiProblem('unauthorized', detail, { headers: { 'www-authenticate': bearerChallenge(error) } });
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export interface AuthenticatorOptions {
  readonly store: Store;
  /** The admin token; null disables admin access (tests, or a node that only serves tenants). */
  readonly adminToken: string | null;
  readonly log: Logger;
  /** last_used_at is written at most this often per key (default one minute), not per request. */
  readonly touchIntervalMs?: number;
  /** Per-key and per-IP token buckets (rate-limit.ts); none: no limits. */
  readonly rateLimits?: ApiRateLimits | null;
}

export class Authenticator {
  readonly #store: Store;
  readonly #adminDigest: Buffer | null;
  readonly #log: Logger;
  readonly #touchIntervalMs: number;
  /** keyId → when we last wrote (or started writing) its last_used_at. */
  readonly #touched = new Map<string, number>();
  readonly #limits: ApiRateLimits | null;

  constructor(options: AuthenticatorOptions) {
    this.#store = options.store;
    this.#limits = options.rateLimits ?? null;
    this.#adminDigest = options.adminToken ? digest(options.adminToken) : null;
    this.#log = options.log;
    this.#touchIntervalMs = options.touchIntervalMs ?? 60_000;
  }

  /**
   * The principal for an Authorization header value; throws a 401 ApiProblem, or 429 when a
   * rate limit is exceeded. `ip` is the peer: a request from an IP whose unauthenticated
   * budget is spent is refused before its credentials are looked up; one that fails
   * authentication spends from that budget. A valid key spends from its own bucket.
   */
  async authenticate(authorization: string | undefined, ip: string | null = null): Promise<Principal> {
    const limits = this.#limits;
    if (!limits) return this.#verify(authorization);
    if (ip !== null) this.#enforce(limits.perIp.check(ip), 'ip', { ip });
    let principal: Principal;
    try {
      principal = await this.#verify(authorization);
    } catch (err) {
      if (ip !== null && err instanceof ApiProblem && err.status === 401) this.#enforce(limits.perIp.take(ip), 'ip', { ip });
      throw err;
    }
    // The admin token is not limited: it is one operator, and must stay usable to fix a runaway tenant.
    if (principal.kind === 'key') this.#enforce(limits.perKey.take(principal.keyId), 'key', { keyId: principal.keyId, tenant: principal.tenantName });
    return principal;
  }

  /** Throws the 429 for a refused take; logs the first refusal of a bucket per window, not every hit. */
  #enforce(result: TakeResult, limit: 'key' | 'ip', who: Record<string, string>): void {
    if (result.ok) return;
    if (result.firstInWindow) this.#log.warn({ ...who, limit, retryAfterSeconds: result.retryAfterSeconds }, `API ${limit === 'key' ? 'key' : 'client IP'} rate limit exceeded (further refusals this minute are not logged)`);
    const detail = limit === 'key'
      ? `this API key exceeded its rate limit; retry after ${result.retryAfterSeconds} s`
      : `too many requests without a valid API key from this address; retry after ${result.retryAfterSeconds} s`;
    throw new ApiProblem('rate-limited', detail, { retryAfterSeconds: result.retryAfterSeconds, extensions: { limit } });
  }

  async #verify(authorization: string | undefined): Promise<Principal> {
    if (!authorization) throw unauthorized('send "Authorization: Bearer <API key or admin token>"');
    // RFC 9110 §11.1: the auth scheme is case-insensitive.
    const m = /^bearer +(\S+) *$/i.exec(authorization);
    if (!m) throw unauthorized('the Authorization header must use the Bearer scheme (RFC 6750 §2.1)', 'invalid_token');
    const token = m[1];
    const parsed = tryParseApiKey(token);
    if (!parsed) {
      // Compare digests, so the comparison is constant-time whatever the token's length.
      if (this.#adminDigest && timingSafeEqual(digest(token), this.#adminDigest)) return { kind: 'admin' };
      throw unauthorized('the token is not a valid API key or admin token', 'invalid_token');
    }
    const found = await findApiKeyWithTenant(this.#store.db, parsed.id);
    if (!found || found.key.revoked_at !== null || !apiKeySecretMatches(parsed.secret, found.key.secret_hash)) {
      throw unauthorized('the API key is unknown or revoked', 'invalid_token');
    }
    this.#touch(found.key.id, found.key.last_used_at);
    return {
      kind: 'key',
      tenantId: found.tenant.id as TenantId,
      tenantName: found.tenant.name,
      sandbox: found.tenant.sandbox,
      keyId: found.key.id,
      scopes: found.key.scopes.split(',').filter((s): s is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(s)),
    };
  }

  #touch(keyId: string, storedAt: number | null): void {
    const now = Date.now();
    const last = Math.max(storedAt === null ? 0 : Number(storedAt), this.#touched.get(keyId) ?? 0);
    if (now - last < this.#touchIntervalMs) return;
    if (this.#touched.size > 10_000) this.#touched.clear();
    this.#touched.set(keyId, now);
    // Not durable: losing a last-used time in a crash loses nothing that matters.
    this.#store.write((trx) => touchApiKey(trx, keyId, now), { durable: false })
      .catch((err: unknown) => this.#log.warn({ err, keyId }, 'could not record API key use'));
  }
}

/** The authenticated caller; throws 401 outside an authenticated route group. */
export function principalOf(request: FastifyRequest): Principal {
  const p = request.principal;
  if (!p) throw unauthorized('this route requires authentication');
  return p;
}

/** The caller's tenant. Use it for every store query in a tenant route: it is the isolation boundary. */
export function tenantIdOf(request: FastifyRequest): TenantId {
  const p = principalOf(request);
  if (p.kind !== 'key') throw new ApiProblem('forbidden', 'this route takes a tenant API key, not the admin token');
  return p.tenantId;
}

/** Throws 403 (RFC 6750 §3.1 insufficient_scope) unless the caller's key has `scope`. The admin passes. */
export function assertScope(request: FastifyRequest, scope: ApiKeyScope): void {
  const p = principalOf(request);
  if (p.kind === 'admin' || p.scopes.includes(scope)) return;
  throw new ApiProblem('forbidden', `this API key lacks the "${scope}" scope`, {
    code: 'API_INSUFFICIENT_SCOPE',
    headers: { 'www-authenticate': bearerChallenge('insufficient_scope', scope) },
  });
}

/** A hook for `onRequest`/`preHandler` that requires every one of `scopes`. */
export function requireScope(...scopes: ApiKeyScope[]): onRequestHookHandler {
  return async function requireScopeHook(request) {
    for (const s of scopes) assertScope(request, s);
  };
}
