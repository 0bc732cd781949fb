import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { listAuditLogPage } from '../../../src/store/index.ts';
import { startTestApi, isProblem, type TestApi, type TestTenant } from '../api-test-app.ts';

const PASSWORD = 'correct horse battery staple';

describe('dashboard users: /api/v1/users (admin)', () => {
  let api: TestApi;
  let acme: TestTenant;
  before(async () => {
    api = await startTestApi();
    acme = await api.tenant('acme');
  });
  after(() => api.close());

  it('creates a tenant owner (201): email normalised, no password or hash in the answer; audited user.created without the password', async () => {
    const res = await api.admin.request('POST', '/api/v1/users', { email: ' Ann@Acme.TEST ', password: PASSWORD, tenant: 'acme', role: 'owner' });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.id, /^usr_[0-9A-Z]{26}$/);
    assert.deepEqual([res.body.email, res.body.is_admin, res.body.tenant_id, res.body.role, res.body.last_login_at], ['ann@acme.test', false, acme.id, 'owner', null]);
    assert.ok(!res.text.includes(PASSWORD) && !res.text.includes('scrypt'));
    const audit = await listAuditLogPage(api.store.db, { limit: 10, action: 'user.created' });
    assert.equal(audit.at(-1)!.target, res.body.id);
    assert.ok(!String(audit.at(-1)!.details).includes(PASSWORD));
  });

  it('answers 409 USER_EMAIL_TAKEN at /email for an address in use, in any case', async () => {
    const res = await api.admin.request('POST', '/api/v1/users', { email: 'ANN@acme.test', password: PASSWORD, is_admin: true });
    assert.ok(isProblem(res, 409));
    assert.equal(res.body.code, 'USER_EMAIL_TAKEN');
    assert.equal(res.body.errors[0].pointer, '/email');
  });

  it('validates: a short password (400 at /password), a tenant user without a tenant, an admin with one, an unknown tenant (422)', async () => {
    const short = await api.admin.request('POST', '/api/v1/users', { email: 'b@acme.test', password: 'short', tenant: 'acme' });
    assert.equal(short.status, 400);
    assert.equal(short.body.errors[0].pointer, '/password');
    const noTenant = await api.admin.request('POST', '/api/v1/users', { email: 'b@acme.test', password: PASSWORD });
    assert.equal(noTenant.status, 400);
    assert.equal(noTenant.body.errors[0].pointer, '/tenant');
    assert.equal((await api.admin.request('POST', '/api/v1/users', { email: 'b@acme.test', password: PASSWORD, is_admin: true, tenant: 'acme' })).status, 400);
    const unknown = await api.admin.request('POST', '/api/v1/users', { email: 'b@acme.test', password: PASSWORD, tenant: 'nope' });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.code, 'USER_TENANT_NOT_FOUND');
  });

  it('a new user defaults to viewer; lists filter by tenant; GET takes the id or the email', async () => {
    const v = await api.admin.request('POST', '/api/v1/users', { email: 'viewer@acme.test', password: PASSWORD, tenant: acme.id });
    assert.equal(v.body.role, 'viewer');
    const admin = await api.admin.request('POST', '/api/v1/users', { email: 'ops@example.test', password: PASSWORD, is_admin: true });
    assert.deepEqual([admin.body.is_admin, admin.body.tenant_id, admin.body.role], [true, null, null]);
    const ofAcme = await api.admin.request('GET', '/api/v1/users?tenant=acme');
    assert.deepEqual(ofAcme.body.data.map((u: { email: string }) => u.email).sort(), ['ann@acme.test', 'viewer@acme.test']);
    assert.equal((await api.admin.request('GET', '/api/v1/users?limit=100')).body.data.length, 3);
    assert.equal((await api.admin.request('GET', `/api/v1/users/${encodeURIComponent('Viewer@acme.test')}`)).body.id, v.body.id);
    assert.ok(isProblem(await api.admin.request('GET', '/api/v1/users/usr_nope'), 404));
  });

  it('PATCH changes the role or password and signs the user out everywhere', async () => {
    const signIn = () => api.anonymous.request('POST', '/api/v1/session', { email: 'viewer@acme.test', password: PASSWORD });
    const s = await signIn();
    const cookie = String(s.headers['set-cookie']).split(';')[0];
    const changed = await api.admin.request('PATCH', '/api/v1/users/viewer@acme.test', { role: 'owner' });
    assert.equal(changed.body.role, 'owner');
    assert.equal((await api.anonymous.request('GET', '/api/v1/session', undefined, { cookie })).status, 401);
    assert.equal((await api.admin.request('PATCH', '/api/v1/users/ops@example.test', { role: 'owner' })).status, 400, 'an admin has no role');
    assert.equal((await api.admin.request('PATCH', '/api/v1/users/viewer@acme.test', { password: 'a new long password' })).status, 200);
    assert.equal((await signIn()).status, 401);
  });

  it('DELETE removes the user and its sessions (204), then 404', async () => {
    const s = await api.anonymous.request('POST', '/api/v1/session', { email: 'ann@acme.test', password: PASSWORD });
    const cookie = String(s.headers['set-cookie']).split(';')[0];
    assert.equal((await api.admin.request('DELETE', '/api/v1/users/ann@acme.test')).status, 204);
    assert.equal((await api.anonymous.request('GET', '/api/v1/messages', undefined, { cookie })).status, 401);
    assert.ok(isProblem(await api.admin.request('DELETE', '/api/v1/users/ann@acme.test'), 404));
  });

  it('is admin-only: a tenant key gets 403', async () => {
    assert.equal((await acme.client.request('GET', '/api/v1/users')).status, 403);
    assert.equal((await acme.client.request('POST', '/api/v1/users', { email: 'x@acme.test', password: PASSWORD, tenant: 'acme' })).status, 403);
  });

  it('deleting a tenant deletes its users', async () => {
    const t = await api.tenant('doomed');
    await api.admin.request('POST', '/api/v1/users', { email: 'doomed@example.test', password: PASSWORD, tenant: 'doomed' });
    assert.equal((await api.admin.request('DELETE', `/api/v1/tenants/${t.id}`)).status, 204);
    assert.ok(isProblem(await api.admin.request('GET', '/api/v1/users/doomed@example.test'), 404));
  });
});
