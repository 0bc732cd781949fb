import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi } from '../api-test-app.ts';

describe('domains: /api/v1/domains', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('adds a domain (201) in lower-case A-label form; adding it again is 200 with the same object', async () => {
    const t = await api.tenant();
    const res = await t.client.request('POST', '/api/v1/domains', { name: 'Bücher.Example' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.name, 'xn--bcher-kva.example');
    assert.equal(res.body.verified, false);
    const again = await t.client.request('POST', '/api/v1/domains', { name: 'xn--bcher-kva.example.' });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, res.body.id);
    assert.deepEqual((await t.client.request('GET', '/api/v1/domains')).body.data.map((d: { id: string }) => d.id), [res.body.id]);
  });

  it("answers 409 for another tenant's domain and 422 for an IP literal", async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    assert.equal((await a.client.request('POST', '/api/v1/domains', { name: 'taken.example' })).status, 201);
    const res = await b.client.request('POST', '/api/v1/domains', { name: 'taken.example' });
    assert.ok(isProblem(res, 409));
    assert.equal(res.body.errors[0].pointer, '/name');
    assert.ok(isProblem(await b.client.request('POST', '/api/v1/domains', { name: '127.0.0.1' }), 422));
  });

  it('removes a domain (204); again is 404', async () => {
    const t = await api.tenant();
    const d = (await t.client.request('POST', '/api/v1/domains', { name: 'gone.example' })).body;
    assert.equal((await t.client.request('DELETE', `/api/v1/domains/${d.id}`)).status, 204);
    assert.ok(isProblem(await t.client.request('DELETE', `/api/v1/domains/${d.id}`), 404));
    assert.deepEqual((await t.client.request('GET', '/api/v1/domains')).body.data, []);
  });
});
