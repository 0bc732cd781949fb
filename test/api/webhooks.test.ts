// The webhook management API with inject(). Calls to endpoints are the dispatcher's
// business (test/events/webhook-dispatcher.test.ts, webhooks-e2e.test.ts); here nothing runs it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi, type TestTenant } from './api-test-app.ts';

let guarded: TestApi;
let open: TestApi;
let a: TestTenant;
let b: TestTenant;
let local: TestTenant;

before(async () => {
  guarded = await startTestApi();
  open = await startTestApi({ env: { POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true' } });
  a = await guarded.tenant('hooks-a');
  b = await guarded.tenant('hooks-b');
  local = await open.tenant('hooks-local');
});

after(async () => {
  await guarded.close();
  await open.close();
});

const PUBLIC_URL = 'https://1.1.1.1/postline-hook';

async function create(client = a.client, body: Record<string, unknown> = { url: PUBLIC_URL }) {
  const res = await client.request('POST', '/api/v1/webhooks', body);
  assert.equal(res.status, 201, res.text);
  return res.body;
}

describe('POST /api/v1/webhooks', () => {
  it('creates an endpoint and answers its whsec_ secret once (never again in GET)', async () => {
    const w = await create(a.client, { url: PUBLIC_URL, events: ['message.delivered', 'message.bounced', 'message.delivered'], description: 'CRM' });
    assert.match(w.id, /^whk_/);
    assert.match(w.secret, /^whsec_[A-Za-z0-9+/]{40,}={0,2}$/);
    assert.ok(Buffer.from(w.secret.slice(6), 'base64').length >= 24);
    assert.deepEqual(w.events, ['message.delivered', 'message.bounced']);
    assert.equal(w.enabled, true);
    const got = await a.client.request('GET', `/api/v1/webhooks/${w.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.secret, undefined);
    assert.ok(!got.text.includes(w.secret));
    const listed = await a.client.request('GET', '/api/v1/webhooks');
    assert.ok(!listed.text.includes(w.secret));
  });

  it('refuses a URL resolving to loopback, private or link-local addresses with 422 WEBHOOK_URL_PRIVATE unless webhooks.allow_private', async () => {
    for (const url of ['http://127.0.0.1:8080/hook', 'http://10.0.0.8/hook', 'http://169.254.169.254/latest', 'http://[::1]/hook', 'http://localhost/hook']) {
      const res = await a.client.request('POST', '/api/v1/webhooks', { url });
      assert.equal(res.status, 422, url);
      assert.ok(isProblem(res, 422));
      assert.equal(res.body.code, 'WEBHOOK_URL_PRIVATE');
      assert.equal(res.body.errors[0].pointer, '/url');
    }
    const allowed = await local.client.request('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:8080/hook' });
    assert.equal(allowed.status, 201);
  });

  it('refuses schemes other than http(s), credentials in the URL and unknown event types with 400', async () => {
    for (const body of [{ url: 'ftp://example.com/x' }, { url: 'file:///etc/passwd' }, { url: 'https://u:p@1.1.1.1/' }, { url: PUBLIC_URL, events: ['message.teleported'] }, { url: PUBLIC_URL, secret: 'mine' }]) {
      const res = await a.client.request('POST', '/api/v1/webhooks', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(isProblem(res, 400));
    }
  });

  it('needs the manage scope to create (403 for a read key), read suffices to list', async () => {
    const k = await guarded.admin.request('POST', `/api/v1/tenants/${a.id}/keys`, { name: 'reader', scopes: ['read'] });
    const reader = guarded.client(k.body.key);
    assert.equal((await reader.request('POST', '/api/v1/webhooks', { url: PUBLIC_URL })).status, 403);
    assert.equal((await reader.request('GET', '/api/v1/webhooks')).status, 200);
  });
});

describe('PATCH and DELETE /api/v1/webhooks/{id}', () => {
  it('changes the filter and URL, disables by hand and enables again', async () => {
    const w = await create();
    let res = await a.client.request('PATCH', `/api/v1/webhooks/${w.id}`, { events: ['message.bounced'], url: 'https://1.0.0.1/other' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.events, ['message.bounced']);
    assert.equal(res.body.url, 'https://1.0.0.1/other');
    res = await a.client.request('PATCH', `/api/v1/webhooks/${w.id}`, { enabled: false });
    assert.equal(res.body.enabled, false);
    assert.equal(res.body.disabled_reason, 'manual');
    res = await a.client.request('PATCH', `/api/v1/webhooks/${w.id}`, { enabled: true });
    assert.equal(res.body.enabled, true);
    assert.equal(res.body.disabled_reason, null);
    res = await a.client.request('PATCH', `/api/v1/webhooks/${w.id}`, { url: 'http://192.168.1.1/' });
    assert.equal(res.status, 422);
  });

  it('deletes an endpoint: 204, then 404', async () => {
    const w = await create();
    assert.equal((await a.client.request('DELETE', `/api/v1/webhooks/${w.id}`)).status, 204);
    assert.equal((await a.client.request('GET', `/api/v1/webhooks/${w.id}`)).status, 404);
  });
});

describe('test pings, delivery log and replay', () => {
  it('queues a webhook.test delivery that appears in the delivery log', async () => {
    const w = await create(a.client, { url: PUBLIC_URL, events: ['message.bounced'] });
    const ping = await a.client.request('POST', `/api/v1/webhooks/${w.id}/test`);
    assert.equal(ping.status, 202, ping.text);
    assert.equal(ping.body.event_type, 'webhook.test');
    assert.equal(ping.body.status, 'pending');
    assert.match(ping.body.event_id, /^evt_/);
    const log = await a.client.request('GET', `/api/v1/webhooks/${w.id}/deliveries?status=pending`);
    assert.deepEqual(log.body.data.map((d: { id: string }) => d.id), [ping.body.id]);
    assert.equal((await a.client.request('GET', `/api/v1/webhooks/${w.id}/deliveries?status=failed`)).body.data.length, 0);
  });

  it('replays one failed delivery (202, pending again) and refuses a pending one with 409', async () => {
    const w = await create();
    const ping = (await a.client.request('POST', `/api/v1/webhooks/${w.id}/test`)).body;
    const pending = await a.client.request('POST', `/api/v1/webhooks/${w.id}/deliveries/${ping.id}/replay`);
    assert.equal(pending.status, 409);
    assert.equal(pending.body.code, 'WEBHOOK_DELIVERY_PENDING');
    await guarded.store.write((trx) => trx.updateTable('webhook_deliveries').set({ status: 'failed', attempts: 8 }).where('id', '=', ping.id).execute());
    const replay = await a.client.request('POST', `/api/v1/webhooks/${w.id}/deliveries/${ping.id}/replay`);
    assert.equal(replay.status, 202, replay.text);
    assert.equal(replay.body.status, 'pending');
    assert.equal(replay.body.attempt_count, 8);
  });

  it('replays every failed delivery created since a time', async () => {
    const w = await create();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await a.client.request('POST', `/api/v1/webhooks/${w.id}/test`)).body.id);
    await guarded.store.write((trx) => trx.updateTable('webhook_deliveries').set({ status: 'failed' }).where('id', 'in', ids).execute());
    await guarded.store.write((trx) => trx.updateTable('webhook_deliveries').set({ created_at: Date.parse('2020-01-01T00:00:00Z') }).where('id', '=', ids[0]).execute());
    const res = await a.client.request('POST', `/api/v1/webhooks/${w.id}/replay`, { since: '2021-01-01T00:00:00Z' });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.replayed, 2);
    const failed = await a.client.request('GET', `/api/v1/webhooks/${w.id}/deliveries?status=failed`);
    assert.deepEqual(failed.body.data.map((d: { id: string }) => d.id), [ids[0]]);
  });

  it('refuses test and replay on a disabled endpoint with 409 WEBHOOK_DISABLED', async () => {
    const w = await create(a.client, { url: PUBLIC_URL, enabled: false });
    const res = await a.client.request('POST', `/api/v1/webhooks/${w.id}/test`);
    assert.equal(res.status, 409);
    assert.equal(res.body.code, 'WEBHOOK_DISABLED');
  });

  it('answers 404 for another tenant\'s delivery reached through one\'s own endpoint', async () => {
    const mine = await create(a.client);
    const theirs = await create(b.client);
    const ping = (await b.client.request('POST', `/api/v1/webhooks/${theirs.id}/test`)).body;
    const res = await a.client.request('POST', `/api/v1/webhooks/${mine.id}/deliveries/${ping.id}/replay`);
    assert.equal(res.status, 404);
    assert.ok(isProblem(res, 404));
  });
});
