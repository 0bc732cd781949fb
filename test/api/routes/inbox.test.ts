import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, type TestApi, type TestTenant } from '../api-test-app.ts';

describe('capture inbox: /api/v1/inbox', () => {
  let api: TestApi;
  let acme: TestTenant;
  let globex: TestTenant;

  async function send(t: TestTenant, from: string, to: string, subject: string): Promise<string> {
    const res = await t.client.request('POST', '/api/v1/messages', { from, to, subject, text: `Body of ${subject}`, send_at: new Date(Date.now() + 3600_000).toISOString() });
    assert.equal(res.status, 202, res.text);
    return res.body.id;
  }

  /** What the delivery thread records for a recipient: captured (no MX), or really delivered to an MX. */
  async function finish(id: string, how: 'captured' | 'relayed'): Promise<void> {
    await api.store.write((trx) => trx.updateTable('recipients').set({
      status: 'delivered', last_code: 250, last_mx: how === 'captured' ? null : 'mx.example.net',
      last_response: how === 'captured' ? '250 2.0.0 Captured (sandbox: not sent)' : '250 2.0.0 Ok',
    }).where('message_id', '=', id).execute());
  }

  before(async () => {
    api = await startTestApi();
    acme = await api.tenant('acme');
    globex = await api.tenant('globex');
    await acme.client.request('POST', '/api/v1/domains', { name: 'acme.example' });
    await globex.client.request('POST', '/api/v1/domains', { name: 'globex.example' });
  });
  after(() => api.close());

  it('lists captured messages newest first with their recipients; relayed and queued mail and other tenants\' are not in it', async () => {
    const first = await send(acme, 'Acme <news@acme.example>', 'ann@example.net', 'First captured');
    const second = await send(acme, 'news@acme.example', 'bob@example.net', 'Second captured');
    const relayed = await send(acme, 'news@acme.example', 'cy@example.net', 'Really sent');
    await send(acme, 'news@acme.example', 'dee@example.net', 'Still queued');
    const theirs = await send(globex, 'hq@globex.example', 'eve@example.net', 'Globex captured');
    for (const id of [first, second, theirs]) await finish(id, 'captured');
    await finish(relayed, 'relayed');
    const res = await acme.client.request('GET', '/api/v1/inbox');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.data.map((m: any) => [m.id, m.subject, m.to]), [[second, 'Second captured', ['bob@example.net']], [first, 'First captured', ['ann@example.net']]]);
    assert.equal(res.body.data[1].from, 'Acme <news@acme.example>');
    assert.equal(res.body.data[0].body_available, true);
  });

  it('pages with the cursor, and searches subject, From, sender and recipients (q, LIKE wildcards taken literally)', async () => {
    const page1 = await acme.client.request('GET', '/api/v1/inbox?limit=1');
    assert.equal(page1.body.data[0].subject, 'Second captured');
    const page2 = await acme.client.request('GET', `/api/v1/inbox?limit=1&cursor=${page1.body.next_cursor}`);
    assert.equal(page2.body.data[0].subject, 'First captured');
    assert.equal(page2.body.next_cursor, null);
    const bySubject = await acme.client.request('GET', '/api/v1/inbox?q=first');
    assert.deepEqual(bySubject.body.data.map((m: any) => m.subject), ['First captured']);
    const byRecipient = await acme.client.request('GET', '/api/v1/inbox?q=bob@');
    assert.deepEqual(byRecipient.body.data.map((m: any) => m.subject), ['Second captured']);
    assert.deepEqual((await acme.client.request('GET', '/api/v1/inbox?q=%25')).body.data, [], 'a % matches only a literal %');
  });

  it('DELETE empties the inbox (200 {deleted, more}), with the messages\' events; other mail and other tenants stay', async () => {
    const res = await acme.client.request('DELETE', '/api/v1/inbox');
    assert.deepEqual(res.body, { deleted: 2, more: false });
    assert.deepEqual((await acme.client.request('GET', '/api/v1/inbox')).body.data, []);
    const left = await acme.client.request('GET', '/api/v1/messages');
    assert.deepEqual(left.body.data.map((m: any) => m.subject).sort(), ['Really sent', 'Still queued']);
    const events = await api.store.db.selectFrom('events').select('message_id').where('tenant_id', '=', acme.id).execute();
    assert.equal(events.length, 2, 'only the remaining messages\' events');
    assert.equal((await globex.client.request('GET', '/api/v1/inbox')).body.data.length, 1);
  });
});
