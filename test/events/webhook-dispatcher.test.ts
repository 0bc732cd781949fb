// The dispatcher against a real store and real HTTP endpoints on loopback. Time is the
// dispatcher's injected clock, so a retry schedule of days runs in milliseconds; runOnce()
// runs one round and waits for its calls.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../src/config/index.ts';
import {
  createTenant, insertEvents, insertWebhook, newPublicId, getWebhook, listAttemptsFor, putSetting,
  WEBHOOK_CURSOR_SETTING, type Store, type WebhookTable,
} from '../../src/store/index.ts';
import { createWebhookDispatcher, newWebhookSecret, type WebhookDispatcher } from '../../src/events/index.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';
import { openTestStore } from '../helpers/backend.ts';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;

let dir: string;
let store: Store;
const receivers: WebhookReceiver[] = [];
const dispatchers: WebhookDispatcher[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postline-webhooks-'));
  store = await openTestStore({ dataDir: dir });
});

after(async () => {
  for (const d of dispatchers) await d.stop();
  for (const r of receivers) await r.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver();
  receivers.push(r);
  return r;
}

function config(env: Record<string, string> = {}) {
  return loadConfig({ env: { POSTLINE_DATA_DIR: dir, POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true', POSTLINE_WEBHOOK_TIMEOUT: '2s', ...env } });
}

/** A dispatcher whose clock runs with real time plus an offset the test moves forward. */
function dispatcher(env: Record<string, string> = {}) {
  const clock = { offset: 0, get now() { return Date.now() + this.offset; } };
  const d = createWebhookDispatcher({ config: config(env), store, log, now: () => clock.now });
  dispatchers.push(d);
  return { d, clock };
}

let tenantSeq = 0;
async function tenant(): Promise<string> {
  return (await store.write((trx) => createTenant(trx, `wh${process.pid}-${++tenantSeq}`))).id;
}

async function endpoint(tenantId: string, url: string, events: string[] = []): Promise<WebhookTable> {
  const now = Date.now();
  const row: WebhookTable = {
    id: newPublicId('whk'), tenant_id: tenantId, url, description: null, events: JSON.stringify(events), secret: newWebhookSecret(),
    enabled: 1, disabled_reason: null, disabled_at: null, failing_since: null, created_at: now, updated_at: now,
  };
  return store.write((trx) => insertWebhook(trx, row));
}

async function emit(tenantId: string, type: string, messageId: string, data: Record<string, unknown> = {}): Promise<void> {
  await store.write((trx) => insertEvents(trx, [{ type, tenantId, messageId, data: { message_id: messageId, ...data } }]));
}

async function deliveriesOf(webhookId: string) {
  const rows = await store.db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId).orderBy('event_id').execute();
  const calls = await listAttemptsFor(store.db, rows.map((r) => r.id));
  return rows.map((r) => ({ ...r, calls: calls.get(r.id) ?? [] }));
}

describe('webhook dispatcher: Standard Webhooks delivery', () => {
  it('retries a 500 three times, then 200: delivered once, four calls logged, same webhook-id, signature verifies', async () => {
    const { d, clock } = dispatcher({ POSTLINE_WEBHOOK_RETRY_SCHEDULE: '1m,1m,1m,1m' });
    await d.runOnce();
    const t = await tenant();
    const r = await receiver();
    r.respond((_call, i) => (i < 3 ? { status: 500, body: 'boom' } : { status: 200, body: 'ok' }));
    const w = await endpoint(t, r.url);
    await emit(t, 'message.delivered', 'msg-retry', { recipient: 'a@example.com' });
    for (let i = 0; i < 4; i++) {
      await d.runOnce();
      clock.offset += 70_000;
    }
    await d.runOnce();
    assert.equal(r.calls.length, 4);
    const [delivery] = await deliveriesOf(w.id);
    assert.equal(delivery.status, 'succeeded');
    assert.equal(delivery.attempts, 4);
    assert.deepEqual(delivery.calls.map((c) => c.status_code), [500, 500, 500, 200]);
    assert.deepEqual(delivery.calls.map((c) => c.outcome), ['failed', 'failed', 'failed', 'succeeded']);
    assert.equal(delivery.calls[0].response_excerpt, 'boom');
    assert.ok(delivery.calls.every((c) => Number(c.duration_ms) >= 0));
    assert.equal(new Set(r.calls.map((c) => c.headers['webhook-id'])).size, 1, 'every retry carries the event id');
    assert.equal(r.calls[0].headers['webhook-id'], delivery.event_uid);
    assert.equal(new Set(r.calls.map((c) => c.body)).size, 1, 'the body does not change between attempts');
    const first = r.calls[0];
    assert.equal(first.headers['content-type'], 'application/json');
    assert.deepEqual(Object.keys(first.json), ['type', 'timestamp', 'data']);
    assert.equal(first.json.type, 'message.delivered');
    assert.equal(first.json.data.recipient, 'a@example.com');
    const h = first.headers as Record<string, string>;
    // The first call was signed at the real time: the reference verifier accepts it.
    assert.doesNotThrow(() => new Webhook(w.secret).verify(first.body, { 'webhook-id': h['webhook-id'], 'webhook-timestamp': h['webhook-timestamp'], 'webhook-signature': h['webhook-signature'] }));
    assert.equal((await getWebhook(store.db, t, w.id))?.failing_since, null, 'a success clears the failing state');
  });

  it('gives up when the schedule runs out: status failed after 1 + schedule length calls', async () => {
    const { d, clock } = dispatcher({ POSTLINE_WEBHOOK_RETRY_SCHEDULE: '1m,1m' });
    await d.runOnce();
    const t = await tenant();
    const r = await receiver();
    r.respond(() => ({ status: 503 }));
    const w = await endpoint(t, r.url);
    await emit(t, 'message.bounced', 'msg-giveup');
    for (let i = 0; i < 5; i++) {
      await d.runOnce();
      clock.offset += 70_000;
    }
    const [delivery] = await deliveriesOf(w.id);
    assert.equal(r.calls.length, 3);
    assert.equal(delivery.status, 'failed');
    assert.equal(delivery.last_status, 503);
  });

  it('disables an endpoint that answers 410 Gone, with a webhook.disabled event sent to the tenant\'s other endpoint', async () => {
    const { d } = dispatcher();
    await d.runOnce();
    const t = await tenant();
    const gone = await receiver();
    gone.respond(() => ({ status: 410 }));
    const other = await receiver();
    const wGone = await endpoint(t, gone.url, ['message.delivered']);
    await endpoint(t, other.url, ['webhook.disabled']);
    await emit(t, 'message.delivered', 'msg-gone-1');
    await emit(t, 'message.delivered', 'msg-gone-2');
    await d.runOnce();
    await d.runOnce();
    await d.runOnce();
    const row = await getWebhook(store.db, t, wGone.id);
    assert.equal(row?.enabled, 0);
    assert.equal(row?.disabled_reason, 'gone');
    const events = await store.db.selectFrom('events').selectAll().where('tenant_id', '=', t).where('type', '=', 'webhook.disabled').execute();
    assert.equal(events.length, 1);
    assert.equal(JSON.parse(events[0].payload).reason, 'gone');
    assert.equal(other.calls.length, 1);
    assert.equal(other.calls[0].json.type, 'webhook.disabled');
    assert.equal(other.calls[0].json.data.webhook_id, wGone.id);
    // Once disabled, the rest of its deliveries are failed (replayable), not sent.
    const after = await deliveriesOf(wGone.id);
    assert.ok(after.every((x) => x.status === 'failed'));
    assert.ok(gone.calls.length <= 2);
  });

  it('disables an endpoint whose every call failed for webhooks.disable_after (3 days)', async () => {
    const { d, clock } = dispatcher({ POSTLINE_WEBHOOK_RETRY_SCHEDULE: '1d,1d,1d,1d,1d,1d' });
    await d.runOnce();
    const t = await tenant();
    const r = await receiver();
    r.respond(() => ({ status: 500 }));
    const w = await endpoint(t, r.url);
    await emit(t, 'message.deferred', 'msg-failing');
    const start = clock.now;
    for (let i = 0; i < 6 && (await getWebhook(store.db, t, w.id))?.enabled === 1; i++) {
      await d.runOnce();
      clock.offset += 1.2 * DAY;
    }
    const row = await getWebhook(store.db, t, w.id);
    assert.equal(row?.enabled, 0);
    assert.equal(row?.disabled_reason, 'failing');
    assert.ok(Number(row?.disabled_at) - start >= 3 * DAY);
    const ev = await store.db.selectFrom('events').select('payload').where('tenant_id', '=', t).where('type', '=', 'webhook.disabled').executeTakeFirstOrThrow();
    assert.equal(JSON.parse(ev.payload).reason, 'failing');
    assert.equal(JSON.parse(ev.payload).last_status, 500);
  });

  it('sends only the types in an endpoint\'s filter; [] takes every type', async () => {
    const { d } = dispatcher();
    await d.runOnce();
    const t = await tenant();
    const only = await receiver();
    const all = await receiver();
    await endpoint(t, only.url, ['message.bounced']);
    await endpoint(t, all.url, []);
    const other = await tenant();
    await emit(t, 'message.queued', 'msg-f');
    await emit(t, 'message.bounced', 'msg-f');
    await emit(other, 'message.bounced', 'msg-other-tenant');
    await d.runOnce();
    await d.runOnce();
    assert.deepEqual(only.calls.map((c) => c.json.type), ['message.bounced']);
    assert.deepEqual(all.calls.map((c) => c.json.type), ['message.queued', 'message.bounced']);
    assert.ok(!all.calls.some((c) => c.json.data.message_id === 'msg-other-tenant'), 'another tenant\'s event never reaches this endpoint');
  });

  it('fans out each event once per endpoint, even when a restart repeats the fan-out from an older cursor', async () => {
    const first = dispatcher();
    await first.d.runOnce();
    const t = await tenant();
    const r = await receiver();
    const w = await endpoint(t, r.url);
    for (let i = 0; i < 5; i++) await emit(t, 'message.queued', `msg-idem-${i}`);
    // Two rounds: one round sends at most max_concurrency_per_endpoint (4) calls.
    await first.d.runOnce();
    await first.d.runOnce();
    assert.equal(r.calls.length, 5);
    // A crash that lost the cursor's commit: the next start reads the same events again.
    const max = await store.db.selectFrom('events').select((eb) => eb.fn.max('id').as('m')).executeTakeFirstOrThrow();
    await store.write((trx) => putSetting(trx, WEBHOOK_CURSOR_SETTING, String(Number(max.m) - 5)));
    const second = dispatcher();
    await second.d.runOnce();
    await second.d.runOnce();
    assert.equal(r.calls.length, 5);
    assert.equal((await deliveriesOf(w.id)).length, 5);
  });

  it('sends one message\'s events to an endpoint in event order, even when the first answer is slow', async () => {
    const { d } = dispatcher();
    await d.runOnce();
    const t = await tenant();
    const r = await receiver();
    r.respond((call) => ({ status: 200, delayMs: call.json.type === 'message.queued' ? 150 : 0 }));
    await endpoint(t, r.url);
    for (let i = 0; i < 3; i++) {
      await emit(t, 'message.queued', `msg-order-${i}`);
      await emit(t, 'message.delivered', `msg-order-${i}`);
    }
    for (let i = 0; i < 4; i++) await d.runOnce();
    assert.equal(r.calls.length, 6);
    for (let i = 0; i < 3; i++) {
      const types = r.calls.filter((c) => c.json.data.message_id === `msg-order-${i}`).map((c) => c.json.type);
      assert.deepEqual(types, ['message.queued', 'message.delivered']);
    }
  });

  it('logs a call that gets no answer within webhooks.timeout as WEBHOOK_TIMEOUT and retries it', async () => {
    const { d } = dispatcher({ POSTLINE_WEBHOOK_TIMEOUT: '300ms' });
    await d.runOnce();
    const t = await tenant();
    const r = await receiver();
    r.respond(() => ({ status: 200, hold: true }));
    const w = await endpoint(t, r.url);
    await emit(t, 'message.queued', 'msg-timeout');
    await d.runOnce();
    const [delivery] = await deliveriesOf(w.id);
    assert.equal(delivery.status, 'pending');
    assert.equal(delivery.calls[0].error, 'WEBHOOK_TIMEOUT');
    assert.equal(delivery.calls[0].status_code, null);
    assert.ok(Number(delivery.calls[0].duration_ms) >= 250);
    r.release();
  });

  it('refuses at send time to connect to a private address when webhooks.allow_private is off (WEBHOOK_URL_PRIVATE)', async () => {
    const { d } = dispatcher({ POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'false' });
    await d.runOnce();
    const t = await tenant();
    const r = await receiver();
    // Saved before the guard could see it (or a name that re-resolved): the call itself refuses.
    const literal = await endpoint(t, r.url);
    const named = await endpoint(t, `http://localhost:${r.port}/hook`);
    await emit(t, 'message.queued', 'msg-ssrf');
    await d.runOnce();
    assert.equal(r.calls.length, 0);
    for (const w of [literal, named]) {
      const [delivery] = await deliveriesOf(w.id);
      assert.equal(delivery.calls[0].error, 'WEBHOOK_URL_PRIVATE', JSON.stringify(delivery.calls[0]));
    }
  });
});

describe('webhook dispatcher: endpoints that change during a call', () => {
  it('records nothing for an endpoint deleted while its call was in flight', async () => {
    const { d } = dispatcher();
    await d.runOnce();
    const t = await tenant();
    const r = await receiver();
    r.respond(() => ({ status: 200, hold: true }));
    const w = await endpoint(t, r.url);
    await emit(t, 'message.queued', 'msg-deleted');
    const round = d.runOnce();
    await r.waitFor(1, 5_000);
    await store.write((trx) => trx.deleteFrom('webhooks').where('id', '=', w.id).execute());
    r.release();
    await round;
    const attempts = await store.db.selectFrom('webhook_attempts').select('id').where('webhook_id', '=', w.id).execute();
    assert.deepEqual(attempts, []);
  });
});

describe('webhook dispatcher: isolation between endpoints', () => {
  it('holds at most max_concurrency_per_endpoint calls to a stalled endpoint while another endpoint gets all its events', async () => {
    const d = createWebhookDispatcher({ config: config({ POSTLINE_WEBHOOK_TIMEOUT: '10s' }), store, log, pollIntervalMs: 20 });
    dispatchers.push(d);
    await d.start();
    const t = await tenant();
    const slow = await receiver();
    slow.respond(() => ({ status: 200, hold: true }));
    const fast = await receiver();
    await endpoint(t, slow.url);
    await endpoint(t, fast.url);
    for (let i = 0; i < 12; i++) await emit(t, 'message.queued', `msg-conc-${i}`);
    await fast.waitFor(12, 10_000);
    await slow.waitFor(4, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(slow.calls.length, 4, 'the stalled endpoint holds 4 calls, no more');
    assert.equal(slow.pending(), 4);
    slow.respond(() => ({ status: 200 }));
    slow.release();
    await slow.waitFor(12, 10_000);
    await d.stop();
  });
});
