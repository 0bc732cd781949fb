import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../../src/config/index.ts';
import { listAuditLogPage, type Store } from '../../../src/store/index.ts';
import { createApiApp, type ApiInstance } from '../../../src/api/index.ts';
import { CLI_ACTOR } from '../../../src/security/index.ts';
import { createUser, sessionIdOf } from '../../../src/web/index.ts';
import { startTestApi, isProblem, type TestApi, type TestTenant } from '../api-test-app.ts';
import { openTestStore } from '../../helpers/backend.ts';

const PASSWORD = 'correct horse battery staple';

interface Signed {
  readonly token: string;
  readonly cookie: string;
  readonly csrf: string;
  readonly body: any;
}

describe('dashboard sessions: /api/v1/session, cookies and CSRF', () => {
  let api: TestApi;
  let acme: TestTenant;
  let globex: TestTenant;

  async function signIn(email: string, password = PASSWORD, ip = '127.0.0.1'): Promise<Signed> {
    const res = await api.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email, password }, remoteAddress: ip });
    assert.equal(res.statusCode, 200, res.body);
    const setCookie = String(res.headers['set-cookie']);
    const token = /^postline_session=([^;]+);/.exec(setCookie)![1];
    return { token, cookie: `postline_session=${token}`, csrf: JSON.parse(res.body).csrf_token, body: JSON.parse(res.body) };
  }

  function as(s: Signed, withCsrf = true) {
    return {
      request: (method: string, url: string, body?: unknown) => api.anonymous.request(method, url, body, { cookie: s.cookie, ...(withCsrf ? { 'x-csrf-token': s.csrf } : {}) }),
    };
  }

  before(async () => {
    api = await startTestApi();
    acme = await api.tenant('acme');
    globex = await api.tenant('globex');
    await createUser(api.store, { email: 'Owner@Acme.test', password: PASSWORD, tenant: 'acme', role: 'owner' }, CLI_ACTOR);
    await createUser(api.store, { email: 'viewer@acme.test', password: PASSWORD, tenant: 'acme', role: 'viewer' }, CLI_ACTOR);
    await createUser(api.store, { email: 'ops@example.test', password: PASSWORD, admin: true }, CLI_ACTOR);
    await createUser(api.store, { email: 'throttled@acme.test', password: PASSWORD, tenant: 'acme', role: 'viewer' }, CLI_ACTOR);
  });
  after(() => api.close());

  it('signs in with email (any case) and password: 200 with the user, tenant, scopes and CSRF token, and an HttpOnly SameSite=Lax cookie on Path=/', async () => {
    const res = await api.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'owner@ACME.test', password: PASSWORD } });
    assert.equal(res.statusCode, 200, res.body);
    const body = JSON.parse(res.body);
    assert.equal(body.user.email, 'owner@acme.test');
    assert.deepEqual(body.tenant, { id: acme.id, name: 'acme', sandbox: false });
    assert.deepEqual(body.scopes, ['send', 'read', 'manage']);
    assert.match(body.csrf_token, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!('password_hash' in body.user));
    const cookie = String(res.headers['set-cookie']);
    assert.match(cookie, /^postline_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Lax$/, 'no Secure over plain HTTP; 12 h by default');
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  it('stores only the SHA-256 of the session token (issue 8), never the token', async () => {
    const s = await signIn('owner@acme.test');
    const rows = await api.store.db.selectFrom('sessions').selectAll().execute();
    assert.ok(rows.some((r) => r.id === sessionIdOf(s.token)));
    assert.ok(!JSON.stringify(rows).includes(s.token));
  });

  it('answers 401 WEB_SIGNIN_FAILED alike for a wrong password, an unknown email and no credentials', async () => {
    for (const payload of [{ email: 'owner@acme.test', password: 'wrong password!' }, { email: 'nobody@acme.test', password: PASSWORD }, {}]) {
      const res = await api.anonymous.request('POST', '/api/v1/session', payload);
      assert.equal(res.status, 401, res.text);
      assert.ok(isProblem(res, 401));
      assert.equal(res.body.code, 'WEB_SIGNIN_FAILED');
      assert.equal(res.headers['set-cookie'], undefined);
    }
  });

  it('throttles an account after web.signin_max_failures_per_account failures: 429 WEB_SIGNIN_THROTTLED with Retry-After, even with the right password', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await api.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'throttled@acme.test', password: 'guess number ' + i }, remoteAddress: `192.0.2.${i + 1}` });
      assert.equal(res.statusCode, 401);
    }
    const res = await api.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'throttled@acme.test', password: PASSWORD }, remoteAddress: '192.0.2.99' });
    assert.equal(res.statusCode, 429, res.body);
    const body = JSON.parse(res.body);
    assert.equal(body.code, 'WEB_SIGNIN_THROTTLED');
    assert.equal(body.limit, 'account');
    assert.ok(Number(res.headers['retry-after']) > 800 && Number(res.headers['retry-after']) <= 900, String(res.headers['retry-after']));
    // Another account from another address is not affected.
    await signIn('viewer@acme.test', PASSWORD, '192.0.2.100');
  });

  it('throttles a client address after web.signin_max_failures_per_ip failures, whatever the account', async () => {
    for (let i = 0; i < 20; i++) {
      await api.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: `guess${i}@acme.test`, password: 'not it at all' }, remoteAddress: '198.51.100.7' });
    }
    const res = await api.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'owner@acme.test', password: PASSWORD }, remoteAddress: '198.51.100.7' });
    assert.equal(res.statusCode, 429);
    assert.equal(JSON.parse(res.body).limit, 'ip');
  });

  it('GET /api/v1/session answers the live session; 401 WEB_NO_SESSION without one', async () => {
    const s = await signIn('owner@acme.test');
    const res = await as(s).request('GET', '/api/v1/session');
    assert.equal(res.status, 200);
    assert.equal(res.body.csrf_token, s.csrf);
    const none = await api.anonymous.request('GET', '/api/v1/session');
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'WEB_NO_SESSION');
    const bogus = await api.anonymous.request('GET', '/api/v1/session', undefined, { cookie: 'postline_session=not-a-token' });
    assert.equal(bogus.status, 401);
  });

  it('a tenant owner\'s cookie reaches its tenant routes (reads without, writes with the CSRF token)', async () => {
    const s = await signIn('owner@acme.test');
    assert.equal((await as(s, false).request('GET', '/api/v1/keys')).status, 200);
    const created = await as(s).request('POST', '/api/v1/keys', { name: 'from the dashboard', scopes: ['read'] });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.tenant_id, acme.id);
    const entries = await listAuditLogPage(api.store.db, { limit: 100, action: 'api_key.created', tenantId: acme.id });
    assert.deepEqual([entries.at(-1)!.actor_kind, entries.at(-1)!.actor_id], ['user', s.body.user.id], 'audited as the user');
  });

  it('refuses a cookie-authenticated write without X-CSRF-Token, or with a wrong one: 403 API_CSRF_TOKEN_INVALID, nothing done', async () => {
    const s = await signIn('owner@acme.test');
    for (const headers of [{}, { 'x-csrf-token': 'x'.repeat(43) }] as Array<Record<string, string>>) {
      const res = await api.anonymous.request('POST', '/api/v1/domains', { name: 'csrf.example' }, { cookie: s.cookie, ...headers });
      assert.equal(res.status, 403);
      assert.equal(res.body.code, 'API_CSRF_TOKEN_INVALID');
    }
    const other = await signIn('owner@acme.test');
    const res = await api.anonymous.request('POST', '/api/v1/domains', { name: 'csrf.example' }, { cookie: s.cookie, 'x-csrf-token': other.csrf });
    assert.equal(res.status, 403, "another session's token does not fit");
    assert.equal((await as(s).request('GET', '/api/v1/domains')).body.data.length, 0);
  });

  it('bearer requests are unaffected: an Authorization header wins over a cookie, and needs no CSRF token', async () => {
    const s = await signIn('viewer@acme.test');
    const res = await api.anonymous.request('POST', '/api/v1/keys', { name: 'bearer', scopes: ['read'] }, { cookie: s.cookie, authorization: `Bearer ${globex.key}` });
    assert.equal(res.status, 201);
    assert.equal(res.body.tenant_id, globex.id);
  });

  it('a viewer reads its tenant and gets 403 insufficient_scope on every write; it never sees another tenant', async () => {
    const s = await signIn('viewer@acme.test');
    assert.deepEqual(s.body.scopes, ['read']);
    assert.equal((await as(s).request('GET', '/api/v1/messages')).status, 200);
    for (const [method, url, body] of [
      ['POST', '/api/v1/domains', { name: 'viewer.example' }],
      ['POST', '/api/v1/messages', { from: 'a@acme.example', to: 'b@example.net', text: 'x' }],
      ['POST', '/api/v1/suppressions', { entries: [{ address: 'x@example.net' }] }],
      ['POST', '/api/v1/queue/retry', { all: true }],
      ['DELETE', '/api/v1/inbox', undefined],
      ['GET', '/api/v1/keys', undefined],
    ] as const) {
      const res = await as(s).request(method, url, body);
      assert.equal(res.status, 403, `${method} ${url}: ${res.text}`);
      assert.equal(res.body.code, 'API_INSUFFICIENT_SCOPE');
    }
    const theirs = await globex.client.request('POST', '/api/v1/webhooks', { url: 'https://1.1.1.1/hook' });
    assert.equal((await as(s).request('GET', `/api/v1/webhooks/${theirs.body.id}`)).status, 404);
    assert.ok(!(await as(s).request('GET', '/api/v1/webhooks')).text.includes(theirs.body.id));
  });

  it('an admin user\'s session reaches the admin routes, and not the tenant routes (403)', async () => {
    const s = await signIn('ops@example.test');
    assert.equal(s.body.tenant, null);
    assert.equal((await as(s).request('GET', '/api/v1/tenants')).status, 200);
    const created = await as(s).request('POST', '/api/v1/tenants', { name: 'initech' });
    assert.equal(created.status, 201);
    assert.equal((await as(s).request('GET', '/api/v1/messages')).status, 403);
    const tenantUser = await signIn('owner@acme.test');
    assert.equal((await as(tenantUser).request('GET', '/api/v1/tenants')).status, 403);
  });

  it('sign-out needs the CSRF token, ends the session (the cookie no longer works) and removes the cookie', async () => {
    const s = await signIn('owner@acme.test');
    assert.equal((await as(s, false).request('DELETE', '/api/v1/session')).status, 403);
    const res = await as(s).request('DELETE', '/api/v1/session');
    assert.equal(res.status, 204);
    assert.match(String(res.headers['set-cookie']), /^postline_session=; Path=\/; Max-Age=0;/);
    assert.equal((await as(s).request('GET', '/api/v1/messages')).status, 401);
    assert.equal((await as(s).request('DELETE', '/api/v1/session')).status, 401);
  });

  it('records user.signed_in in the audit log, with the client address', async () => {
    await signIn('owner@acme.test', PASSWORD, '203.0.113.9');
    const entries = await listAuditLogPage(api.store.db, { limit: 1000, action: 'user.signed_in' });
    const last = entries.at(-1)!;
    assert.deepEqual([last.actor_kind, last.ip, last.tenant_id], ['user', '203.0.113.9', acme.id]);
  });
});

describe('dashboard sessions: web.enabled false', () => {
  let dir: string;
  let store: Store;
  let app: ApiInstance;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-web-off-'));
    const config = loadConfig({ env: { POSTLINE_DATA_DIR: dir }, overrides: { 'web.enabled': false } });
    store = await openTestStore({ dataDir: dir });
    app = await createApiApp({ config, store, log: pino({ level: 'silent' }), adminToken: 'admin-token-for-the-web-off-test-0123456789' });
  });
  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 404 for /api/v1/session and / (no dashboard), and ignores a session cookie (401: bearer tokens only)', async () => {
    assert.equal((await app.inject({ method: 'POST', url: '/api/v1/session', payload: {} })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/messages', headers: { cookie: `postline_session=${'a'.repeat(43)}` } })).statusCode, 401);
  });
});
