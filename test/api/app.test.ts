import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi } from './api-test-app.ts';
import { fillPath } from './isolation-routes.ts';

const PUBLIC_PATHS = new Set(['/healthz', '/readyz']);

describe('the API application', () => {
  let api: TestApi;
  before(async () => {
    // Every route is asked without a token below: the per-IP budget of failed authentications
    // (on by default, rate-limit.test.ts proves it) would turn the later 401s into 429s.
    api = await startTestApi({ env: { POSTLINE_API_IP_RATE: '0' } });
  });
  after(() => api.close());

  it('answers /healthz and /readyz without a token', async () => {
    assert.deepEqual((await api.anonymous.request('GET', '/healthz')).body, { status: 'ok' });
    const ready = await api.anonymous.request('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ok');
    assert.equal(typeof ready.body.queue, 'object');
  });

  it('answers an unknown route with 404 problem+json', async () => {
    const res = await api.admin.request('GET', '/api/v1/nothing-here?x=1');
    assert.ok(isProblem(res, 404), res.text);
    assert.equal(res.body.type, 'https://postline.dev/problems/not-found');
    assert.equal(res.body.instance, '/api/v1/nothing-here');
    assert.match(res.body.request_id, /^req_/);
  });

  it('answers a URL it cannot decode with 400 problem+json', async () => {
    const res = await api.admin.request('GET', '/api/v1/tenants/%E0%A4%A');
    assert.ok(isProblem(res, 400), res.text);
  });

  it('answers 415 problem+json (with Accept) to a body that is not application/json (RFC 9110 §15.5.16)', async () => {
    const res = await api.admin.request('POST', '/api/v1/tenants', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.ok(isProblem(res, 415), res.text);
    assert.equal(res.headers.accept, 'application/json');
    assert.ok(isProblem(await api.admin.request('POST', '/api/v1/tenants', 'acme', { 'content-type': 'text/plain' }), 415));
  });

  it('answers 400 malformed-request problem to invalid JSON', async () => {
    const res = await api.admin.request('POST', '/api/v1/tenants', '{"name":', { 'content-type': 'application/json' });
    assert.ok(isProblem(res, 400), res.text);
    assert.equal(res.body.type, 'https://postline.dev/problems/malformed-request');
  });

  it('refuses a __proto__ key in JSON with 400, not a polluted object', async () => {
    const res = await api.admin.request('POST', '/api/v1/tenants', '{"name":"x","__proto__":{"admin":true}}', { 'content-type': 'application/json' });
    assert.ok(isProblem(res, 400), res.text);
  });

  it('answers 413 problem+json to a body over the route limit', async () => {
    const res = await api.admin.request('POST', '/api/v1/tenants', { name: 'big', pad: 'x'.repeat(70 * 1024) });
    assert.ok(isProblem(res, 413), res.text);
    assert.equal(res.body.type, 'https://postline.dev/problems/payload-too-large');
  });

  it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
    const res = await api.anonymous.request('GET', '/api/v1/openapi.json');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const doc = JSON.parse(res.text);
    assert.equal(doc.openapi, '3.1.0');
    for (const path of ['/api/v1/tenants', '/api/v1/tenants/{id}', '/api/v1/tenants/{id}/keys', '/api/v1/keys', '/api/v1/keys/{id}', '/api/v1/smtp-credentials', '/api/v1/domains', '/healthz']) {
      assert.ok(doc.paths[path], `missing ${path}`);
    }
    const create = doc.paths['/api/v1/keys'].post;
    assert.deepEqual(create.security, [{ apiKey: ['manage'] }]);
    assert.ok(create.requestBody.content['application/json'].schema.properties.scopes);
    assert.ok(create.responses.default.content['application/problem+json']);
    assert.deepEqual(doc.paths['/api/v1/tenants'].get.security, [{ adminToken: [] }]);
    assert.ok(doc.components.schemas.Problem);
    assert.ok(!doc.paths['/api/docs'] && !doc.paths['/api/v1/openapi.json'], 'doc routes are hidden');
  });

  it('renders the document at /api/docs', async () => {
    const res = await api.anonymous.request('GET', '/api/docs/');
    assert.equal(res.status, 200);
    assert.match(res.text, /swagger-ui/i);
  });

  it('answers 401 problem+json without a token on every /api/v1 route of the document', async () => {
    const doc = (await api.anonymous.request('GET', '/api/v1/openapi.json')).body;
    let checked = 0;
    for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
      if (PUBLIC_PATHS.has(path)) continue;
      for (const method of Object.keys(ops)) {
        const url = fillPath(path, new Proxy({}, { has: () => true, get: () => 'x' }));
        const res = await api.anonymous.request(method.toUpperCase(), url, method === 'get' || method === 'delete' ? undefined : {});
        assert.equal(res.status, 401, `${method.toUpperCase()} ${path} answered ${res.status} without a token`);
        assert.ok(isProblem(res, 401));
        checked++;
      }
    }
    assert.ok(checked >= 15);
  });

  it('answers /readyz with 503 problem+json and Retry-After when the store does not answer', async () => {
    const broken = await startTestApi();
    await broken.store.close();
    try {
      const res = await broken.anonymous.request('GET', '/readyz');
      assert.ok(isProblem(res, 503), res.text);
      assert.equal(res.headers['retry-after'], '5');
      assert.ok(!res.text.includes('destroyed') && !res.text.includes('at '), 'no internals in the body');
    } finally {
      await broken.app.close();
    }
  });
});
