// Session tokens: 32 random bytes (base64url) live only in the browser's cookie; the store
// keeps their SHA-256 (SECURITY.md: "session tokens stored only as hashes"), so a copy of
// the database signs no one in. The CSRF token is derived from the session token (an HMAC),
// so it needs no storage and changes with every session.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The cookie that carries the session token. */
export const SESSION_COOKIE = 'postline_session';
/** The header a cookie-authenticated state-changing request must carry. */
export const CSRF_HEADER = 'x-csrf-token';

export interface MintedSession {
  /** Goes in the cookie; never stored. */
  readonly token: string;
  /** The sessions.id: base64url SHA-256 of the token. */
  readonly id: string;
}

export function mintSessionToken(): MintedSession {
  const token = randomBytes(32).toString('base64url');
  return { token, id: sessionIdOf(token) };
}

export function sessionIdOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** True for the shape mintSessionToken makes (43 base64url characters); anything else is not looked up. */
export function isSessionTokenShaped(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

/** The CSRF token of a session: HMAC-SHA256 keyed by the session token. */
export function csrfTokenOf(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('postline-csrf-v1').digest('base64url');
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfTokenMatches(sessionToken: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const expected = Buffer.from(csrfTokenOf(sessionToken));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The value of one cookie from a Cookie header (RFC 6265 §5.4: `name=value` pairs separated by `; `). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

export interface CookieOptions {
  readonly maxAgeSeconds: number;
  readonly secure: boolean;
}

/**
 * The Set-Cookie value (RFC 6265 §4.1): HttpOnly (no script reads it), SameSite=Lax (not sent
 * on cross-site subrequests or POSTs; RFC 6265bis §5.4.7), Path=/ and Secure over TLS.
 * Max-Age 0 deletes it.
 */
export function sessionCookie(token: string, options: CookieOptions): string {
  return `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}; HttpOnly; SameSite=Lax${options.secure ? '; Secure' : ''}`;
}
