import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { findCredential } from '../../../src/store/index.ts';
import { verifyPassword } from '../../../src/security/password-hash.ts';
import { startTestApi, isProblem, type TestApi } from '../api-test-app.ts';

describe('SMTP credentials: /api/v1/smtp-credentials and /api/v1/tenants/{id}/smtp-credentials', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('creates a credential without a body, answering the password once; the stored scrypt hash verifies it', async () => {
    const t = await api.tenant('smtp-acme');
    const res = await t.client.request('POST', '/api/v1/smtp-credentials');
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.username, /^smtp-acme-/);
    assert.ok(res.body.password.length >= 32);
    const row = await findCredential(api.store.db, res.body.username);
    assert.ok(row && row.tenant_id === t.id);
    assert.ok(await verifyPassword(res.body.password, row.password_hash));
    const listed = await t.client.request('GET', '/api/v1/smtp-credentials');
    assert.deepEqual(listed.body.data.map((c: { id: string }) => c.id), [res.body.id]);
    assert.equal(listed.body.data[0].last_used_at, null);
    assert.ok(!listed.text.includes(res.body.password) && !listed.text.includes('scrypt'), 'no secrets in the list');
  });

  it('takes a chosen username; a taken one (in any tenant) is 409 at /username', async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    assert.equal((await a.client.request('POST', '/api/v1/smtp-credentials', { username: 'shared-name' })).status, 201);
    const res = await b.client.request('POST', '/api/v1/smtp-credentials', { username: 'shared-name' });
    assert.ok(isProblem(res, 409));
    assert.equal(res.body.errors[0].pointer, '/username');
  });

  it('deletes a credential (204) so that it no longer exists; again is 404', async () => {
    const t = await api.tenant();
    const c = (await t.client.request('POST', '/api/v1/smtp-credentials', {})).body;
    assert.equal((await t.client.request('DELETE', `/api/v1/smtp-credentials/${c.id}`)).status, 204);
    assert.equal(await findCredential(api.store.db, c.username), undefined);
    assert.ok(isProblem(await t.client.request('DELETE', `/api/v1/smtp-credentials/${c.id}`), 404));
  });

  it('the admin manages any tenant\'s credentials', async () => {
    const t = await api.tenant();
    const c = await api.admin.request('POST', `/api/v1/tenants/${t.id}/smtp-credentials`, { username: 'admin-made' });
    assert.equal(c.status, 201);
    assert.equal(c.body.tenant_id, t.id);
    assert.deepEqual((await api.admin.request('GET', `/api/v1/tenants/${t.id}/smtp-credentials`)).body.data.map((x: { id: string }) => x.id), [c.body.id]);
    assert.equal((await api.admin.request('DELETE', `/api/v1/tenants/${t.id}/smtp-credentials/${c.body.id}`)).status, 204);
    assert.ok(isProblem(await api.admin.request('GET', '/api/v1/tenants/nobody/smtp-credentials'), 404));
  });
});
