// Dashboard sign-in and sessions: checks a user's password (scrypt, on the thread pool),
// throttles failures per IP and per account, and keeps sessions as token digests with a
// fixed expiry (web.session_ttl from sign-in; not sliding). The API's Authenticator asks
// `find()` for the session behind a cookie; routes/session.ts drives sign-in and sign-out.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import {
  deleteSession, findLiveSession, findUserByEmail, insertSession, normaliseUserEmail, purgeExpiredSessions, touchUserLogin,
  type SessionWithUser, type Store,
} from '../store/index.ts';
import { hashPassword, recordAudit, verifyPassword } from '../security/index.ts';
import { isSessionTokenShaped, mintSessionToken, sessionCookie, sessionIdOf } from './session-token.ts';
import { SigninThrottle } from './signin-throttle.ts';

export type SigninResult =
  | { readonly ok: true; readonly token: string; readonly session: SessionWithUser }
  | { readonly ok: false; readonly code: 'WEB_SIGNIN_FAILED' }
  | { readonly ok: false; readonly code: 'WEB_SIGNIN_THROTTLED'; readonly limit: 'ip' | 'account'; readonly retryAfterSeconds: number };

export interface WebSessionsOptions {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
}

/** Expired sessions are deleted by the next sign-in at most this often. */
const PURGE_INTERVAL_MS = 3_600_000;

export class WebSessions {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #secureCookie: boolean | null;
  readonly #throttle: SigninThrottle;
  #dummyHash: Promise<string> | null = null;
  #lastPurge = 0;

  constructor(options: WebSessionsOptions) {
    this.#store = options.store;
    this.#log = options.log;
    const web = options.config.web;
    this.#ttlMs = web.session_ttl;
    this.#secureCookie = web.secure_cookie;
    this.#throttle = new SigninThrottle({
      maxFailuresPerIp: web.signin_max_failures_per_ip, maxFailuresPerAccount: web.signin_max_failures_per_account, windowMs: web.signin_block_duration,
    });
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /**
   * Checks the password and opens a session. An unknown address costs the same scrypt as a
   * wrong password, so the answer's timing does not tell which addresses have accounts.
   */
  async signIn(email: string, password: string, ip: string, now = Date.now(), options: { exemptIp?: boolean } = {}): Promise<SigninResult> {
    const account = normaliseUserEmail(email);
    // The operator (a request with the admin token) spends from no per-IP budget, as on the API.
    const throttleIp = options.exemptIp ? `operator:${account}` : ip;
    const refused = this.#throttle.check(throttleIp, account, now);
    if (refused) {
      this.#log.info({ ip, limit: refused.limit }, 'dashboard sign-in refused: too many failures');
      return { ok: false, code: 'WEB_SIGNIN_THROTTLED', ...refused };
    }
    const user = await findUserByEmail(this.#store.db, account);
    const matches = await verifyPassword(password, user?.password_hash ?? await this.#dummy());
    if (!user || !matches) {
      this.#throttle.fail(throttleIp, account, now);
      this.#log.info({ ip }, 'dashboard sign-in failed');
      return { ok: false, code: 'WEB_SIGNIN_FAILED' };
    }
    this.#throttle.succeed(throttleIp, account);
    const minted = mintSessionToken();
    const purge = now - this.#lastPurge > PURGE_INTERVAL_MS;
    if (purge) this.#lastPurge = now;
    await this.#store.write(async (trx) => {
      if (purge) await purgeExpiredSessions(trx, now);
      await insertSession(trx, { id: minted.id, user_id: user.id, created_at: now, expires_at: now + this.#ttlMs, ip });
      await touchUserLogin(trx, user.id, now);
      await recordAudit(trx, { kind: 'user', id: user.id, ip }, 'user.signed_in', { tenantId: user.tenant_id, id: user.id }, undefined, now);
    });
    const session = await findLiveSession(this.#store.db, minted.id, now);
    if (!session) throw new Error('the new session was not found');
    return { ok: true, token: minted.token, session };
  }

  /** The live session behind a cookie value, or null (unknown, expired, malformed). */
  async find(token: string | undefined, now = Date.now()): Promise<SessionWithUser | null> {
    if (!token || !isSessionTokenShaped(token)) return null;
    return (await findLiveSession(this.#store.db, sessionIdOf(token), now)) ?? null;
  }

  /** Ends the session behind the token (sign out). */
  async signOut(token: string): Promise<void> {
    await this.#store.write((trx) => deleteSession(trx, sessionIdOf(token)));
  }

  /** Set-Cookie for a new session; `tls`: the request came over TLS. */
  cookie(token: string, tls: boolean): string {
    return sessionCookie(token, { maxAgeSeconds: this.#ttlMs / 1000, secure: this.#secureCookie ?? tls });
  }

  /** Set-Cookie that removes the session cookie. */
  clearCookie(tls: boolean): string {
    return sessionCookie('', { maxAgeSeconds: 0, secure: this.#secureCookie ?? tls });
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword('postline-no-such-user');
    return this.#dummyHash;
  }
}
