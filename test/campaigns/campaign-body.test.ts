// Campaign messages stored as what they are made from (src/campaigns/campaign-body.ts): which
// rows are deferred, that the bytes made later are the bytes building at expansion gives,
// that they repeat, and what happens when what they are made from is gone.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCampaignFixture, type CampaignFixture } from './campaign-helpers.ts';
import { buildCampaignMessage, campaignServiceOf, createCampaignBodyRenderer, CampaignBodyError, type CampaignContent } from '../../src/campaigns/index.ts';
import { TemplateRenderer } from '../../src/compose/index.ts';
import { UnmakeableBodyError, cancelClaims, claimDue, type CampaignTable, type ContactTable } from '../../src/store/index.ts';

const EMAILS = ['ann@rcpt.example', 'bob@rcpt.example', 'cat@rcpt.example', 'dan@rcpt.example', 'eve@rcpt.example'];

describe('campaign messages made when sent', () => {
  let f: CampaignFixture;
  let campaign: CampaignTable;
  let rows: Array<{ id: string; body: Uint8Array | null; body_render: string | null; size: number; header_size: number; created_at: number; message_id_header: string | null }>;

  before(async () => {
    f = await startCampaignFixture();
    const list = await f.list('Made', EMAILS);
    const c = await f.campaign({ lists: [list], rate_per_minute: 6000, html: '<p>Hello {{contact.name}} from {{contact.city}}</p><p><a href="https://shop.example/sale">Sale</a></p>' });
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    f.clock.now = (await f.paceStart(c.id)) + 60_000;
    await f.runner.tick();
    campaign = await f.api.store.db.selectFrom('campaigns').selectAll().where('id', '=', c.id).executeTakeFirstOrThrow();
    rows = await f.api.store.db.selectFrom('messages').select(['id', 'body', 'body_render', 'size', 'header_size', 'created_at', 'message_id_header'])
      .where('metadata', 'like', `%${c.id}%`).orderBy('id').execute();
  });
  after(() => f.close());

  it('expansion builds the first message of a batch and stores the others as what they are made from', () => {
    assert.equal(rows.length, EMAILS.length);
    const built = rows.filter((r) => r.body !== null);
    const deferred = rows.filter((r) => r.body_render !== null);
    assert.equal(built.length, 1, 'the first contact is built: it shows the prepared html matches Handlebars');
    assert.equal(deferred.length, EMAILS.length - 1);
    for (const r of deferred) {
      assert.equal(r.body, null);
      assert.equal(Number(r.size), 0, 'its size is known only once it is made');
      const spec = JSON.parse(r.body_render!);
      assert.equal(spec.campaign, campaign.id);
      assert.ok(EMAILS.includes(spec.contact.email));
      assert.equal(typeof spec.contact.attributes.city, 'string');
      assert.ok(r.body_render!.length < 300, `${r.body_render!.length} bytes stored instead of a message`);
    }
  });

  it('the bytes made on read are those the general builder gives for the same id and date, every time', async () => {
    const { signer } = await campaignServiceOf(f.api.app.postline);
    const config = f.api.app.postline.config;
    const content: CampaignContent = { subject: campaign.subject, html: campaign.html, text: campaign.text };
    for (const r of rows.filter((x) => x.body_render !== null)) {
      const spec = JSON.parse(r.body_render!);
      const contact = await f.api.store.db.selectFrom('contacts').selectAll().where('id', '=', spec.contact.id).executeTakeFirstOrThrow() as ContactTable;
      // buildCampaignMessage renders everything through Handlebars, not the prepared path the made bytes take.
      const expected = await buildCampaignMessage(campaign, content, contact, r.id, {
        hostname: config.hostname, signer, renderer: new TemplateRenderer(), mailtoHost: `${config.domains.return_path_prefix}.${f.domain}`,
        maxMessageBytes: config.smtp.max_message_bytes, date: new Date(Number(r.created_at)),
      });
      const first = await f.raw(r.id);
      assert.equal(first, expected.raw.toString('utf8'));
      assert.equal(await f.raw(r.id), first, 'made twice, the same bytes');
      assert.match(first, /boundary="=_postline_[0-9a-f]{32}"/);
      assert.ok(first.includes(`Message-ID: ${r.message_id_header}\r\n`));
      assert.ok(first.includes(`To: "${contact.name}" <${contact.email}>`) || first.includes(`To: ${contact.name} <${contact.email}>`), first.slice(0, 600));
    }
  });

  it('GET /api/v1/messages/{id} shows the headers of a message not made yet', async () => {
    const r = rows.find((x) => x.body_render !== null)!;
    const res = await f.t.client.request('GET', `/api/v1/messages/${r.id}`);
    assert.equal(res.status, 200, res.text);
    const names = (res.body.headers as Array<{ name: string }>).map((h) => h.name.toLowerCase());
    for (const name of ['list-unsubscribe', 'list-unsubscribe-post', 'from', 'to', 'subject', 'message-id', 'date']) assert.ok(names.includes(name), names.join(','));
  });

  it('a template with logic is built at expansion: nothing can fail when it is sent', async () => {
    const list = await f.list('Logic', ['fay@rcpt.example', 'gus@rcpt.example', 'hal@rcpt.example']);
    const c = await f.campaign({ lists: [list], rate_per_minute: 6000, html: '<p>{{#if contact.city}}Hi {{contact.city}}{{else}}Hi{{/if}}</p>' });
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    f.clock.now = (await f.paceStart(c.id)) + 60_000;
    await f.runner.tick();
    const made = await f.api.store.db.selectFrom('messages').select(['body', 'body_render']).where('metadata', 'like', `%${c.id}%`).execute();
    assert.equal(made.length, 3);
    assert.ok(made.every((m) => m.body !== null && m.body_render === null));
  });

  it('a row that cannot be made any more: the renderer says so (UnmakeableBodyError), it is never retried', async () => {
    const { signer } = await campaignServiceOf(f.api.app.postline);
    const r = rows.find((x) => x.body_render !== null)!;
    const body = { messageId: r.id, tenantId: f.t.id, spec: r.body_render!, createdAt: Number(r.created_at), messageIdHeader: r.message_id_header };
    const config = f.api.app.postline.config;
    // The size limit lowered since expansion.
    const small = createCampaignBodyRenderer({ db: f.api.store.db, config: { ...config, smtp: { ...config.smtp, max_message_bytes: 200 } }, signer });
    await assert.rejects(small(body), (err: unknown) => err instanceof CampaignBodyError && err instanceof UnmakeableBodyError && /limit/.test((err as Error).message));
    // Another tenant's message naming this campaign.
    const normal = createCampaignBodyRenderer({ db: f.api.store.db, config, signer });
    await assert.rejects(normal({ ...body, tenantId: 'ten_other' }), CampaignBodyError);
    assert.ok((await normal(body)).length > 500);
  });

  it('cancelClaims cancels only this owner\'s claims, with message.cancelled and the reason', async () => {
    const store = f.api.store;
    const claimed = await store.write((trx) => claimDue(trx, { owner: 'test-owner', now: f.clock.now + 120_000, leaseMs: 60_000, limit: 50 }));
    const mine = claimed.filter((c) => rows.some((r) => r.id === c.messageId));
    assert.ok(mine.length > 0);
    const n = await store.write((trx) => cancelClaims(trx, 'test-owner', [mine[0].id], 'campaign gone'));
    assert.equal(n, 1);
    assert.equal(await store.write((trx) => cancelClaims(trx, 'someone-else', [mine[1].id], 'campaign gone')), 0);
    const ev = await store.db.selectFrom('events').select('payload').where('type', '=', 'message.cancelled').where('message_id', '=', mine[0].messageId).executeTakeFirstOrThrow();
    assert.equal(JSON.parse(ev.payload).reason, 'campaign gone');
  });

  it('a sent or cancelled campaign cannot be deleted while its messages wait; after, its messages answer 404 MESSAGE_BODY_UNAVAILABLE', async () => {
    // A campaign of its own: none of its messages was made yet, so none is in the API's cache.
    const list = await f.list('Deleted', ['ida@rcpt.example', 'jon@rcpt.example', 'kim@rcpt.example']);
    const c = (await f.campaign({ lists: [list], rate_per_minute: 6000 })).id as string;
    await f.t.client.request('POST', `/api/v1/campaigns/${c}/send`);
    f.clock.now = (await f.paceStart(c)) + 60_000;
    await f.runner.tick();
    const mine = await f.api.store.db.selectFrom('messages').select(['id', 'body_render']).where('metadata', 'like', `%${c}%`).execute();
    assert.equal(mine.length, 3);
    if ((await f.get(c)).status !== 'sent') assert.equal((await f.t.client.request('POST', `/api/v1/campaigns/${c}/cancel`)).status, 200);
    const refused = await f.t.client.request('DELETE', `/api/v1/campaigns/${c}`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.code, 'CAMPAIGN_MESSAGES_QUEUED');
    assert.deepEqual([...refused.body.message_ids].sort(), mine.map((m) => m.id).sort(), 'names the messages that wait');
    assert.match(refused.body.detail, /DELETE \/api\/v1\/messages\/\{id\}/);
    for (const m of mine) assert.equal((await f.t.client.request('DELETE', `/api/v1/messages/${m.id}`)).status, 200);
    const deleted = await f.t.client.request('DELETE', `/api/v1/campaigns/${c}`);
    assert.equal(deleted.status, 204, deleted.text);
    const r = mine.find((x) => x.body_render !== null)!;
    const raw = await f.t.client.request('GET', `/api/v1/messages/${r.id}/raw`);
    assert.equal(raw.status, 404);
    assert.equal(raw.body.code, 'MESSAGE_BODY_UNAVAILABLE');
    const detail = await f.t.client.request('GET', `/api/v1/messages/${r.id}`);
    assert.equal(detail.status, 200, 'the receipts remain');
    assert.deepEqual(detail.body.headers, []);
  });
});
