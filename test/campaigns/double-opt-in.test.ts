import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCampaignFixture, type CampaignFixture } from './campaign-helpers.ts';

describe('double opt-in: unconfirmed until the signed link is posted; opt-in time and IP recorded', () => {
  let f: CampaignFixture;
  before(async () => {
    f = await startCampaignFixture();
  });
  after(() => f.close());

  it('refuses a double opt-in list without its confirmation mail (400 at /confirm) or from a domain not the tenant\'s (422)', async () => {
    const bare = await f.t.client.request('POST', '/api/v1/lists', { name: 'Bare', opt_in: 'double' });
    assert.equal(bare.status, 400, bare.text);
    assert.equal(bare.body.errors[0].pointer, '/confirm');
    const foreign = await f.t.client.request('POST', '/api/v1/lists', { name: 'Foreign', opt_in: 'double', confirm: { from: 'x@not-ours.example' } });
    assert.equal(foreign.status, 422, foreign.text);
  });

  it('mails the confirmation link; campaigns skip the member until POST /c/{token} confirms it (a GET does not)', async () => {
    const list = await f.t.client.request('POST', '/api/v1/lists', {
      name: 'Weekly', opt_in: 'double', confirm: { from: `Lists <lists@${f.domain}>`, subject: 'Confirm {{list.name}}, {{contact.name}}', text: 'Click {{confirm_url}}' },
    });
    assert.equal(list.status, 201, list.text);
    const c = await f.t.client.request('POST', '/api/v1/contacts', { email: 'eve@rcpt.example', name: 'Eve', lists: [list.body.id] });
    assert.equal(c.status, 201, c.text);
    const count = async () => (await f.t.client.request('POST', '/api/v1/segments/preview', { lists: [list.body.id] })).body.total;
    assert.equal(await count(), 0, 'unconfirmed members are no one\'s audience');
    assert.equal((await f.t.client.request('GET', `/api/v1/lists/${list.body.id}`)).body.members.unconfirmed, 1);
    const msg = await f.api.store.db.selectFrom('messages').innerJoin('recipients', 'recipients.message_id', 'messages.id')
      .select(['messages.subject', 'messages.body', 'messages.stream']).where('recipients.rcpt', '=', 'eve@rcpt.example').executeTakeFirstOrThrow();
    assert.equal(msg.subject, 'Confirm Weekly, Eve');
    assert.equal(msg.stream, 'transactional');
    const path = /https:\/\/links\.example\.test(\/c\/[A-Za-z0-9_.-]+)/.exec(Buffer.from(msg.body!).toString())![1];
    const forged = await f.api.app.inject({ method: 'POST', url: path.replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A')) });
    assert.equal(forged.statusCode, 404);
    const pageRes = await f.api.app.inject({ method: 'GET', url: path });
    assert.equal(pageRes.statusCode, 200);
    assert.match(pageRes.body, /<form method="post"/);
    assert.equal(await count(), 0, 'a GET confirms nothing');
    const confirmed = await f.api.app.inject({ method: 'POST', url: path, remoteAddress: '192.0.2.7' });
    assert.equal(confirmed.statusCode, 200);
    assert.equal(await count(), 1);
    const member = await f.api.store.db.selectFrom('list_members').select(['status', 'opted_in_at', 'opt_in_ip']).where('list_id', '=', list.body.id).executeTakeFirstOrThrow();
    assert.equal(member.status, 'subscribed');
    assert.equal(member.opt_in_ip, '192.0.2.7');
    assert.ok(Math.abs(Number(member.opted_in_at) - Date.now()) < 60_000);
  });
});
