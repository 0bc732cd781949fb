import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { insertEvents, getSetting, WEBHOOK_CURSOR_SETTING } from '../../src/store/index.ts';
import { fanOutBatch } from '../../src/events/index.ts';
import { startTestApi, isProblem, type TestApi, type TestTenant } from './api-test-app.ts';

let api: TestApi;
let a: TestTenant;
let b: TestTenant;
const day = Date.parse('2026-05-10T00:00:00Z');
const H = 3_600_000;

async function emit(tenantId: string, type: string, at: number, n = 1) {
  await api.store.write((trx) => insertEvents(trx, Array.from({ length: n }, () => ({ type, tenantId, data: {} })), at));
}

before(async () => {
  api = await startTestApi();
  a = await api.tenant('stats-a');
  b = await api.tenant('stats-b');
  await emit(a.id, 'message.queued', day + 1 * H + 5, 4);
  await emit(a.id, 'message.delivered', day + 1 * H + 60_000, 3);
  await emit(a.id, 'message.bounced', day + 1 * H + 120_000, 1);
  await emit(a.id, 'message.delivered', day + 3 * H, 2);
  await emit(a.id, 'message.delivered', day + 30 * H, 5);
  await emit(b.id, 'message.bounced', day + 1 * H, 50);
});

after(() => api.close());

async function stats(query: string) {
  const res = await a.client.request('GET', `/api/v1/stats${query}`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

describe('GET /api/v1/stats', () => {
  it('counts events per type in hour buckets, with delivery and bounce rates, empty hours included', async () => {
    const s = await stats(`?interval=hour&from=${new Date(day).toISOString()}&to=${new Date(day + 4 * H).toISOString()}`);
    assert.equal(s.buckets.length, 4);
    assert.deepEqual(s.buckets.map((x: { start: string }) => x.start), [0, 1, 2, 3].map((h) => new Date(day + h * H).toISOString()));
    assert.deepEqual(s.buckets[0].counts, {});
    assert.equal(s.buckets[0].delivery_rate, null);
    assert.deepEqual(s.buckets[1].counts, { 'message.queued': 4, 'message.delivered': 3, 'message.bounced': 1 });
    assert.equal(s.buckets[1].delivery_rate, 0.75);
    assert.equal(s.buckets[1].bounce_rate, 0.25);
    assert.deepEqual(s.totals, { 'message.queued': 4, 'message.delivered': 5, 'message.bounced': 1 });
    assert.equal(s.delivery_rate, 5 / 6);
    assert.equal(s.bounce_rate, 1 / 6);
  });

  it('counts in UTC day buckets and never counts another tenant\'s events', async () => {
    const s = await stats(`?interval=day&from=${new Date(day).toISOString()}&to=${new Date(day + 2 * 24 * H).toISOString()}`);
    assert.equal(s.buckets.length, 2);
    assert.deepEqual(s.buckets[0].counts, { 'message.queued': 4, 'message.delivered': 5, 'message.bounced': 1 });
    assert.deepEqual(s.buckets[1].counts, { 'message.delivered': 5 });
    assert.equal(s.totals['message.bounced'], 1, 'tenant B\'s 50 bounces are not here');
  });

  it('answers the same counts once the fan-out rolled the events up by hour, and keeps them when retention deletes the events', async () => {
    const query = `?interval=day&from=${new Date(day).toISOString()}&to=${new Date(day + 2 * 24 * H).toISOString()}`;
    const live = await stats(query);
    let cursor = Number((await getSetting(api.store.db, WEBHOOK_CURSOR_SETTING)) ?? 0);
    for (let more = true; more;) ({ cursor, more } = await fanOutBatch(api.store, cursor, 7));
    assert.deepEqual(await stats(query), live);
    await api.store.write((trx) => trx.deleteFrom('events').where('tenant_id', '=', a.id).execute());
    assert.deepEqual(await stats(query), live);
  });

  it('defaults to the last 24 buckets up to now', async () => {
    const s = await stats('?interval=hour');
    assert.ok(s.buckets.length === 24 || s.buckets.length === 25);
    assert.ok(Date.parse(s.to) <= Date.now());
  });

  it('answers 400 problem+json for an inverted or too long range and a bad interval', async () => {
    for (const [q, pointer] of [
      [`?from=${new Date(day + H).toISOString()}&to=${new Date(day).toISOString()}`, '/from'],
      ['?interval=hour&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', '/from'],
      ['?interval=week', '/interval'],
    ]) {
      const res = await a.client.request('GET', `/api/v1/stats${q}`);
      assert.equal(res.status, 400, q);
      assert.ok(isProblem(res, 400));
      assert.equal(res.body.errors[0].pointer, pointer);
    }
  });
});
