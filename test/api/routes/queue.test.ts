import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { listAuditLogPage } from '../../../src/store/index.ts';
import { startTestApi, isProblem, type TestApi, type TestTenant } from '../api-test-app.ts';

describe('queue: /api/v1/queue, destinations, counts, bulk retry and cancel', () => {
  let api: TestApi;
  let acme: TestTenant;
  let globex: TestTenant;
  const ids: Record<string, string> = {};

  /** A message scheduled an hour ahead (it stays queued), to `to`. */
  async function queued(t: TestTenant, from: string, to: string[]): Promise<string> {
    const res = await t.client.request('POST', '/api/v1/messages', { from, to, subject: `to ${to.join(',')}`, text: 'x', send_at: new Date(Date.now() + 3600_000).toISOString() });
    assert.equal(res.status, 202, res.text);
    return res.body.id;
  }

  /** What a failed attempt leaves on a recipient: deferred with the remote's answer. */
  async function defer(messageId: string, response: string, mx: string): Promise<void> {
    await api.store.write((trx) => trx.updateTable('recipients')
      .set({ status: 'deferred', attempts: 1, last_code: 451, last_enhanced: '4.7.1', last_response: response, last_mx: mx, updated_at: Date.now() })
      .where('message_id', '=', messageId).execute());
  }

  before(async () => {
    api = await startTestApi();
    acme = await api.tenant('acme');
    globex = await api.tenant('globex');
    assert.equal((await acme.client.request('POST', '/api/v1/domains', { name: 'acme.example' })).status, 201);
    assert.equal((await globex.client.request('POST', '/api/v1/domains', { name: 'globex.example' })).status, 201);
    ids.gmail = await queued(acme, 'a@acme.example', ['ann@gmail.example', 'bob@gmail.example']);
    ids.yahoo = await queued(acme, 'a@acme.example', ['cy@yahoo.example']);
    ids.later = await queued(acme, 'a@acme.example', ['dee@outlook.example']);
    ids.globex = await queued(globex, 'g@globex.example', ['eve@gmail.example']);
    await defer(ids.gmail, '451 4.7.1 Greylisted, try again later', 'mx1.gmail.example');
    await defer(ids.yahoo, '421 4.7.0 Temporarily deferred', 'mta5.yahoo.example');
    await defer(ids.globex, '451 4.3.0 globex only', 'mx1.gmail.example');
  });
  after(() => api.close());

  it('groups open recipients by destination with counts and the last error, only of the caller\'s tenant', async () => {
    const res = await acme.client.request('GET', '/api/v1/queue/destinations');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.data.map((d: any) => [d.domain, d.queued, d.deferred, d.inflight]), [
      ['gmail.example', 0, 2, 0], ['outlook.example', 1, 0, 0], ['yahoo.example', 0, 1, 0],
    ]);
    const gmail = res.body.data[0];
    assert.deepEqual([gmail.last_error.code, gmail.last_error.response, gmail.last_error.mx], [451, '451 4.7.1 Greylisted, try again later', 'mx1.gmail.example']);
    assert.equal(res.body.data[1].last_error, null);
    assert.ok(!res.text.includes('globex only'));
  });

  it('filters destinations by status, and pages them by domain with the cursor', async () => {
    const deferred = await acme.client.request('GET', '/api/v1/queue/destinations?status=deferred');
    assert.deepEqual(deferred.body.data.map((d: any) => d.domain), ['gmail.example', 'yahoo.example']);
    const first = await acme.client.request('GET', '/api/v1/queue/destinations?limit=2');
    assert.equal(first.body.data.length, 2);
    const second = await acme.client.request('GET', `/api/v1/queue/destinations?limit=2&cursor=${first.body.next_cursor}`);
    assert.deepEqual(second.body.data.map((d: any) => d.domain), ['yahoo.example']);
    assert.equal(second.body.next_cursor, null);
  });

  it('counts the tenant\'s open recipients per state (scheduled ones among the queued)', async () => {
    const res = await acme.client.request('GET', '/api/v1/queue/counts');
    assert.deepEqual(res.body, { queued: 1, deferred: 3, inflight: 0, scheduled: 1 });
  });

  it('lists open recipients by domain with their message', async () => {
    const res = await acme.client.request('GET', '/api/v1/queue?domain=gmail.example');
    assert.deepEqual(res.body.data.map((r: any) => [r.email, r.status, r.message_id]), [['ann@gmail.example', 'deferred', ids.gmail], ['bob@gmail.example', 'deferred', ids.gmail]]);
    const page = await acme.client.request('GET', '/api/v1/queue?limit=1');
    assert.ok(page.body.next_cursor);
    const next = await acme.client.request('GET', `/api/v1/queue?limit=1&cursor=${page.body.next_cursor}`);
    assert.notEqual(next.body.data[0].id, page.body.data[0].id);
  });

  it('retry by filter makes deferred recipients due now (200 {retried, more}); another tenant\'s are untouched; audited queue.retried', async () => {
    const before = Date.now();
    const res = await acme.client.request('POST', '/api/v1/queue/retry', { domain: 'gmail.example' });
    assert.deepEqual(res.body, { retried: 2, more: false });
    const rows = await api.store.db.selectFrom('recipients').select(['message_id', 'next_attempt_at']).where('domain', '=', 'gmail.example').execute();
    for (const r of rows) {
      if (r.message_id === ids.globex) assert.ok(Number(r.next_attempt_at) > before + 3000_000, 'globex untouched');
      else assert.ok(Number(r.next_attempt_at) <= Date.now());
    }
    const audit = await listAuditLogPage(api.store.db, { limit: 10, action: 'queue.retried', tenantId: acme.id });
    assert.equal(JSON.parse(audit.at(-1)!.details!).recipients, 2);
  });

  it('refuses a bulk action that names nothing (400 at /all) instead of acting on everything', async () => {
    const res = await acme.client.request('POST', '/api/v1/queue/retry', {});
    assert.ok(isProblem(res, 400));
    assert.equal(res.body.errors[0].pointer, '/all');
  });

  it('cancel of a selection cancels only the caller\'s recipients (message.cancelled events); another tenant\'s ids are ignored', async () => {
    const theirs = await globex.client.request('GET', '/api/v1/queue');
    const mine = await acme.client.request('GET', '/api/v1/queue?domain=yahoo.example');
    const res = await acme.client.request('POST', '/api/v1/queue/cancel', { recipient_ids: [mine.body.data[0].id, theirs.body.data[0].id] });
    assert.deepEqual(res.body, { cancelled: 1, more: false });
    assert.equal((await globex.client.request('GET', '/api/v1/queue')).body.data.length, 1);
    const msg = await acme.client.request('GET', `/api/v1/messages/${ids.yahoo}`);
    assert.equal(msg.body.recipients[0].status, 'cancelled');
    assert.ok(msg.body.events.some((e: { type: string }) => e.type === 'message.cancelled'));
  });

  it('cancel with all: true empties the tenant\'s queue; send scope is required (a read-only key gets 403)', async () => {
    const reader = await api.admin.request('POST', `/api/v1/tenants/${acme.id}/keys`, { name: 'reader', scopes: ['read'] });
    assert.equal((await api.client(reader.body.key).request('POST', '/api/v1/queue/cancel', { all: true })).status, 403);
    const res = await acme.client.request('POST', '/api/v1/queue/cancel', { all: true });
    assert.deepEqual(res.body, { cancelled: 3, more: false });
    assert.deepEqual((await acme.client.request('GET', '/api/v1/queue/destinations')).body.data, []);
  });
});
