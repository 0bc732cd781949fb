// Who is calling: `Authorization: Bearer <token>` (RFC 6750 §2.1) is either the admin token
// or a tenant API key `pl_<keyId>_<secret>`. Anything else, a revoked or unknown key, or no
// header at all answers 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3).
// Without an Authorization header, a dashboard session cookie (web/) authenticates as its
// user: an admin user as the admin, a tenant user as a principal of its tenant whose scopes
// follow its role; its state-changing requests must carry the session's CSRF token.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { CSRF_HEADER, SESSION_COOKIE, csrfTokenMatches, readCookie, type WebSessions } from '../web/index.ts';
import type { ApiKeyScope, ApiKeyWithTenant, Store } from '../store/index.ts';
import { findApiKeyWithTenant, touchApiKey } from '../store/index.ts';
import { ApiProblem } from './problem.ts';
import { apiKeySecretMatches, tryParseApiKey } from './api-key-token.ts';
import type { ApiRateLimits, TakeResult } from './rate-limit.ts';

export const API_KEY_SCOPES = ['send', 'read', 'manage'] as const satisfies readonly ApiKeyScope[];

/** A tenant id that came from an authenticated principal, never from request input. */
export type TenantId = string & { readonly __brand: 'TenantId' };

export type Principal =
  | {
    readonly kind: 'admin';
    /** A signed-in admin user (dashboard session); absent for the admin token. */
    readonly userId?: string;
  }
  | {
    readonly kind: 'key';
    readonly tenantId: TenantId;
    readonly tenantName: string;
    /** Sandbox tenants' mail is captured, not sent. */
    readonly sandbox: boolean;
    /** The API key id; for a dashboard session, the user id (its rate-limit bucket). */
    readonly keyId: string;
    readonly scopes: readonly ApiKeyScope[];
    /** A signed-in tenant user (dashboard session); absent for an API key. */
    readonly userId?: string;
    readonly role?: 'owner' | 'viewer';
  };

/** Scopes of a tenant user's session: an owner does what a key with every scope does; a viewer only reads. */
export const ROLE_SCOPES = {
  owner: ['send', 'read', 'manage'],
  viewer: ['read'],
} as const satisfies Record<'owner' | 'viewer', readonly ApiKeyScope[]>;

/** RFC 9110 §9.2.1: the safe methods, which need no CSRF token. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

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
  /** Dashboard sessions (web.enabled); null: only bearer tokens authenticate. */
  readonly sessions?: WebSessions | null;
  /** http.key_cache: how long a key read from the store is used before it is read again (0: never kept). */
  readonly keyCacheMs?: number;
}

/** Keys kept at most (a key id is 26 characters; beyond this the cache starts over). */
const MAX_CACHED_KEYS = 10_000;

export class Authenticator {
  readonly #store: Store;
  readonly #adminDigest: Buffer | null;
  readonly #log: Logger;
  readonly #touchIntervalMs: number;
  /** keyId → when we last wrote (or started writing) its last_used_at. */
  readonly #touched = new Map<string, number>();
  readonly #limits: ApiRateLimits | null;
  readonly #sessions: WebSessions | null;
  readonly #keyCacheMs: number;
  /** keyId → the key and tenant as read, and when (http.key_cache). */
  readonly #keys = new Map<string, { readonly found: ApiKeyWithTenant; readonly at: number }>();

  constructor(options: AuthenticatorOptions) {
    this.#store = options.store;
    this.#sessions = options.sessions ?? null;
    this.#limits = options.rateLimits ?? null;
    this.#adminDigest = options.adminToken ? digest(options.adminToken) : null;
    this.#log = options.log;
    this.#touchIntervalMs = options.touchIntervalMs ?? 60_000;
    this.#keyCacheMs = options.keyCacheMs ?? 0;
  }

  /** Drops every key read so far: after a revocation, or a tenant changed or deleted, through this node. */
  forgetKeys(): void {
    this.#keys.clear();
  }

  /** The key and its tenant: from the cache while fresh (http.key_cache), else the store (a read per request was ~5 % of a single send). */
  async #findKey(id: string): Promise<ApiKeyWithTenant | undefined> {
    const now = Date.now();
    const hit = this.#keys.get(id);
    if (hit && now - hit.at < this.#keyCacheMs) return hit.found;
    const found = await findApiKeyWithTenant(this.#store.db, id);
    if (found && this.#keyCacheMs > 0) {
      if (this.#keys.size >= MAX_CACHED_KEYS) this.#keys.clear();
      this.#keys.set(id, { found, at: now });
    } else this.#keys.delete(id);
    return found;
  }

  /** Dashboard sessions, when enabled. */
  get sessions(): WebSessions | null {
    return this.#sessions;
  }

  /**
   * The principal of a request: its Authorization header when it has one (a bearer token
   * always wins), else its session cookie. A cookie-authenticated request with an unsafe
   * method must carry `X-CSRF-Token` equal to the session's CSRF token (403 otherwise): a
   * cross-site form can send the cookie, but cannot read the token or set the header.
   */
  async authenticateRequest(request: FastifyRequest): Promise<Principal> {
    const cookie = this.#sessions && request.headers.authorization === undefined ? readCookie(request.headers.cookie, SESSION_COOKIE) : undefined;
    if (cookie === undefined) return this.authenticate(request.headers.authorization, request.ip);
    return this.#limited(request.ip, async () => {
      const found = await this.#sessions!.find(cookie);
      if (!found) throw unauthorized('the dashboard session has expired or was signed out; sign in again', 'invalid_token');
      if (!SAFE_METHODS.has(request.method) && !csrfTokenMatches(cookie, headerValue(request.headers[CSRF_HEADER]))) {
        throw new ApiProblem('forbidden', `a request authenticated by the session cookie must send the session's CSRF token in ${CSRF_HEADER} (GET /api/v1/session answers it)`, { code: 'API_CSRF_TOKEN_INVALID' });
      }
      const { user, tenant } = found;
      if (user.is_admin === 1) return { kind: 'admin', userId: user.id };
      if (!tenant || (user.role !== 'owner' && user.role !== 'viewer')) throw unauthorized('this user belongs to no tenant', 'invalid_token');
      return {
        kind: 'key', tenantId: tenant.id as TenantId, tenantName: tenant.name, sandbox: tenant.sandbox,
        keyId: user.id, scopes: ROLE_SCOPES[user.role], userId: user.id, role: user.role,
      };
    });
  }

  /**
   * The principal for an Authorization header value; throws a 401 ApiProblem, or 429 when a
   * rate limit is exceeded. `ip` is the peer: a request from an IP whose unauthenticated
   * budget is spent is refused before its credentials are looked up; one that fails
   * authentication spends from that budget. A valid key spends from its own bucket.
   */
  async authenticate(authorization: string | undefined, ip: string | null = null): Promise<Principal> {
    return this.#limited(ip, () => this.#verify(authorization));
  }

  /** Runs `verify` inside the rate limits: the IP's budget before and on a 401, the principal's bucket after. */
  async #limited(ip: string | null, verify: () => Promise<Principal>): Promise<Principal> {
    const limits = this.#limits;
    if (!limits) return verify();
    if (ip !== null) this.#enforce(limits.perIp.check(ip), 'ip', { ip });
    let principal: Principal;
    try {
      principal = await verify();
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
    const found = await this.#findKey(parsed.id);
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
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
  const who = p.role === undefined ? 'this API key lacks' : `a tenant ${p.role} (dashboard user) lacks`;
  throw new ApiProblem('forbidden', `${who} the "${scope}" scope`, {
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
