import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi, type TestTenant } from './api-test-app.ts';

describe('validation problems point at the field at fault', () => {
  let api: TestApi;
  let t: TestTenant;
  before(async () => {
    api = await startTestApi();
    t = await api.tenant();
  });
  after(() => api.close());

  it('points into an array element of the body: /scopes/1', async () => {
    const res = await t.client.request('POST', '/api/v1/keys', { name: 'k', scopes: ['send', 'admin'] });
    assert.ok(isProblem(res, 400), res.text);
    assert.equal(res.body.type, 'https://postline.dev/problems/validation');
    assert.deepEqual(res.body.errors.map((e: { in: string; pointer: string }) => [e.in, e.pointer]), [['body', '/scopes/1']]);
    assert.match(res.body.detail, /\/scopes\/1/);
  });

  it('reports every zod issue, with an unknown field pointing at itself', async () => {
    const res = await t.client.request('POST', '/api/v1/keys', { name: '', scopes: [], nmae: 'x' });
    assert.ok(isProblem(res, 400));
    assert.deepEqual([...new Set(res.body.errors.map((e: { pointer: string }) => e.pointer))].sort(), ['/name', '/nmae', '/scopes']);
    assert.equal(res.body.errors.find((e: { pointer: string }) => e.pointer === '/nmae').detail, 'unknown field "nmae"');
  });

  it('points at the whole body ("") when it is not an object', async () => {
    const res = await t.client.request('POST', '/api/v1/keys', [1, 2]);
    assert.ok(isProblem(res, 400));
    assert.deepEqual(res.body.errors.map((e: { in: string; pointer: string }) => [e.in, e.pointer]), [['body', '']]);
  });

  it('points into the query string with in: "query"', async () => {
    const res = await t.client.request('GET', '/api/v1/domains?limit=1000');
    assert.ok(isProblem(res, 400));
    assert.deepEqual(res.body.errors.map((e: { in: string; pointer: string }) => [e.in, e.pointer]), [['query', '/limit']]);
  });

  it('refuses control characters in a name (they would reach logs and headers)', async () => {
    const res = await t.client.request('POST', '/api/v1/keys', { name: 'a\r\nb', scopes: ['send'] });
    assert.ok(isProblem(res, 400));
    assert.equal(res.body.errors[0].pointer, '/name');
  });

  it('points a domain-level refusal at the field too: 422 /name for a string that is no domain', async () => {
    const res = await t.client.request('POST', '/api/v1/domains', { name: 'not a domain' });
    assert.ok(isProblem(res, 422));
    assert.equal(res.body.errors[0].pointer, '/name');
  });
});
