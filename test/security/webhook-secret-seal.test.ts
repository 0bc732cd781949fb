// Issue 8: webhook signing secrets are stored encrypted; rows from before encryption are
// sealed when the dispatcher starts, and every call is still signed with the right secret.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { createWebhookDispatcher, newWebhookSecret, signWebhook } from '../../src/events/index.ts';
import { getWebhook, insertWebhook, newPublicId } from '../../src/store/index.ts';
import { openWebhookSecret, secretKeyOf } from '../../src/security/index.ts';
import { startTestApi, type TestApi } from '../api/api-test-app.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../events/webhook-receiver.ts';

let api: TestApi;
let receiver: WebhookReceiver;
before(async () => {
  api = await startTestApi({ env: { POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true' } });
  receiver = await startWebhookReceiver();
});
after(async () => {
  await api.close();
  await receiver.close();
});

function verify(secret: string, call: WebhookReceiver['calls'][number]): void {
  const expected = signWebhook(secret, String(call.headers['webhook-id']), Number(call.headers['webhook-timestamp']), call.body);
  assert.equal(call.headers['webhook-signature'], expected['webhook-signature']);
}

describe('Issue 8 secrets at rest: webhook signing secrets', () => {
  it('stores a new endpoint\'s secret as v1 AES-256-GCM, bound to its id, and answers the plaintext once', async () => {
    const t = await api.tenant();
    const res = await t.client.request('POST', '/api/v1/webhooks', { url: receiver.url });
    assert.equal(res.status, 201);
    const row = await getWebhook(api.store.db, t.id, res.body.id);
    assert.match(row!.secret, /^v1:/);
    assert.ok(!row!.secret.includes(res.body.secret.slice('whsec_'.length)));
    const config = loadConfig({ env: { POSTLINE_DATA_DIR: api.dataDir } });
    assert.equal(openWebhookSecret(await secretKeyOf(config), res.body.id, row!.secret), res.body.secret);
    assert.equal((await t.client.request('GET', `/api/v1/webhooks/${res.body.id}`)).body.secret, undefined);
  });

  it('seals a plaintext row when the dispatcher starts, and signs calls for both kinds with the right secret', async () => {
    const t = await api.tenant();
    const now = Date.now();
    const legacySecret = newWebhookSecret();
    const legacyId = newPublicId('whk', now);
    await api.store.write((trx) => insertWebhook(trx, {
      id: legacyId, tenant_id: t.id, url: receiver.url, description: null, events: '["webhook.test"]', secret: legacySecret, enabled: 1,
      disabled_reason: null, disabled_at: null, failing_since: null, created_at: now, updated_at: now,
    }));
    const created = await t.client.request('POST', '/api/v1/webhooks', { url: `${receiver.url}?new`, events: ['webhook.test'] });
    const config = loadConfig({ env: { POSTLINE_DATA_DIR: api.dataDir, POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    const d = createWebhookDispatcher({ config, store: api.store, log: pino({ level: 'silent' }), pollIntervalMs: 20 });
    await d.start();
    try {
      const row = await getWebhook(api.store.db, t.id, legacyId);
      assert.match(row!.secret, /^v1:/, 'the plaintext row was sealed at start');
      assert.equal(openWebhookSecret(await secretKeyOf(config), legacyId, row!.secret), legacySecret);
      const before = receiver.calls.length;
      assert.equal((await t.client.request('POST', `/api/v1/webhooks/${legacyId}/test`)).status, 202);
      assert.equal((await t.client.request('POST', `/api/v1/webhooks/${created.body.id}/test`)).status, 202);
      d.wake();
      const calls = (await receiver.waitFor(before + 2, 10_000)).slice(before);
      for (const call of calls) verify(call.json.data.webhook_id === legacyId ? legacySecret : created.body.secret, call);
      assert.deepEqual(new Set(calls.map((c) => c.json.data.webhook_id)), new Set([legacyId, created.body.id]));
    } finally {
      await d.stop();
    }
  });
});
