import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { csrfTokenMatches, csrfTokenOf, readCookie, sessionIdOf } from '../../src/web/index.ts';
import { isSessionTokenShaped, mintSessionToken, sessionCookie } from '../../src/web/session-token.ts';

describe('session tokens, cookies (RFC 6265) and CSRF tokens', () => {
  it('mints 256-bit base64url tokens whose stored id is their SHA-256', () => {
    const a = mintSessionToken();
    assert.ok(isSessionTokenShaped(a.token));
    assert.equal(a.id, createHash('sha256').update(a.token).digest('base64url'));
    assert.equal(sessionIdOf(a.token), a.id);
    assert.notEqual(mintSessionToken().token, a.token);
  });

  it('derives a CSRF token per session that only matches its own session', () => {
    const a = mintSessionToken().token;
    const b = mintSessionToken().token;
    assert.ok(csrfTokenMatches(a, csrfTokenOf(a)));
    assert.ok(!csrfTokenMatches(a, csrfTokenOf(b)));
    assert.ok(!csrfTokenMatches(a, undefined));
    assert.ok(!csrfTokenMatches(a, ''));
    assert.notEqual(csrfTokenOf(a), a);
  });

  it('reads one cookie among several (RFC 6265 §5.4), quoted or not', () => {
    assert.equal(readCookie('a=1; postline_session=tok; b=2', 'postline_session'), 'tok');
    assert.equal(readCookie('postline_session="tok"', 'postline_session'), 'tok');
    assert.equal(readCookie('xpostline_session=tok', 'postline_session'), undefined);
    assert.equal(readCookie(undefined, 'postline_session'), undefined);
  });

  it('sets HttpOnly, SameSite=Lax, Path=/ and Max-Age; Secure only when asked (RFC 6265 §4.1)', () => {
    assert.equal(sessionCookie('t', { maxAgeSeconds: 60, secure: false }), 'postline_session=t; Path=/; Max-Age=60; HttpOnly; SameSite=Lax');
    assert.equal(sessionCookie('', { maxAgeSeconds: 0, secure: true }), 'postline_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure');
  });
});
