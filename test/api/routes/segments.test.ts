import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi, type TestTenant } from '../api-test-app.ts';
import { audiencePage, insertTrackingEvent, type SegmentCondition } from '../../../src/store/index.ts';

describe('segments: dynamic filters over fields, attributes, lists and engagement, with a count preview', () => {
  let api: TestApi;
  let t: TestTenant;
  let other: TestTenant;
  let vip: string;
  let all: string;
  const ids: Record<string, string> = {};

  async function contact(email: string, name: string | null, attributes: Record<string, unknown>, lists: string[]) {
    const res = await t.client.request('POST', '/api/v1/contacts', { email, name, attributes, lists });
    assert.equal(res.status, 201, res.text);
    ids[email.split('@')[0]] = res.body.id;
  }

  async function selected(filter: SegmentCondition | null, listIds: string[] = []): Promise<string[]> {
    const rows = await audiencePage(api.store.db, { tenantId: t.id, listIds, filter }, null, 1000);
    const byId = Object.fromEntries(Object.entries(ids).map(([k, v]) => [v, k]));
    return rows.map((r) => byId[r.id]).sort();
  }

  before(async () => {
    api = await startTestApi();
    t = await api.tenant();
    other = await api.tenant();
    vip = (await t.client.request('POST', '/api/v1/lists', { name: 'VIP' })).body.id;
    all = (await t.client.request('POST', '/api/v1/lists', { name: 'All' })).body.id;
    await contact('ann@example.com', 'Ann', { plan: 'gold', signup: '2024-03-01', age: 31 }, [vip, all]);
    await contact('bob@example.org', 'Bob', { plan: 'silver', signup: '2025-06-15', age: 45 }, [all]);
    await contact('cat@example.com', null, { plan: 'bronze' }, [all]);
    await contact('dan@example.net', 'Dan', {}, []);
    await t.client.request('PATCH', `/api/v1/contacts/${ids.dan}`, { status: 'unsubscribed' });
    // Another tenant's contact with the same attributes is never selected.
    await other.client.request('POST', '/api/v1/contacts', { email: 'ann@example.com', attributes: { plan: 'gold' } });
    const now = Date.now();
    await api.store.write(async (trx) => {
      await insertTrackingEvent(trx, { tenant_id: t.id, campaign_id: null, message_id: 'm1', contact_id: ids.bob, kind: 'open', url: null, machine: 0, ip: null, user_agent: null, created_at: now - 5 * 86_400_000 });
      await insertTrackingEvent(trx, { tenant_id: t.id, campaign_id: null, message_id: 'm2', contact_id: ids.cat, kind: 'open', url: null, machine: 0, ip: null, user_agent: null, created_at: now - 60 * 86_400_000 });
      // A machine open (prefetch) is not engagement.
      await insertTrackingEvent(trx, { tenant_id: t.id, campaign_id: null, message_id: 'm3', contact_id: ids.ann, kind: 'open', url: null, machine: 1, ip: null, user_agent: null, created_at: now });
    });
  });
  after(() => api.close());

  it('selects exactly the contacts each operator names', async () => {
    assert.deepEqual(await selected({ field: 'attributes.plan', op: 'eq', value: 'gold' }), ['ann']);
    assert.deepEqual(await selected({ field: 'attributes.plan', op: 'in', value: ['gold', 'bronze'] }), ['ann', 'cat']);
    assert.deepEqual(await selected({ field: 'email', op: 'contains', value: 'EXAMPLE.COM' }), ['ann', 'cat']);
    assert.deepEqual(await selected({ field: 'name', op: 'exists' }), ['ann', 'bob', 'dan']);
    assert.deepEqual(await selected({ not: { field: 'attributes.age', op: 'exists' } }), ['cat', 'dan']);
    assert.deepEqual(await selected({ field: 'attributes.signup', op: 'after', value: '2025-01-01' }), ['bob']);
    assert.deepEqual(await selected({ field: 'attributes.signup', op: 'before', value: '2025-01-01' }), ['ann']);
    assert.deepEqual(await selected({ field: 'attributes.plan', op: 'neq', value: 'gold' }), ['bob', 'cat', 'dan']);
    assert.deepEqual(await selected({ list: vip }), ['ann']);
    assert.deepEqual(await selected({ engagement: 'opened', within_days: 30 }), ['bob']);
    assert.deepEqual(await selected({ any: [{ list: vip }, { engagement: 'opened', within_days: 90 }] }), ['ann', 'bob', 'cat']);
    assert.deepEqual(await selected({ all: [{ field: 'status', op: 'eq', value: 'subscribed' }, { field: 'created_at', op: 'after', value: '2000-01-01T00:00:00Z' }] }), ['ann', 'bob', 'cat']);
    assert.deepEqual(await selected({ field: 'attributes.plan', op: 'neq', value: 'gold' }, [all]), ['bob', 'cat']);
  });

  it('counts a saved segment (total and subscribed) and previews an unsaved filter with lists', async () => {
    const seg = await t.client.request('POST', '/api/v1/segments', { name: 'Not gold', filter: { field: 'attributes.plan', op: 'neq', value: 'gold' } });
    assert.equal(seg.status, 201, seg.text);
    const count = await t.client.request('GET', `/api/v1/segments/${seg.body.id}/count`);
    assert.deepEqual(count.body, { total: 3, subscribed: 2 });
    const preview = await t.client.request('POST', '/api/v1/segments/preview', { filter: { field: 'attributes.plan', op: 'neq', value: 'gold' }, lists: [all] });
    assert.deepEqual(preview.body, { total: 2, subscribed: 2 });
    const foreign = await other.client.request('GET', `/api/v1/segments/${seg.body.id}/count`);
    assert.ok(isProblem(foreign, 404));
  });

  it('refuses an unknown field, a missing value and an injected attribute path with 400 and a pointer', async () => {
    for (const filter of [
      { field: 'password', op: 'eq', value: 'x' },
      { field: 'name', op: 'eq' },
      { field: "attributes.x')--", op: 'eq', value: 'x' },
      { field: 'name', op: 'in', value: 'x' },
    ]) {
      const res = await t.client.request('POST', '/api/v1/segments', { name: 'bad', filter });
      assert.ok(isProblem(res, 400), `${JSON.stringify(filter)}: ${res.text}`);
    }
  });
});
