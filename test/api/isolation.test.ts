import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi, type TestTenant } from './api-test-app.ts';
import { ISOLATION_ROUTES, fillPath } from './isolation-routes.ts';

/** Tenant routes (apiKey security) in the OpenAPI document, as `METHOD /path`. */
async function tenantRoutes(api: TestApi): Promise<string[]> {
  const doc = (await api.anonymous.request('GET', '/api/v1/openapi.json')).body;
  const out: string[] = [];
  for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) {
      if (op.security?.some((s: Record<string, unknown>) => 'apiKey' in s)) out.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return out;
}

describe('tenant isolation: a key never sees or touches another tenant\'s objects', () => {
  let api: TestApi;
  let a: TestTenant;
  let b: TestTenant;
  before(async () => {
    api = await startTestApi();
    a = await api.tenant('tenant-a');
    b = await api.tenant('tenant-b');
  });
  after(() => api.close());

  it('lists every tenant route that names an object (or lists objects) in ISOLATION_ROUTES', async () => {
    const listed = new Set(ISOLATION_ROUTES.map((r) => r.route));
    const missing = (await tenantRoutes(api)).filter((r) => (r.includes('{') || r.startsWith('GET ')) && !listed.has(r));
    assert.deepEqual(missing, [], `add these routes to test/api/isolation-routes.ts: ${missing.join(', ')}`);
  });

  for (const entry of ISOLATION_ROUTES) {
    const [method, path] = entry.route.split(' ');
    if ((entry.kind ?? 'object') === 'object') {
      it(`${entry.route}: tenant A gets 404 problem+json for tenant B's object; B gets ${entry.ownerStatus}`, async () => {
        const params = await entry.setup(b.client, { store: api.store, tenantId: b.id });
        const url = fillPath(path, params);
        const body = entry.body?.(params);
        const foreign = await a.client.request(method, url, body);
        assert.equal(foreign.status, 404, foreign.text);
        assert.ok(isProblem(foreign, 404), foreign.text);
        assert.ok(!foreign.text.includes(b.id), 'the 404 must not reveal the owner');
        const own = await b.client.request(method, url, body);
        assert.equal(own.status, entry.ownerStatus, own.text);
      });
    } else {
      it(`${entry.route}: tenant A's list omits tenant B's object; B's list has it`, async () => {
        const params = await entry.setup(b.client, { store: api.store, tenantId: b.id });
        const url = fillPath(path, params);
        const foreign = await a.client.request(method, `${url}?limit=100`);
        assert.equal(foreign.status, 200, foreign.text);
        assert.ok(!foreign.text.includes(params.id), `${params.id} leaked into tenant A's list`);
        assert.ok(!foreign.text.includes(b.id), "tenant B's id leaked into tenant A's list");
        const own = await b.client.request(method, `${url}?limit=100`);
        assert.equal(own.status, entry.ownerStatus, own.text);
        assert.ok(own.text.includes(params.id));
      });
    }
  }
});
