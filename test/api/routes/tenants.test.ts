import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { findApiKey, findCredential, insertMessage, newId } from '../../../src/store/index.ts';
import { startTestApi, isProblem, type TestApi } from '../api-test-app.ts';

describe('admin: /api/v1/tenants', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(() => api.close());

  it('creates a tenant (201), finds it by id and by name, and refuses a taken name with 409 at /name', async () => {
    const created = await api.admin.request('POST', '/api/v1/tenants', { name: 'acme', sandbox: true });
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^ten_/);
    assert.equal(created.body.sandbox, true);
    assert.match(created.body.created_at, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual((await api.admin.request('GET', `/api/v1/tenants/${created.body.id}`)).body, created.body);
    assert.deepEqual((await api.admin.request('GET', '/api/v1/tenants/acme')).body, created.body);
    const dup = await api.admin.request('POST', '/api/v1/tenants', { name: 'acme' });
    assert.ok(isProblem(dup, 409));
    assert.equal(dup.body.errors[0].pointer, '/name');
  });

  it('answers 404 problem+json for an unknown tenant', async () => {
    assert.ok(isProblem(await api.admin.request('GET', '/api/v1/tenants/ten_nope'), 404));
    assert.ok(isProblem(await api.admin.request('PATCH', '/api/v1/tenants/ten_nope', { sandbox: true }), 404));
    assert.ok(isProblem(await api.admin.request('DELETE', '/api/v1/tenants/ten_nope'), 404));
  });

  it('renames and changes sandbox mode with PATCH; a taken name is 409', async () => {
    const a = (await api.admin.request('POST', '/api/v1/tenants', { name: 'patch-a' })).body;
    await api.admin.request('POST', '/api/v1/tenants', { name: 'patch-b' });
    const res = await api.admin.request('PATCH', `/api/v1/tenants/${a.id}`, { name: 'patch-c', sandbox: true });
    assert.equal(res.status, 200);
    assert.deepEqual({ name: res.body.name, sandbox: res.body.sandbox }, { name: 'patch-c', sandbox: true });
    assert.ok(isProblem(await api.admin.request('PATCH', `/api/v1/tenants/${a.id}`, { name: 'patch-b' }), 409));
    assert.equal((await api.admin.request('PATCH', `/api/v1/tenants/${a.id}`, { name: 'patch-c' })).status, 200, 'its own name is not a conflict');
  });

  it('deletes a tenant with its keys, credentials, domains, messages and events (204)', async () => {
    const t = await api.tenant('doomed');
    const cred = await t.client.request('POST', '/api/v1/smtp-credentials', { username: 'doomed-user' });
    await t.client.request('POST', '/api/v1/domains', { name: 'doomed.example' });
    const messageId = newId();
    await api.store.write((trx) => insertMessage(trx, {
      id: messageId, tenantId: t.id, origin: 'api', mailFrom: 'a@doomed.example', body: { size: 5, inline: Buffer.from('x\r\n\r\n'), path: null },
      headerSize: 3, messageIdHeader: null, subject: null, fromHeader: null, recipients: [{ rcpt: 'b@example.org' }],
    }, { now: Date.now(), lifetimeMs: 60_000 }));
    await api.store.db.updateTable('recipients').set({ status: 'delivered' }).where('message_id', '=', messageId).execute();

    const res = await api.admin.request('DELETE', `/api/v1/tenants/${t.id}`);
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, '');
    assert.ok(isProblem(await api.admin.request('GET', `/api/v1/tenants/${t.id}`), 404));
    assert.equal(await findApiKey(api.store.db, t.keyId), undefined);
    assert.equal(await findCredential(api.store.db, cred.body.username), undefined);
    for (const table of ['domains', 'messages', 'events', 'recipients'] as const) {
      const rows = await api.store.db.selectFrom(table).select('tenant_id').where('tenant_id', '=', t.id).execute();
      assert.equal(rows.length, 0, `${table} rows left behind`);
    }
    assert.equal((await t.client.request('GET', '/api/v1/keys')).status, 401);
  });

  it('refuses to delete a tenant with mail still queued: 409 TENANT_HAS_QUEUED_MAIL', async () => {
    const t = await api.tenant('busy');
    await api.store.write((trx) => insertMessage(trx, {
      id: newId(), tenantId: t.id, origin: 'api', mailFrom: 'a@busy.example', body: { size: 5, inline: Buffer.from('x\r\n\r\n'), path: null },
      headerSize: 3, messageIdHeader: null, subject: null, fromHeader: null, recipients: [{ rcpt: 'b@example.org' }],
    }, { now: Date.now(), lifetimeMs: 60_000 }));
    const res = await api.admin.request('DELETE', `/api/v1/tenants/${t.id}`);
    assert.ok(isProblem(res, 409), res.text);
    assert.equal(res.body.code, 'TENANT_HAS_QUEUED_MAIL');
    assert.equal((await api.admin.request('GET', `/api/v1/tenants/${t.id}`)).status, 200);
  });
});
