import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { createTenant, type Store } from '../../src/store/index.ts';
import { CLI_ACTOR } from '../../src/security/index.ts';
import { WebSessions, createUser } from '../../src/web/index.ts';
import { openTestStore } from '../helpers/backend.ts';

describe('dashboard sessions: fixed expiry (web.session_ttl) and secure cookies', () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-web-sessions-'));
    store = await openTestStore({ dataDir: dir });
    await store.write((trx) => createTenant(trx, 'acme'));
    await createUser(store, { email: 'ann@acme.test', password: 'a long enough password', tenant: 'acme', role: 'owner' }, CLI_ACTOR);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends a session web.session_ttl after sign-in, however active it was (not sliding)', async () => {
    const config = loadConfig({ env: { POSTLINE_DATA_DIR: dir }, overrides: { 'web.session_ttl': '30m' } });
    const sessions = new WebSessions({ config, store, log: pino({ level: 'silent' }) });
    const t0 = Date.now();
    const r = await sessions.signIn('ann@acme.test', 'a long enough password', '127.0.0.1', t0);
    assert.ok(r.ok);
    assert.equal(r.session.session.expires_at, t0 + 30 * 60_000);
    assert.ok(await sessions.find(r.token, t0 + 29 * 60_000));
    assert.equal(await sessions.find(r.token, t0 + 30 * 60_000), null);
    assert.match(sessions.cookie(r.token, false), /Max-Age=1800; HttpOnly; SameSite=Lax$/);
  });

  it('marks the cookie Secure over TLS, or always with web.secure_cookie: true', async () => {
    const auto = new WebSessions({ config: loadConfig({ env: { POSTLINE_DATA_DIR: dir } }), store, log: pino({ level: 'silent' }) });
    assert.match(auto.cookie('t', true), /; Secure$/);
    assert.doesNotMatch(auto.cookie('t', false), /Secure/);
    const forced = new WebSessions({ config: loadConfig({ env: { POSTLINE_DATA_DIR: dir }, overrides: { 'web.secure_cookie': true } }), store, log: pino({ level: 'silent' }) });
    assert.match(forced.cookie('t', false), /; Secure$/);
  });
});
