import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { findApiKey } from '../../src/store/index.ts';
import { mintApiKey, tryParseApiKey } from '../../src/api/index.ts';
import { startTestApi, isProblem, type TestApi } from './api-test-app.ts';

describe('RFC 6750 bearer authentication', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('answers 401 problem+json with a bare Bearer challenge when no token is sent (RFC 6750 §3.1)', async () => {
    const res = await api.anonymous.request('GET', '/api/v1/keys');
    assert.equal(res.status, 401);
    assert.ok(isProblem(res, 401));
    assert.equal(res.body.type, 'https://postline.dev/problems/unauthorized');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="postline"');
  });

  for (const [what, header] of [
    ['an unknown token', 'Bearer nope'],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['a well-formed key that does not exist', `Bearer ${mintApiKey().token}`],
    ['a key with a bad secret', 'Bearer pl_key_01J0000000000000000000000Z_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
  ] as const) {
    it(`answers 401 with error="invalid_token" for ${what}`, async () => {
      const res = await api.anonymous.request('GET', '/api/v1/tenants', undefined, { authorization: header });
      assert.equal(res.status, 401);
      assert.ok(isProblem(res, 401));
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="postline", error="invalid_token"');
    });
  }

  it('accepts the scheme name in any case (RFC 9110 §11.1)', async () => {
    const res = await api.anonymous.request('GET', '/api/v1/tenants', undefined, { authorization: `bEaReR ${api.adminToken}` });
    assert.equal(res.status, 200);
  });

  it('answers 401 for a key of the right id with the wrong secret', async () => {
    const t = await api.tenant();
    const { id } = tryParseApiKey(t.key)!;
    const res = await api.client(`pl_${id}_${'B'.repeat(43)}`).request('GET', '/api/v1/keys');
    assert.equal(res.status, 401);
  });

  it('answers 403 insufficient_scope naming the scope when the key lacks it', async () => {
    const t = await api.tenant(undefined, ['send']);
    const res = await t.client.request('GET', '/api/v1/keys');
    assert.equal(res.status, 403);
    assert.ok(isProblem(res, 403));
    assert.equal(res.body.code, 'API_INSUFFICIENT_SCOPE');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="postline", error="insufficient_scope", scope="manage"');
  });

  it('answers 403 to a tenant key on admin routes and to the admin token on tenant routes', async () => {
    const t = await api.tenant();
    assert.equal((await t.client.request('GET', '/api/v1/tenants')).status, 403);
    assert.equal((await t.client.request('POST', `/api/v1/tenants/${t.id}/keys`, { name: 'x', scopes: ['manage'] })).status, 403);
    const res = await api.admin.request('GET', '/api/v1/keys');
    assert.equal(res.status, 403);
    assert.ok(isProblem(res, 403));
  });

  it('refuses a revoked key with 401 at once', async () => {
    const t = await api.tenant();
    const second = await t.client.request('POST', '/api/v1/keys', { name: 'second', scopes: ['read'] });
    assert.equal(second.status, 201);
    assert.equal((await api.client(second.body.key).request('GET', '/api/v1/domains')).status, 200);
    assert.equal((await t.client.request('DELETE', `/api/v1/keys/${second.body.id}`)).status, 204);
    const res = await api.client(second.body.key).request('GET', '/api/v1/domains');
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="postline", error="invalid_token"');
  });

  it('a key revoked by another node or the CLI stops working within http.key_cache (1 s), not at once', async () => {
    const t = await api.tenant();
    assert.equal((await t.client.request('GET', '/api/v1/domains')).status, 200);
    // As `postline key revoke` or another node would: the row changes, this node is not told.
    await api.store.write((trx) => trx.updateTable('api_keys').set({ revoked_at: Date.now() }).where('id', '=', t.keyId).execute());
    assert.equal((await t.client.request('GET', '/api/v1/domains')).status, 200, 'still trusted from the cache');
    await sleep(1100);
    assert.equal((await t.client.request('GET', '/api/v1/domains')).status, 401);
  });

  it('the keys of a tenant deleted through this node are refused at once', async () => {
    const t = await api.tenant();
    assert.equal((await t.client.request('GET', '/api/v1/domains')).status, 200);
    assert.equal((await api.admin.request('DELETE', `/api/v1/tenants/${t.id}`)).status, 204);
    assert.equal((await t.client.request('GET', '/api/v1/domains')).status, 401);
  });

  it('stores only a SHA-256 digest of the secret, never the key', async () => {
    const t = await api.tenant();
    const row = await findApiKey(api.store.db, t.keyId);
    assert.ok(row);
    assert.ok(!JSON.stringify(row).includes(tryParseApiKey(t.key)!.secret));
    assert.equal(Buffer.from(row.secret_hash, 'base64url').length, 32);
  });

  it('records last_used_at on first use and not again within a minute', async () => {
    const t = await api.tenant();
    assert.equal((await findApiKey(api.store.db, t.keyId))!.last_used_at, null);
    await t.client.request('GET', '/api/v1/domains');
    await sleep(20); // the touch is written in the background
    const first = (await findApiKey(api.store.db, t.keyId))!.last_used_at;
    assert.ok(first !== null && Date.now() - Number(first) < 5000);
    await sleep(5);
    await t.client.request('GET', '/api/v1/domains');
    await sleep(20);
    assert.equal((await findApiKey(api.store.db, t.keyId))!.last_used_at, first);
    const listed = await t.client.request('GET', '/api/v1/keys');
    assert.equal(listed.body.data.find((k: { id: string }) => k.id === t.keyId).last_used_at, new Date(Number(first)).toISOString());
  });
});
