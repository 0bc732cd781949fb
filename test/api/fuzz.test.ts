// Property: whatever JSON (or non-JSON) is posted to any POST/PUT/PATCH route of the OpenAPI
// document, the API never answers 5xx, and every 4xx is RFC 9457 problem+json. Routes are
// read from the document, so new routes are fuzzed without editing this file. Runs per route:
// POSTLINE_FUZZ_RUNS (default 200); the seed is fixed (POSTLINE_FUZZ_SEED) so CI is repeatable.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startTestApi, isProblem, type ApiClient, type TestApi, type TestTenant } from './api-test-app.ts';
import { fillPath } from './isolation-routes.ts';

const RUNS = Number(process.env.POSTLINE_FUZZ_RUNS ?? 200);
const SEED = Number(process.env.POSTLINE_FUZZ_SEED ?? 9457);

interface FuzzRoute {
  readonly method: string;
  readonly path: string;
  readonly auth: 'admin' | 'tenant' | 'public';
  /** Body properties and their JSON schemas, to generate near-valid values. */
  readonly fields: Record<string, any>;
}

function resolveRef(doc: any, schema: any): any {
  if (schema?.$ref) return doc.components?.schemas?.[String(schema.$ref).split('/').pop()!];
  return schema;
}

function writeRoutes(doc: any): FuzzRoute[] {
  const out: FuzzRoute[] = [];
  for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) {
      if (!['post', 'put', 'patch'].includes(method)) continue;
      const sec = op.security ?? [];
      const auth = sec.some((s: object) => 'apiKey' in s) ? 'tenant' : sec.some((s: object) => 'adminToken' in s) ? 'admin' : 'public';
      const schema = resolveRef(doc, op.requestBody?.content?.['application/json']?.schema);
      const variants = [schema, ...(schema?.anyOf ?? [])].map((s) => resolveRef(doc, s));
      const fields = Object.assign({}, ...variants.map((s) => s?.properties ?? {}));
      out.push({ method: method.toUpperCase(), path, auth, fields });
    }
  }
  return out;
}

/** A value that satisfies the property's schema where we can tell how (enum, pattern, type). */
function validish(schema: any): fc.Arbitrary<unknown> {
  if (Array.isArray(schema?.enum)) return fc.constantFrom(...schema.enum);
  if (schema?.type === 'boolean') return fc.boolean();
  if (schema?.type === 'array') return fc.array(validish(schema.items), { maxLength: 4 });
  if (schema?.type === 'string' && schema.pattern) return fc.stringMatching(new RegExp(schema.pattern, 'u'));
  if (schema?.type === 'string') return fc.string({ maxLength: Math.min(Number(schema.maxLength ?? 50), 300) });
  if (schema?.type === 'integer') return fc.integer();
  return fc.jsonValue();
}

/** Bodies: any JSON value, objects with the route's own fields (near-valid or odd values), and raw text. */
function bodies(fields: Record<string, any>): fc.Arbitrary<{ raw: string; contentType: string }> {
  const odd = fc.oneof(fc.jsonValue(), fc.string({ unit: 'binary' }), fc.constantFrom('', 'x'.repeat(300), '\r\nBcc: a@b.c', '../../etc/passwd', '__proto__', -1, 1e308, 0.5, true));
  const names = Object.keys(fields);
  const shaped = names.length
    ? fc.record(Object.fromEntries(names.map((f) => [f, fc.oneof({ arbitrary: validish(fields[f]), weight: 3 }, { arbitrary: odd, weight: 1 })])), { requiredKeys: [] })
    : fc.jsonValue();
  const json = fc.oneof(fc.jsonValue(), { arbitrary: shaped, weight: 3 }, fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }))
    .map((v) => ({ raw: JSON.stringify(v) ?? 'null', contentType: 'application/json' }));
  const text = fc.tuple(fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16'))
    .map(([raw, contentType]) => ({ raw, contentType }));
  return fc.oneof({ arbitrary: json, weight: 4 }, { arbitrary: text, weight: 1 });
}

describe('property: malformed bodies never cause a 5xx, and every 4xx is problem+json', () => {
  let api: TestApi;
  let tenant: TestTenant;
  let routes: FuzzRoute[];
  before(async () => {
    // One key posts every generated body: with the default per-key limit most would stop at
    // the 429 before reaching validation, and the property would prove little.
    api = await startTestApi({ env: { POSTLINE_API_KEY_RATE: '0' } });
    tenant = await api.tenant('fuzz-owner');
    routes = writeRoutes((await api.anonymous.request('GET', '/api/v1/openapi.json')).body);
  });
  after(() => api.close());

  it('finds the write routes in the OpenAPI document', () => {
    assert.ok(routes.length >= 7, JSON.stringify(routes.map((r) => `${r.method} ${r.path}`)));
  });

  it(`posts ${RUNS} generated bodies to every POST/PUT/PATCH route (seed ${SEED})`, async () => {
    for (const route of routes) {
      const client: ApiClient = route.auth === 'tenant' ? tenant.client : api.admin;
      // `{id}` under /tenants is a real tenant, so bodies get past the lookup; others are unknown ids.
      const url = fillPath(route.path, new Proxy({}, { has: () => true, get: (_t, name) => (name === 'id' && route.path.startsWith('/api/v1/tenants/') ? tenant.id : 'obj_unknown') }));
      await fc.assert(fc.asyncProperty(bodies(route.fields), async ({ raw, contentType }) => {
        const res = await client.request(route.method, url, raw, { 'content-type': contentType });
        assert.notEqual(res.status, 429, 'no rate limit in the way');
        assert.ok(res.status < 500, `${route.method} ${route.path} answered ${res.status} to ${JSON.stringify(raw).slice(0, 300)}: ${res.text.slice(0, 300)}`);
        if (res.status >= 400) assert.ok(isProblem(res), `${route.method} ${route.path} ${res.status} is not problem+json: ${res.text.slice(0, 300)}`);
      }), { numRuns: RUNS, seed: SEED });
    }
  });
});
