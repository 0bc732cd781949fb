import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi, type TestTenant } from './api-test-app.ts';
import { seedBody, seedMessage } from '../events/seed-messages.ts';

let api: TestApi;
let a: TestTenant;
let b: TestTenant;
let mixed: string;
const ids: string[] = [];

before(async () => {
  api = await startTestApi();
  a = await api.tenant('reader-a');
  b = await api.tenant('reader-b');
  const t0 = Date.parse('2026-03-01T10:00:00Z');
  mixed = await seedMessage(api.store, a.id, {
    to: ['ok@example.com', 'gone@example.com', 'later@example.com'], subject: 'Mixed', tags: ['receipt', 'welcome'],
    outcomes: { 'ok@example.com': 'delivered', 'gone@example.com': 'bounced', 'later@example.com': 'deferred' }, now: t0,
  });
  ids.push(mixed);
  for (let i = 1; i <= 4; i++) {
    ids.push(await seedMessage(api.store, a.id, {
      from: i % 2 ? 'odd@example.com' : 'even@example.com', to: [`user${i}@example.com`], tags: i === 2 ? ['welcome'] : [],
      stream: i === 4 ? 'broadcast' : 'transactional', outcomes: { [`user${i}@example.com`]: 'delivered' }, now: t0 + i * 3_600_000,
    }));
  }
  await seedMessage(api.store, b.id, { to: ['ok@example.com'], outcomes: { 'ok@example.com': 'delivered' } });
});

after(() => api.close());

async function list(query: string, client = a.client) {
  const res = await client.request('GET', `/api/v1/messages${query}`);
  assert.equal(res.status, 200, res.text);
  return res.body as { data: Array<{ id: string; recipients: Record<string, number> }>; next_cursor: string | null };
}

