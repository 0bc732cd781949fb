import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { insertEvents } from '../../src/store/index.ts';
import { startTestApi, isProblem, type TestApi, type TestTenant } from './api-test-app.ts';
import { seedMessage } from '../events/seed-messages.ts';

let api: TestApi;
let a: TestTenant;
let b: TestTenant;
let first: string;
let second: string;
const t0 = Date.parse('2026-04-01T00:00:00Z');

before(async () => {
  api = await startTestApi();
  a = await api.tenant('events-a');
  b = await api.tenant('events-b');
  first = await seedMessage(api.store, a.id, { to: ['x@example.com', 'y@example.com'], outcomes: { 'x@example.com': 'delivered', 'y@example.com': 'bounced' }, now: t0 });
  second = await seedMessage(api.store, a.id, { to: ['z@example.com'], outcomes: { 'z@example.com': 'deferred' }, now: t0 + 3_600_000 });
  await seedMessage(api.store, b.id, { to: ['x@example.com'], outcomes: { 'x@example.com': 'delivered' }, now: t0 });
  await api.store.write((trx) => insertEvents(trx, [{ type: 'webhook.disabled', tenantId: a.id, data: { webhook_id: 'whk_x', reason: 'gone' } }], t0 + 7_200_000));
});

after(() => api.close());

async function events(query: string, client = a.client) {
  const res = await client.request('GET', `/api/v1/events${query}`);
  assert.equal(res.status, 200, res.text);
  return res.body as { data: Array<{ id: string; type: string; message_id: string | null; recipient_id: number | null; data: any; cursor: string }>; next_cursor: string | null };
}

describe('GET /api/v1/events', () => {
  it('lists the caller\'s events oldest first, with stable ids, data and a cursor each', async () => {
    const page = await events('');
    assert.deepEqual(page.data.map((e) => e.type), ['message.queued', 'message.delivered', 'message.bounced', 'message.queued', 'message.deferred', 'webhook.disabled']);
    assert.ok(page.data.every((e) => /^evt_/.test(e.id)));
    assert.equal(page.data[2].data.classification, 'hard');
    assert.equal(typeof page.data[1].recipient_id, 'number');
    assert.equal(page.next_cursor, null);
    const other = await events('', b.client);
    assert.ok(other.data.every((e) => e.message_id !== first && e.message_id !== second), 'no event of another tenant');
  });

  it('filters by type (comma-separated or repeated), by message and by time', async () => {
    assert.deepEqual((await events('?type=message.delivered,message.bounced')).data.map((e) => e.type), ['message.delivered', 'message.bounced']);
    assert.deepEqual((await events('?type=message.queued&type=webhook.disabled')).data.map((e) => e.type), ['message.queued', 'message.queued', 'webhook.disabled']);
    assert.deepEqual((await events(`?message_id=${second}`)).data.map((e) => e.type), ['message.queued', 'message.deferred']);
    const since = encodeURIComponent(new Date(t0 + 1_000).toISOString());
    const until = encodeURIComponent(new Date(t0 + 7_200_000).toISOString());
    assert.deepEqual((await events(`?since=${since}&until=${until}`)).data.map((e) => e.message_id), [second, second]);
  });

  it('pages with limit and next_cursor, and a cursor from any event resumes after it', async () => {
    const all = (await events('')).data.map((e) => e.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await events(`?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.data.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, all);
    const third = (await events('')).data[2];
    assert.deepEqual((await events(`?cursor=${third.cursor}`)).data.map((e) => e.id), all.slice(3));
  });

  it('answers 400 problem+json for an unknown type or a bad cursor', async () => {
    for (const [q, pointer] of [['?type=message.teleported', '/type'], ['?cursor=abc', '/cursor'], ['?since=now', '/since']]) {
      const res = await a.client.request('GET', `/api/v1/events${q}`);
      assert.equal(res.status, 400, q);
      assert.ok(isProblem(res, 400));
      assert.equal(res.body.errors[0].pointer, pointer);
    }
  });
});
