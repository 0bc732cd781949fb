import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi } from '../api-test-app.ts';

describe('API keys: /api/v1/keys and /api/v1/tenants/{id}/keys', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('admin creates a tenant, then a key; the key lists its own tenant\'s keys', async () => {
    const tenant = (await api.admin.request('POST', '/api/v1/tenants', { name: 'acme' })).body;
    const created = await api.admin.request('POST', `/api/v1/tenants/${tenant.id}/keys`, { name: 'backend', scopes: ['manage', 'send', 'manage'] });
    assert.equal(created.status, 201);
    assert.match(created.body.key, /^pl_key_[0-9A-Z]{26}_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(created.body.scopes, ['manage', 'send'], 'duplicates are dropped');
    assert.equal(created.body.tenant_id, tenant.id);
    const key = api.client(created.body.key);
    const listed = await key.request('GET', '/api/v1/keys');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.data.map((k: { id: string }) => k.id), [created.body.id]);
    assert.ok(!listed.text.includes(created.body.key), 'the token is never listed');
    assert.equal(listed.body.next_cursor, null);
  });

  it('a manage key creates and revokes keys of its own tenant; revoking twice is 404', async () => {
    const t = await api.tenant();
    const k = await t.client.request('POST', '/api/v1/keys', { name: 'sender', scopes: ['send'] });
    assert.equal(k.status, 201);
    assert.equal((await t.client.request('GET', '/api/v1/keys')).body.data.length, 2);
    assert.equal((await t.client.request('DELETE', `/api/v1/keys/${k.body.id}`)).status, 204);
    assert.ok(isProblem(await t.client.request('DELETE', `/api/v1/keys/${k.body.id}`), 404));
    assert.deepEqual((await t.client.request('GET', '/api/v1/keys')).body.data.map((x: { id: string }) => x.id), [t.keyId]);
  });

  it('the admin lists and revokes any tenant\'s keys', async () => {
    const t = await api.tenant();
    const listed = await api.admin.request('GET', `/api/v1/tenants/${t.name}/keys`);
    assert.deepEqual(listed.body.data.map((x: { id: string }) => x.id), [t.keyId]);
    assert.equal((await api.admin.request('DELETE', `/api/v1/tenants/${t.id}/keys/${t.keyId}`)).status, 204);
    assert.equal((await t.client.request('GET', '/api/v1/keys')).status, 401);
    assert.ok(isProblem(await api.admin.request('DELETE', `/api/v1/tenants/${t.id}/keys/${t.keyId}`), 404));
  });

  it('the admin gets 404 for a key that belongs to a different tenant than the path names', async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    assert.ok(isProblem(await api.admin.request('DELETE', `/api/v1/tenants/${a.id}/keys/${b.keyId}`), 404));
    assert.equal((await b.client.request('GET', '/api/v1/keys')).status, 200);
  });

  it('refuses an empty or unknown scope list with 400', async () => {
    const t = await api.tenant();
    assert.ok(isProblem(await t.client.request('POST', '/api/v1/keys', { name: 'x', scopes: [] }), 400));
    assert.ok(isProblem(await t.client.request('POST', '/api/v1/keys', { name: 'x', scopes: ['root'] }), 400));
    assert.ok(isProblem(await t.client.request('POST', '/api/v1/keys', { name: 'x' }), 400));
  });
});