describe('GET /api/v1/messages/{id}', () => {
  it('answers envelope, unfolded headers, per-recipient status, the event timeline and every attempt', async () => {
    const res = await a.client.request('GET', `/api/v1/messages/${mixed}`);
    assert.equal(res.status, 200, res.text);
    const m = res.body;
    assert.deepEqual(m.envelope, { mail_from: 'app@example.com', rcpt_to: ['ok@example.com', 'gone@example.com', 'later@example.com'] });
    assert.deepEqual(m.tags, ['receipt', 'welcome']);
    assert.equal(m.body_available, true);
    assert.deepEqual(m.headers.find((h: { name: string }) => h.name === 'Subject'), { name: 'Subject', value: 'Mixed continued' });
    const status = Object.fromEntries(m.recipients.map((r: { email: string; status: string }) => [r.email, r.status]));
    assert.deepEqual(status, { 'ok@example.com': 'delivered', 'gone@example.com': 'bounced', 'later@example.com': 'deferred' });
    const later = m.recipients.find((r: { email: string }) => r.email === 'later@example.com');
    assert.equal(later.last_code, 451);
    assert.ok(later.next_attempt_at, 'a deferred recipient shows its next attempt');
    assert.deepEqual(m.events.map((e: { type: string }) => e.type).sort(), ['message.bounced', 'message.deferred', 'message.delivered', 'message.queued']);
    assert.equal(m.events[0].type, 'message.queued');
    assert.equal(m.events.find((e: { type: string }) => e.type === 'message.bounced').data.classification, 'hard');
    assert.equal(m.attempts.length, 3);
    assert.deepEqual(m.attempts[0].tls, { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' });
    assert.equal(m.attempts.find((x: { outcome: string }) => x.outcome === 'bounced').enhanced, '5.1.1');
  });

  it('answers 404 problem+json for another tenant\'s message and for an unknown id', async () => {
    for (const url of [`/api/v1/messages/${mixed}`, `/api/v1/messages/${mixed}/raw`, '/api/v1/messages/nope']) {
      const client = url.endsWith('nope') ? a.client : b.client;
      const res = await client.request('GET', url);
      assert.equal(res.status, 404, url);
      assert.ok(isProblem(res, 404));
    }
  });

  it('needs the read scope (403 for a send-only key)', async () => {
    const k = await api.admin.request('POST', `/api/v1/tenants/${a.id}/keys`, { name: 'send-only', scopes: ['send'] });
    const res = await api.client(k.body.key).request('GET', `/api/v1/messages/${mixed}`);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'API_INSUFFICIENT_SCOPE');
  });
});

describe('GET /api/v1/messages/{id}/raw', () => {
  it('answers the stored bytes as message/rfc822', async () => {
    const res = await a.client.request('GET', `/api/v1/messages/${mixed}/raw`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^message\/rfc822/);
    assert.equal(res.text, seedBody('Mixed', 'app@example.com', ['ok@example.com', 'gone@example.com', 'later@example.com']).toString());
  });

  it('answers 404 MESSAGE_BODY_EXPIRED once retention removed the bytes, while the receipts remain', async () => {
    const id = await seedMessage(api.store, a.id, { to: ['x@example.com'], outcomes: { 'x@example.com': 'delivered' } });
    await api.store.write((trx) => trx.updateTable('messages').set({ body: null }).where('id', '=', id).execute());
    const raw = await a.client.request('GET', `/api/v1/messages/${id}/raw`);
    assert.equal(raw.status, 404);
    assert.equal(raw.body.code, 'MESSAGE_BODY_EXPIRED');
    const detail = await a.client.request('GET', `/api/v1/messages/${id}`);
    assert.equal(detail.status, 200);
    assert.equal(detail.body.body_available, false);
    assert.deepEqual(detail.body.headers, []);
    assert.equal(detail.body.recipients[0].status, 'delivered');
  });
});

describe('GET /api/v1/messages filters and cursor pagination', () => {
  it('lists only the caller\'s messages, newest first, with recipient counts', async () => {
    const page = await list('?limit=100');
    const own = page.data.filter((m) => ids.includes(m.id));
    assert.equal(own.length, 5);
    assert.ok(page.data.every((m, i, all) => i === 0 || all[i - 1].id > m.id), 'newest first');
    assert.deepEqual(page.data.find((m) => m.id === mixed)?.recipients, { delivered: 1, bounced: 1, deferred: 1 });
    const other = await list('?limit=100', b.client);
    assert.ok(!other.data.some((m) => ids.includes(m.id)));
  });

  it('filters by status, recipient, sender, tag, stream and time range', async () => {
    assert.deepEqual((await list('?status=bounced')).data.map((m) => m.id), [mixed]);
    assert.deepEqual((await list('?recipient=user3%40example.com')).data.map((m) => m.id), [ids[3]]);
    assert.deepEqual((await list('?sender=even%40example.com&order=asc')).data.map((m) => m.id), [ids[2], ids[4]]);
    assert.deepEqual((await list('?tag=welcome&order=asc')).data.map((m) => m.id), [mixed, ids[2]]);
    assert.deepEqual((await list('?stream=broadcast')).data.map((m) => m.id), [ids[4]]);
    const range = await list(`?from=${encodeURIComponent('2026-03-01T11:00:00Z')}&to=${encodeURIComponent('2026-03-01T13:00:00Z')}&order=asc`);
    assert.deepEqual(range.data.map((m) => m.id), [ids[1], ids[2]]);
  });

  it('walks every message exactly once with limit=2 and next_cursor, in both orders', async () => {
    for (const order of ['desc', 'asc']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await list(`?limit=2&order=${order}&from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z${cursor ? `&cursor=${cursor}` : ''}`);
        assert.ok(page.data.length <= 2);
        seen.push(...page.data.map((m) => m.id));
        cursor = page.next_cursor;
      } while (cursor);
      assert.deepEqual(seen, order === 'asc' ? ids : [...ids].reverse());
    }
  });

  it('answers 400 problem+json pointing at a bad filter', async () => {
    for (const [q, pointer] of [['?status=lost', '/status'], ['?from=yesterday', '/from'], ['?cursor=%%%', '/cursor'], ['?limit=0', '/limit']]) {
      const res = await a.client.request('GET', `/api/v1/messages${q}`);
      assert.equal(res.status, 400, q);
      assert.ok(isProblem(res, 400));
      assert.equal(res.body.errors?.[0]?.pointer, pointer, res.text);
    }
  });
});
