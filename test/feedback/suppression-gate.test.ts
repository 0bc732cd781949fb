// Issue 4: sending to a suppressed address. The recipient is stored as suppressed, gets a
// message.suppressed event with the reason, and the API answer says so; the other recipients
// proceed; removing the entry makes the address sendable again; streams are separate lists.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, type TestApi, type TestTenant } from '../api/api-test-app.ts';

describe('suppressed recipients at acceptance (API)', () => {
  let api: TestApi;
  let t: TestTenant;
  before(async () => {
    api = await startTestApi({ env: { POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'false' } });
    t = await api.tenant('gate');
    assert.equal((await t.client.request('POST', '/api/v1/domains', { name: 'gate.test' })).status, 201);
    const added = await t.client.request('POST', '/api/v1/suppressions', { stream: 'transactional', entries: [{ address: 'Gone@Dest.test', reason: 'hard_bounce' }] });
    assert.equal(added.status, 200, added.text);
  });
  after(() => api.close());

  const send = (to: string[], stream = 'transactional') => t.client.request('POST', '/api/v1/messages', { from: 'app@gate.test', to, subject: 'hi', text: 'hello', stream, tags: ['gate'] });

  async function eventsOf(messageId: string): Promise<any[]> {
    const res = await t.client.request('GET', `/api/v1/messages/${messageId}`);
    assert.equal(res.status, 200, res.text);
    return res.body.events ?? (await t.client.request('GET', `/api/v1/events?message_id=${messageId}`)).body.data;
  }

  it('skips a suppressed recipient with its reason and a message.suppressed event, and queues the others (202)', async () => {
    const res = await send(['gone@dest.test', 'here@dest.test']);
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(res.body.recipients.map((r: any) => [r.email, r.status, r.reason]), [
      ['gone@dest.test', 'suppressed', 'hard_bounce'], ['here@dest.test', 'queued', undefined],
    ]);
    const detail = await t.client.request('GET', `/api/v1/messages/${res.body.id}`);
    assert.deepEqual(detail.body.recipients.map((r: any) => [r.email ?? r.rcpt, r.status]), [['gone@dest.test', 'suppressed'], ['here@dest.test', 'queued']]);
    const events = await eventsOf(res.body.id);
    const suppressed = events.filter((e) => e.type === 'message.suppressed');
    assert.equal(suppressed.length, 1);
    const data = suppressed[0].data ?? suppressed[0].payload;
    assert.equal(data.recipient, 'gone@dest.test');
    assert.equal(data.reason, 'hard_bounce');
    assert.deepEqual(data.tags, ['gate']);
  });

  it('keeps the streams apart: the broadcast list does not stop transactional mail, nor the reverse', async () => {
    const res = await send(['gone@dest.test'], 'broadcast');
    assert.equal(res.body.recipients[0].status, 'queued');
    assert.equal((await t.client.request('POST', '/api/v1/suppressions', { stream: 'broadcast', entries: [{ address: 'promo@dest.test', reason: 'unsubscribe' }] })).status, 200);
    assert.equal((await send(['promo@dest.test'])).body.recipients[0].status, 'queued');
    assert.equal((await send(['promo@dest.test'], 'broadcast')).body.recipients[0].status, 'suppressed');
  });

  it('sends again once the entry is removed', async () => {
    assert.equal((await t.client.request('DELETE', '/api/v1/suppressions/transactional/gone@dest.test')).status, 204);
    assert.equal((await send(['gone@dest.test'])).body.recipients[0].status, 'queued');
  });

  it('never applies one tenant\'s list to another tenant', async () => {
    const other = await api.tenant('gate-other');
    assert.equal((await other.client.request('POST', '/api/v1/domains', { name: 'gate-other.test' })).status, 201);
    const res = await other.client.request('POST', '/api/v1/messages', { from: 'app@gate-other.test', to: ['promo@dest.test'], subject: 'x', text: 'y', stream: 'broadcast' });
    assert.equal(res.body.recipients[0].status, 'queued');
  });

  it('answers each batch item with its own suppressed recipients', async () => {
    const res = await t.client.request('POST', '/api/v1/messages/batch', { messages: [
      { from: 'app@gate.test', to: ['promo@dest.test'], subject: 'a', text: 'a', stream: 'broadcast' },
      { from: 'app@gate.test', to: ['promo@dest.test'], subject: 'b', text: 'b' },
    ] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.results.map((r: any) => r.recipients[0].status), ['suppressed', 'queued']);
  });
});
