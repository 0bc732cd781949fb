import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { webUiPlugin } from '../../src/web/index.ts';

async function appFor(distDir: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/api/v1/real', async () => ({ ok: true }));
  await app.register(webUiPlugin, { distDir, notFound: (_req, reply) => reply.code(404).send({ code: 'API_NO_ROUTE' }) });
  await app.ready();
  return app;
}

describe('serving the built dashboard at / (SPA fallback)', () => {
  let dir: string;
  let app: FastifyInstance;
  const script = `console.log(${JSON.stringify('x'.repeat(4000))});`;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-dist-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Postline</title><script src="/assets/app-abc123.js"></script>');
    writeFileSync(join(dir, 'assets', 'app-abc123.js'), script);
    app = await appFor(dir);
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers / with index.html, no-cache, and a CSP that allows only same-origin scripts and no framing', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.match(res.headers['content-security-policy'] as string, /script-src 'self';.*frame-ancestors 'none'/);
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.match(res.body, /<title>Postline<\/title>/);
  });

  it('answers client-side routes (/messages/01J…, /domains) with index.html', async () => {
    for (const url of ['/messages/01JD4W3Q0Z8M2V5K7N9P1R3T5X', '/domains', '/inbox?q=x']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.body, /<title>Postline/);
    }
  });

  it('never answers an API path or a missing file with the page: the API\'s 404', async () => {
    for (const url of ['/api/v1/nope', '/api', '/assets/missing.js', '/favicon.ico', '/healthz']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().code, 'API_NO_ROUTE');
    }
    assert.deepEqual((await app.inject({ method: 'GET', url: '/api/v1/real' })).json(), { ok: true });
  });

  it('serves hashed assets immutable, gzipped when accepted, and 304 for a matching ETag', async () => {
    const res = await app.inject({ method: 'GET', url: '/assets/app-abc123.js', headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(res.rawPayload).toString(), script);
    const plain = await app.inject({ method: 'GET', url: '/assets/app-abc123.js' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body, script);
    const again = await app.inject({ method: 'GET', url: '/assets/app-abc123.js', headers: { 'if-none-match': String(res.headers.etag) } });
    assert.equal(again.statusCode, 304);
  });

  it('answers / with 503 and how to build the UI when web/dist is missing', async () => {
    const missing = await appFor(join(dir, 'nope'));
    const res = await missing.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /npm run build:ui/);
    await missing.close();
  });
});
