import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCursor } from '../../src/api/index.ts';
import { startTestApi, isProblem, type TestApi } from './api-test-app.ts';

describe('cursor pagination', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
    for (let i = 0; i < 5; i++) await api.admin.request('POST', '/api/v1/tenants', { name: `page-${i}` });
  });
  after(() => api.close());

  it('walks every item once, in creation order, with next_cursor null on the last page', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await api.admin.request('GET', `/api/v1/tenants?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.data.length <= 2);
      seen.push(...res.body.data.map((t: { name: string }) => t.name));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    assert.deepEqual(seen, ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    assert.equal(pages, 3);
  });

  it('answers an exactly full last page with next_cursor null', async () => {
    const res = await api.admin.request('GET', '/api/v1/tenants?limit=5');
    assert.equal(res.body.data.length, 5);
    assert.equal(res.body.next_cursor, null);
  });

  it('defaults to 50 items and refuses a limit over 100 with a pointer to /limit', async () => {
    assert.equal((await api.admin.request('GET', '/api/v1/tenants')).status, 200);
    const res = await api.admin.request('GET', '/api/v1/tenants?limit=101');
    assert.ok(isProblem(res, 400));
    assert.deepEqual(res.body.errors.map((e: { in: string; pointer: string }) => [e.in, e.pointer]), [['query', '/limit']]);
  });

  it('refuses a cursor it did not issue with 400 pointing at /cursor', async () => {
    for (const bad of ['%%%', 'not base64!', 'AAAA=', encodeCursor('x').slice(0, -1) + '*']) {
      const res = await api.admin.request('GET', `/api/v1/tenants?cursor=${encodeURIComponent(bad)}`);
      assert.ok(isProblem(res, 400), `${bad}: ${res.text}`);
      assert.equal(res.body.errors[0].pointer, '/cursor');
    }
  });
});
