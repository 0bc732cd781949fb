import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import PostalMime from 'postal-mime';
import { loadConfig } from '../../src/config/index.ts';
import { type ClaimedRecipient, type Store } from '../../src/store/index.ts';
import { createApiApp, type ApiInstance } from '../../src/api/index.ts';
import type { DeliveryHandoff } from '../../src/ingress/index.ts';
import { startTestApi, isProblem, injectClient, type TestApi, type TestTenant, type ApiClient } from './api-test-app.ts';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { openTestStore } from '../helpers/backend.ts';

const FROM = 'Acme <news@acme.example>';
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

async function messageRows(api: TestApi, id: string) {
  const message = await api.store.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
  const recipients = await api.store.db.selectFrom('recipients').selectAll().where('message_id', '=', id).orderBy('id').execute();
  const events = await api.store.db.selectFrom('events').selectAll().where('message_id', '=', id).orderBy('id').execute();
  return { message, recipients, events: events.map((e) => ({ type: e.type, data: JSON.parse(e.payload) })) };
}

function pointers(res: { body: any }): string[] {
  return (res.body?.errors ?? []).map((e: { pointer: string }) => e.pointer);
}

describe('POST /api/v1/messages (inject)', () => {
  let api: TestApi;
  let acme: TestTenant;
  let other: TestTenant;
  before(async () => {
    api = await startTestApi({ env: { POSTLINE_MAX_MESSAGE_BYTES: '60000' } });
    acme = await api.tenant('acme');
    other = await api.tenant('other');
    assert.equal((await acme.client.request('POST', '/api/v1/domains', { name: 'acme.example' })).status, 201);
  });
  after(() => api.close());

  it('answers 202 with the message id and each recipient queued; message, recipients and message.queued (with tags and metadata) are stored', async () => {
    const res = await acme.client.request('POST', '/api/v1/messages', {
      from: FROM, to: ['a@x.example', { email: 'b@y.example', name: 'B' }], cc: 'c@z.example', bcc: ['d@z.example'],
      subject: 'Order 42', text: 'Thanks', html: '<p>Thanks</p>', tags: ['orders'], metadata: { order_id: 42 }, stream: 'transactional',
    });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.status, 'queued');
    assert.deepEqual(res.body.recipients.map((r: any) => [r.email, r.status]), [['a@x.example', 'queued'], ['b@y.example', 'queued'], ['c@z.example', 'queued'], ['d@z.example', 'queued']]);
    const { message, recipients, events } = await messageRows(api, res.body.id);
    assert.equal(message!.tenant_id, acme.id);
    assert.equal(message!.origin, 'api');
    assert.equal(message!.mail_from, 'news@acme.example');
    assert.equal(message!.tags, '["orders"]');
    assert.equal(message!.metadata, '{"order_id":42}');
    assert.deepEqual(recipients.map((r) => [Number(r.id), r.status]), res.body.recipients.map((r: any) => [r.id, 'queued']));
    assert.equal(events.length, 1);
    assert.equal(events[0].type, 'message.queued');
    assert.deepEqual(events[0].data.tags, ['orders']);
    assert.deepEqual(events[0].data.metadata, { order_id: 42 });
    const raw = Buffer.from(message!.body!).toString();
    assert.match(raw, new RegExp(`^Message-ID: <${res.body.id}@`, 'm'));
    assert.doesNotMatch(raw, /^Bcc:/im);
  });

  it('refuses CR or LF in the subject, a header value or a display name with 400 problem+json pointing at the field (header injection)', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ subject: 'Hi\r\nBcc: victim@x.example' }, '/subject'],
      [{ headers: { 'X-Ref': 'a\nBcc: victim@x.example' } }, '/headers/X-Ref'],
      [{ from: { email: 'news@acme.example', name: 'Acme\r\nBcc: victim@x.example' } }, '/from/name'],
    ];
    for (const [patch, pointer] of cases) {
      const res = await acme.client.request('POST', '/api/v1/messages', { from: FROM, to: 'a@x.example', text: 'x', ...patch });
      assert.ok(isProblem(res, 400), res.text);
      assert.ok(pointers(res).includes(pointer), res.text);
      assert.match(res.text, /header injection/);
    }
  });

  it('refuses a From outside the tenant\'s domains with 422 pointing at /from (as SMTP refuses MAIL FROM)', async () => {
    const res = await acme.client.request('POST', '/api/v1/messages', { from: 'ceo@bank.example', to: 'a@x.example', text: 'x' });
    assert.ok(isProblem(res, 422), res.text);
    assert.deepEqual(pointers(res), ['/from']);
    assert.equal(res.body.code, 'API_SENDER_DOMAIN_NOT_OWNED');
    // A subdomain of a sending domain is the tenant's too.
    assert.equal((await acme.client.request('POST', '/api/v1/messages', { from: 'news@mail.acme.example', to: 'a@x.example', text: 'x' })).status, 202);
  });

  it('validates addresses: an invalid one is a 400 at its index; IDN domains are accepted as A-labels', async () => {
    const bad = await acme.client.request('POST', '/api/v1/messages', { from: FROM, to: ['a@x.example', 'not an address'], text: 'x' });
    assert.ok(isProblem(bad, 400), bad.text);
    assert.deepEqual(pointers(bad), ['/to/1']);
    const idn = await acme.client.request('POST', '/api/v1/messages', { from: FROM, to: 'jörg@bücher.example', text: 'x' });
    assert.equal(idn.status, 202, idn.text);
    assert.equal(idn.body.recipients[0].email, 'jörg@xn--bcher-kva.example');
    assert.equal((await messageRows(api, idn.body.id)).message!.smtputf8, 1);
  });

  it('answers 413 problem+json for a message over smtp.max_message_bytes, and for a body over the HTTP limit', async () => {
    const attach = (n: number) => ({ from: FROM, to: 'a@x.example', text: 'x', attachments: [{ filename: 'a.bin', content: b64(Buffer.alloc(n, 7)) }] });
    const over = await acme.client.request('POST', '/api/v1/messages', attach(58_000));
    assert.ok(isProblem(over, 413), over.text);
    const huge = await acme.client.request('POST', '/api/v1/messages', attach(100_000));
    assert.ok(isProblem(huge, 413), huge.text);
    assert.equal((await acme.client.request('POST', '/api/v1/messages', attach(20_000))).status, 202);
  });

  it('needs the send scope: a read-only key gets 403 problem+json', async () => {
    const reader = await api.tenant(undefined, ['read']);
    const res = await reader.client.request('POST', '/api/v1/messages', { from: FROM, to: 'a@x.example', text: 'x' });
    assert.ok(isProblem(res, 403), res.text);
  });

  describe('Idempotency-Key', () => {
    const body = { from: FROM, to: 'a@x.example', subject: 'once', text: 'only once' };

    it('the same key and body twice → one message; the second answer is the first, marked Idempotent-Replayed', async () => {
      const first = await acme.client.request('POST', '/api/v1/messages', body, { 'idempotency-key': 'order-1001' });
      const second = await acme.client.request('POST', '/api/v1/messages', body, { 'idempotency-key': 'order-1001' });
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.text, first.text);
      assert.equal(second.headers['idempotent-replayed'], 'true');
      const n = await api.store.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).where('subject', '=', 'once').executeTakeFirstOrThrow();
      assert.equal(Number(n.n), 1);
    });

    it('the same key with a different body → 409 problem+json, nothing sent', async () => {
      await acme.client.request('POST', '/api/v1/messages', body, { 'idempotency-key': 'order-1002' });
      const res = await acme.client.request('POST', '/api/v1/messages', { ...body, text: 'changed' }, { 'idempotency-key': 'order-1002' });
      assert.ok(isProblem(res, 409), res.text);
      assert.equal(res.body.code, 'API_IDEMPOTENCY_KEY_REUSED');
      const n = await api.store.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).where('subject', '=', 'once').executeTakeFirstOrThrow();
      assert.equal(Number(n.n), 2);
    });

    it('concurrent requests with one key store one message and give one answer', async () => {
      const results = await Promise.all(Array.from({ length: 5 }, () => acme.client.request('POST', '/api/v1/messages', { ...body, subject: 'race' }, { 'idempotency-key': 'race-1' })));
      assert.ok(results.every((r) => r.status === 202 && r.text === results[0].text), results.map((r) => r.text).join('\n'));
      const n = await api.store.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).where('subject', '=', 'race').executeTakeFirstOrThrow();
      assert.equal(Number(n.n), 1);
    });

    it('keys are per tenant: another tenant may use the same key', async () => {
      assert.equal((await other.client.request('POST', '/api/v1/domains', { name: 'other.example' })).status, 201);
      const res = await other.client.request('POST', '/api/v1/messages', { ...body, from: 'x@other.example' }, { 'idempotency-key': 'order-1001' });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.headers['idempotent-replayed'], undefined);
    });

    it('concurrent sends of two tenants, stored together, each get their own answer, suppressions and keys', async () => {
      // Sends arriving together share one transaction (messages-send-accept.ts): the answers,
      // suppression hits and remembered keys must still be each request's own.
      assert.equal((await acme.client.request('POST', '/api/v1/suppressions', { entries: [{ address: 'gone@x.example', reason: 'manual' }] })).status, 200);
      const sends = Array.from({ length: 8 }, (_, i) => {
        const mine = i % 2 === 0 ? { t: acme, from: FROM } : { t: other, from: 'x@other.example' };
        return mine.t.client.request('POST', '/api/v1/messages', { from: mine.from, to: ['gone@x.example', `r${i}@x.example`], subject: `together ${i}`, text: 'x' }, { 'idempotency-key': `together-${i}` });
      });
      const results = await Promise.all(sends);
      for (const [i, res] of results.entries()) {
        assert.equal(res.status, 202, res.text);
        const { message, recipients } = await messageRows(api, res.body.id);
        assert.equal(message!.subject, `together ${i}`);
        assert.equal(message!.tenant_id, (i % 2 === 0 ? acme : other).id);
        assert.deepEqual(res.body.recipients.map((r: any) => [r.id, r.email, r.status]), recipients.map((r) => [Number(r.id), r.rcpt, r.status]));
        // Only acme suppressed gone@x.example.
        assert.equal(res.body.recipients[0].status, i % 2 === 0 ? 'suppressed' : 'queued');
        const again = await (i % 2 === 0 ? acme : other).client.request('POST', '/api/v1/messages', { from: i % 2 === 0 ? FROM : 'x@other.example', to: ['gone@x.example', `r${i}@x.example`], subject: `together ${i}`, text: 'x' }, { 'idempotency-key': `together-${i}` });
        assert.equal(again.text, res.text);
      }
    });

    it('refuses a malformed key with 400 pointing at the header', async () => {
      const res = await acme.client.request('POST', '/api/v1/messages', body, { 'idempotency-key': 'x'.repeat(256) });
      assert.ok(isProblem(res, 400), res.text);
      assert.equal(res.body.errors[0].in, 'header');
    });

    it('a key remembered longer than 24 hours is forgotten', async () => {
      await acme.client.request('POST', '/api/v1/messages', body, { 'idempotency-key': 'old-key' });
      await api.store.db.updateTable('idempotency_keys').set({ expires_at: Date.now() - 1 }).where('key', '=', 'old-key').execute();
      const res = await acme.client.request('POST', '/api/v1/messages', { ...body, text: 'new body' }, { 'idempotency-key': 'old-key' });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.headers['idempotent-replayed'], undefined);
    });
  });

  describe('POST /api/v1/messages/batch', () => {
    it('answers one result per item in request order; bad items get their problem, good ones are stored', async () => {
      const res = await acme.client.request('POST', '/api/v1/messages/batch', {
        messages: [
          { from: FROM, to: 'a@x.example', subject: 'batch 0', text: 'x' },
          { from: 'ceo@bank.example', to: 'a@x.example', text: 'x' },
          { from: FROM, to: 'a@x.example', subject: 'Hi\r\nBcc: v@x.example', text: 'x' },
          'not an object',
          { from: FROM, to: ['b@x.example', 'c@x.example'], subject: 'batch 4', text: 'x', tags: ['b'] },
        ],
      }, { 'idempotency-key': 'batch-1' });
      assert.equal(res.status, 200, res.text);
      const results = res.body.results;
      assert.deepEqual(results.map((r: any) => [r.index, r.status]), [[0, 202], [1, 422], [2, 400], [3, 400], [4, 202]]);
      assert.deepEqual(results[1].problem.errors.map((e: any) => e.pointer), ['/messages/1/from']);
      assert.deepEqual(results[2].problem.errors.map((e: any) => e.pointer), ['/messages/2/subject']);
      assert.equal(results[3].problem.type, 'https://postline.dev/problems/validation');
      assert.equal(results[4].recipients.length, 2);
      for (const i of [0, 4]) assert.equal((await messageRows(api, results[i].id)).recipients.every((r) => r.status === 'queued'), true);
    });

    it('refuses more than 500 messages and an empty list with 400 pointing at /messages', async () => {
      const many = Array.from({ length: 501 }, () => ({ from: FROM, to: 'a@x.example', text: 'x' }));
      const res = await acme.client.request('POST', '/api/v1/messages/batch', { messages: many });
      assert.ok(isProblem(res, 400), res.text);
      assert.deepEqual(pointers(res), ['/messages']);
      assert.ok(isProblem(await acme.client.request('POST', '/api/v1/messages/batch', { messages: [] }), 400));
    });

    it('stores 500 messages in one request', async () => {
      const messages = Array.from({ length: 500 }, (_, i) => ({ from: FROM, to: `r${i}@x.example`, subject: 'bulk', text: `n ${i}` }));
      const res = await acme.client.request('POST', '/api/v1/messages/batch', { messages });
      assert.equal(res.status, 200);
      assert.equal(res.body.results.filter((r: any) => r.status === 202).length, 500);
    });
  });

  describe('POST /api/v1/messages/raw', () => {
    const raw = 'From: Acme <news@acme.example>\r\nTo: a@x.example\r\nBcc: hidden@x.example\r\nSubject: raw one\r\n\r\nHello\r\n';

    it('answers 202 and stores the message as given, with Message-ID and Date added and Bcc removed', async () => {
      const res = await acme.client.request('POST', '/api/v1/messages/raw', { mail_from: 'bounces@acme.example', rcpt_to: ['a@x.example', 'hidden@x.example'], data: b64(raw) });
      assert.equal(res.status, 202, res.text);
      const { message, recipients } = await messageRows(api, res.body.id);
      const stored = Buffer.from(message!.body!).toString();
      assert.match(stored, /^Message-ID: </m);
      assert.match(stored, /^Date: /m);
      assert.doesNotMatch(stored, /hidden/);
      assert.ok(stored.endsWith('\r\n\r\nHello\r\n'));
      assert.equal(message!.mail_from, 'bounces@acme.example');
      assert.equal(message!.subject, 'raw one');
      assert.deepEqual(recipients.map((r) => r.rcpt), ['a@x.example', 'hidden@x.example']);
    });

    it('refuses a bare LF with 400 pointing at /data (RFC 5321 §2.3.8, as SMTP does)', async () => {
      const res = await acme.client.request('POST', '/api/v1/messages/raw', { mail_from: 'news@acme.example', rcpt_to: ['a@x.example'], data: b64(raw.replace(/\r\n/g, '\n')) });
      assert.ok(isProblem(res, 400), res.text);
      assert.deepEqual(pointers(res), ['/data']);
    });

    it('refuses a From: header or mail_from outside the tenant\'s domains with 422', async () => {
      const header = await acme.client.request('POST', '/api/v1/messages/raw', { mail_from: 'news@acme.example', rcpt_to: ['a@x.example'], data: b64(raw.replace('news@acme.example', 'ceo@bank.example')) });
      assert.ok(isProblem(header, 422), header.text);
      assert.deepEqual(pointers(header), ['/data']);
      const envelope = await acme.client.request('POST', '/api/v1/messages/raw', { mail_from: 'ceo@bank.example', rcpt_to: ['a@x.example'], data: b64(raw) });
      assert.ok(isProblem(envelope, 422), envelope.text);
      assert.deepEqual(pointers(envelope), ['/mail_from']);
    });

    it('refuses data that is not base64 with 400', async () => {
      const res = await acme.client.request('POST', '/api/v1/messages/raw', { mail_from: 'news@acme.example', rcpt_to: ['a@x.example'], data: 'not base64!' });
      assert.ok(isProblem(res, 400), res.text);
      assert.deepEqual(pointers(res), ['/data']);
    });
  });

  describe('send_at and DELETE /api/v1/messages/{id}', () => {
    it('schedules: recipients wait with next_attempt_at = send_at and the event is message.scheduled', async () => {
      const at = new Date(Date.now() + 3600_000);
      const res = await acme.client.request('POST', '/api/v1/messages', { from: FROM, to: 'a@x.example', text: 'later', send_at: at.toISOString() });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.status, 'scheduled');
      assert.equal(res.body.send_at, at.toISOString());
      const { message, recipients, events } = await messageRows(api, res.body.id);
      assert.equal(Number(message!.send_at), at.getTime());
      assert.equal(Number(recipients[0].next_attempt_at), at.getTime());
      assert.deepEqual(events.map((e) => e.type), ['message.scheduled']);
      assert.equal(events[0].data.send_at, at.toISOString());
    });

    it('refuses send_at more than 30 days ahead with 400 pointing at /send_at', async () => {
      const res = await acme.client.request('POST', '/api/v1/messages', { from: FROM, to: 'a@x.example', text: 'x', send_at: new Date(Date.now() + 31 * 86400_000).toISOString() });
      assert.ok(isProblem(res, 400), res.text);
      assert.deepEqual(pointers(res), ['/send_at']);
    });

    it('cancels a scheduled message (200, message.cancelled), then answers 409 as nothing is left to cancel', async () => {
      const sent = await acme.client.request('POST', '/api/v1/messages', { from: FROM, to: ['a@x.example', 'b@x.example'], text: 'x', send_at: new Date(Date.now() + 3600_000).toISOString() });
      const res = await acme.client.request('DELETE', `/api/v1/messages/${sent.body.id}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.cancelled, 2);
      const { recipients, events } = await messageRows(api, sent.body.id);
      assert.ok(recipients.every((r) => r.status === 'cancelled'));
      assert.deepEqual(events.map((e) => e.type), ['message.scheduled', 'message.cancelled', 'message.cancelled']);
      const again = await acme.client.request('DELETE', `/api/v1/messages/${sent.body.id}`);
      assert.ok(isProblem(again, 409), again.text);
    });

    it('answers 404 to another tenant cancelling the message, and to an unknown id', async () => {
      const sent = await acme.client.request('POST', '/api/v1/messages', { from: FROM, to: 'a@x.example', text: 'x', send_at: new Date(Date.now() + 3600_000).toISOString() });
      const foreign = await other.client.request('DELETE', `/api/v1/messages/${sent.body.id}`);
      assert.ok(isProblem(foreign, 404), foreign.text);
      assert.equal((await messageRows(api, sent.body.id)).recipients[0].status, 'queued');
      assert.ok(isProblem(await acme.client.request('DELETE', '/api/v1/messages/01NOSUCHMESSAGE'), 404));
    });
  });
});

describe('handoff: mail due now goes straight to this node\'s delivery loop', () => {
  let dir: string;
  let store: Store;
  let app: ApiInstance;
  let client: ApiClient;
  const calls = { reserved: 0, released: 0, delivered: [] as ClaimedRecipient[] };
  // The delivery loop's side of the contract (queue/delivery-worker.ts), recorded.
  const handoff: DeliveryHandoff = {
    reserve(count) {
      calls.reserved += count;
      return { owner: 'test-node', leaseMs: 60_000 };
    },
    deliver(claimed) {
      calls.delivered.push(...claimed);
    },
    release(count) {
      calls.released += count;
    },
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-handoff-'));
    store = await openTestStore({ dataDir: dir });
    const admin = 'handoff-admin-token-0123456789abcdef0123456789';
    app = await createApiApp({ config: loadConfig({ env: { POSTLINE_DATA_DIR: dir, POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'false' } }), store, log: pino({ level: 'silent' }), adminToken: admin, handoff });
    const adminClient = injectClient(app, admin);
    const t = await adminClient.request('POST', '/api/v1/tenants', { name: 'handoff' });
    const k = await adminClient.request('POST', `/api/v1/tenants/${t.body.id}/keys`, { name: 'k', scopes: ['send', 'manage'] });
    client = injectClient(app, k.body.key);
    await client.request('POST', '/api/v1/domains', { name: 'acme.example' });
  });
  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('inserts the recipients already claimed (in flight, leased) and hands exactly those over; a scheduled one waits', async () => {
    const now = await client.request('POST', '/api/v1/messages', { from: FROM, to: ['a@x.example', 'b@x.example'], text: 'x' });
    const later = await client.request('POST', '/api/v1/messages', { from: FROM, to: 'c@x.example', text: 'x', send_at: new Date(Date.now() + 3600_000).toISOString() });
    assert.equal(now.status, 202);
    assert.equal(calls.reserved, 2);
    assert.deepEqual(calls.delivered.map((r) => r.rcpt), ['a@x.example', 'b@x.example']);
    const rows = await store.db.selectFrom('recipients').select(['message_id', 'status', 'lease_owner']).execute();
    assert.deepEqual(rows.filter((r) => r.message_id === now.body.id).map((r) => [r.status, r.lease_owner]), [['inflight', 'test-node'], ['inflight', 'test-node']]);
    assert.deepEqual(rows.filter((r) => r.message_id === later.body.id).map((r) => [r.status, r.lease_owner]), [['queued', null]]);
  });

  it('gives the reservation back when an Idempotency-Key replay stores nothing', async () => {
    const before = { ...calls, delivered: calls.delivered.length };
    await client.request('POST', '/api/v1/messages', { from: FROM, to: 'a@x.example', text: 'once' }, { 'idempotency-key': 'h-1' });
    await client.request('POST', '/api/v1/messages', { from: FROM, to: 'a@x.example', text: 'once' }, { 'idempotency-key': 'h-1' });
    assert.equal(calls.delivered.length - before.delivered, 1);
    // The replay is answered before reserving; every reservation is either delivered or released.
    assert.equal(calls.reserved - before.reserved, 1 + (calls.released - before.released));
  });
});

describe('sending through a real server to an SMTP sink', () => {
  let sink: SmtpSink;
  let server: PostlineProcess;
  let client: ApiClient;

  function httpClient(token: string): ApiClient {
    return {
      token,
      async request(method, url, body, headers = {}) {
        const res = await fetch(`http://${server.http!.host}:${server.http!.port}${url}`, {
          method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        let parsed: unknown;
        try { parsed = JSON.parse(text); } catch { parsed = undefined; }
        return { status: res.status, headers: Object.fromEntries(res.headers), body: parsed, text };
      },
    };
  }

  before(async () => {
    sink = await startSmtpSink();
    server = await startPostline({ env: { POSTLINE_RELAYHOST: `${sink.host}:${sink.port}`, POSTLINE_QUEUE_POLL_INTERVAL: '200ms', POSTLINE_LOG_LEVEL: 'warn' } });
    const admin = httpClient(readFileSync(join(server.dataDir, 'admin-token'), 'utf8').trim());
    const tenant = await admin.request('POST', '/api/v1/tenants', { name: 'e2e' });
    const key = await admin.request('POST', `/api/v1/tenants/${tenant.body.id}/keys`, { name: 'e2e', scopes: ['send', 'read', 'manage'] });
    client = httpClient(key.body.key);
    assert.equal((await client.request('POST', '/api/v1/domains', { name: 'acme.example' })).status, 201);
  });
  after(async () => {
    await server?.cleanup();
    await sink?.close();
  });

  it('delivers an API message with its attachment and inline image byte for byte', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(3000, 0xa5)]);
    const res = await client.request('POST', '/api/v1/messages', {
      from: FROM, to: 'dest@remote.example', bcc: 'audit@remote.example', subject: 'Your invoice', text: 'See attached', html: '<p>Logo: <img src="cid:logo@acme"></p>',
      attachments: [
        { filename: 'logo.png', content: png.toString('base64'), content_type: 'image/png', content_id: 'logo@acme' },
        { filename: 'invoice.pdf', content: pdf.toString('base64'), content_type: 'application/pdf' },
      ],
    });
    assert.equal(res.status, 202, res.text);
    const [got] = await sink.waitFor((ms) => ms.some((m) => m.raw.includes(res.body.id)), 15_000).then((ms) => ms.filter((m) => m.raw.includes(res.body.id)));
    assert.equal(got.mailFrom, 'news@acme.example');
    assert.deepEqual([...got.rcptTo].sort(), ['audit@remote.example', 'dest@remote.example']);
    assert.doesNotMatch(got.raw.toString(), /^Bcc:/im);
    const parsed = await PostalMime.parse(got.raw);
    assert.equal(parsed.subject, 'Your invoice');
    assert.equal(parsed.messageId, `<${res.body.id}@mta.postline.test>`);
    const logo = parsed.attachments.find((a) => a.filename === 'logo.png')!;
    assert.equal(logo.contentId, '<logo@acme>');
    assert.deepEqual(Buffer.from(logo.content as ArrayBuffer), png);
    assert.deepEqual(Buffer.from(parsed.attachments.find((a) => a.filename === 'invoice.pdf')!.content as ArrayBuffer), pdf);
  });

  it('sends a scheduled message no earlier than send_at, and never sends one cancelled before', async () => {
    const at = Date.now() + 2500;
    const scheduled = await client.request('POST', '/api/v1/messages', { from: FROM, to: 'later@remote.example', subject: 'scheduled', text: 'x', send_at: new Date(at).toISOString() });
    const cancelled = await client.request('POST', '/api/v1/messages', { from: FROM, to: 'never@remote.example', subject: 'cancelled', text: 'x', send_at: new Date(at).toISOString() });
    assert.equal(scheduled.body.status, 'scheduled');
    assert.equal((await client.request('DELETE', `/api/v1/messages/${cancelled.body.id}`)).status, 200);
    const [got] = await sink.waitFor((ms) => ms.some((m) => m.rcptTo.includes('later@remote.example')), 15_000).then((ms) => ms.filter((m) => m.rcptTo.includes('later@remote.example')));
    assert.ok(got.receivedAt.getTime() >= at - 50, `arrived ${at - got.receivedAt.getTime()} ms before send_at`);
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(!sink.messages.some((m) => m.rcptTo.includes('never@remote.example')), 'the cancelled message was sent');
  });

  it('hands a raw message to delivery too', async () => {
    const raw = 'From: news@acme.example\r\nTo: raw@remote.example\r\nSubject: raw e2e\r\n\r\n.leading dot\r\nbody\r\n';
    const res = await client.request('POST', '/api/v1/messages/raw', { mail_from: 'news@acme.example', rcpt_to: ['raw@remote.example'], data: b64(raw) });
    assert.equal(res.status, 202, res.text);
    const [got] = await sink.waitFor((ms) => ms.some((m) => m.rcptTo.includes('raw@remote.example')), 15_000).then((ms) => ms.filter((m) => m.rcptTo.includes('raw@remote.example')));
    assert.ok(got.raw.toString().endsWith('\r\n\r\n.leading dot\r\nbody\r\n'), got.raw.toString());
  });
});
