// Issue 8: the audit log of administrative actions, read by the admin at GET /api/v1/audit-log.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, type TestApi } from '../api/api-test-app.ts';
import { runCli } from '../helpers/postline.ts';

let api: TestApi;
before(async () => {
  api = await startTestApi({ env: { POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true' } });
});
after(() => api.close());

async function entries(query = ''): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const sep = query ? '&' : '';
    const res = await api.admin.request('GET', `/api/v1/audit-log?limit=2${sep}${query}${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(res.status, 200, res.text);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

describe('Issue 8 audit log: GET /api/v1/audit-log', () => {
  it('records who created and revoked keys, credentials, domains, webhooks and tenants, in order, with no secret', async () => {
    const t = await api.tenant('audited');
    const c = t.client;
    const key = await c.request('POST', '/api/v1/keys', { name: 'second', scopes: ['read'] });
    assert.equal(key.status, 201);
    assert.equal((await c.request('DELETE', `/api/v1/keys/${key.body.id}`)).status, 204);
    const cred = await c.request('POST', '/api/v1/smtp-credentials', {});
    assert.equal(cred.status, 201);
    assert.equal((await c.request('DELETE', `/api/v1/smtp-credentials/${cred.body.id}`)).status, 204);
    const dom = await c.request('POST', '/api/v1/domains', { name: 'audited.example' });
    assert.equal(dom.status, 201);
    assert.equal((await c.request('DELETE', `/api/v1/domains/${dom.body.id}`)).status, 204);
    const hook = await c.request('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/hook' });
    assert.equal(hook.status, 201);
    assert.equal((await c.request('PATCH', `/api/v1/webhooks/${hook.body.id}`, { enabled: false })).status, 200);
    assert.equal((await c.request('DELETE', `/api/v1/webhooks/${hook.body.id}`)).status, 204);
    assert.equal((await api.admin.request('PATCH', `/api/v1/tenants/${t.id}`, { sandbox: true })).status, 200);

    const log = await entries(`tenant_id=${t.id}`);
    assert.deepEqual(log.map((e) => e.action), [
      'tenant.created', 'api_key.created', 'api_key.created', 'api_key.revoked', 'smtp_credential.created', 'smtp_credential.deleted',
      'domain.added', 'domain.removed', 'webhook.created', 'webhook.updated', 'webhook.deleted', 'tenant.updated',
    ]);
    assert.deepEqual(log[0].actor, { kind: 'admin', key_id: null, ip: '127.0.0.1' });
    assert.deepEqual(log[2].actor, { kind: 'key', key_id: t.keyId, ip: '127.0.0.1' });
    assert.equal(log[3].target, key.body.id);
    assert.deepEqual(log[2].details, { name: 'second', scopes: ['read'] });
    assert.equal(log[8].target, hook.body.id);
    assert.ok(log.every((e) => e.tenant_id === t.id && !Number.isNaN(Date.parse(e.at))));
    const text = JSON.stringify(log);
    for (const secret of [t.key, key.body.key, cred.body.password, hook.body.secret]) assert.ok(!text.includes(secret), 'no secret in the audit log');
    assert.deepEqual((await entries(`tenant_id=${t.id}&action=api_key.revoked`)).map((e) => e.target), [key.body.id]);
  });

  it('records a tenant deletion after the tenant is gone, and a failed change not at all', async () => {
    const t = await api.tenant('short-lived');
    assert.equal((await t.client.request('DELETE', '/api/v1/keys/key_missing')).status, 404);
    assert.equal((await api.admin.request('DELETE', `/api/v1/tenants/${t.id}`)).status, 204);
    assert.deepEqual((await entries(`tenant_id=${t.id}`)).map((e) => e.action), ['tenant.created', 'api_key.created', 'tenant.deleted']);
  });

  it('answers 403 to a tenant API key and 400 to an unknown action', async () => {
    const t = await api.tenant('nosy');
    assert.equal((await t.client.request('GET', '/api/v1/audit-log')).status, 403);
    assert.equal((await api.admin.request('GET', '/api/v1/audit-log?action=mail.read')).status, 400);
  });

  it('records the CLI as the actor of tenant and credential creation, and who released or withdrew mail (queue retry, queue delete, DELETE /messages/{id})', async () => {
    const env = { POSTLINE_DATA_DIR: api.dataDir, POSTLINE_LOG_LEVEL: 'silent' };
    const cliTenant = await runCli(env, ['tenant', 'create', 'cli-made']);
    const cred = await runCli(env, ['credential', 'create', '--tenant', 'cli-made', '--username', 'cli-made-app']);
    const made = await entries(`tenant_id=${cliTenant.id}`);
    assert.deepEqual(made.map((e) => [e.action, e.actor.kind]), [['tenant.created', 'cli'], ['smtp_credential.created', 'cli']]);
    assert.ok(!JSON.stringify(made).includes(cred.password), 'no password in the audit log');

    const t = await api.tenant('mail-steering');
    assert.equal((await t.client.request('POST', '/api/v1/domains', { name: 'steer.test' })).status, 201);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const send = async () => {
      const res = await t.client.request('POST', '/api/v1/messages', { from: 'a@steer.test', to: ['b@dest.test'], subject: 's', text: 't', send_at: later });
      assert.equal(res.status, 202, res.text);
      return res.body.id as string;
    };
    const [one, two] = [await send(), await send()];
    assert.deepEqual(await runCli(env, ['queue', 'retry', one]), { retried: 1 });
    assert.deepEqual(await runCli(env, ['queue', 'delete', one]), { cancelled: 1 });
    assert.equal((await t.client.request('DELETE', `/api/v1/messages/${two}`)).status, 200);
    const steered = (await entries(`tenant_id=${t.id}`)).filter((e) => e.action === 'queue.retried' || e.action === 'message.cancelled');
    assert.deepEqual(steered.map((e) => [e.action, e.actor.kind, e.target]), [
      ['queue.retried', 'cli', one], ['message.cancelled', 'cli', one], ['message.cancelled', 'key', two],
    ]);
    assert.equal(steered[2].actor.key_id, t.keyId);
  });
});
