import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import PostalMime from 'postal-mime';
import { startCampaignFixture, type CampaignFixture } from '../../campaigns/campaign-helpers.ts';

interface Sent {
  id: string;
  rcpt: string;
  raw: string;
}

describe('RFC 8058 one-click unsubscribe, the preference page, and signed tracking links', () => {
  let f: CampaignFixture;
  let list: string;
  let campaignId: string;
  let sent: Sent[];

  const unsubPath = (m: Sent) => /List-Unsubscribe: <https:\/\/links\.example\.test(\/u\/[^>]+)>/.exec(m.raw)![1];
  const contactOf = async (email: string) => (await f.t.client.request('GET', `/api/v1/contacts?q=${encodeURIComponent(email)}`)).body.data[0];
  const events = async (type: string) => f.api.store.db.selectFrom('events').select('payload').where('tenant_id', '=', f.t.id).where('type', '=', type).execute();
  const post = (url: string, payload: string, type = 'application/x-www-form-urlencoded') => f.api.app.inject({ method: 'POST', url, payload, headers: { 'content-type': type } });

  before(async () => {
    f = await startCampaignFixture();
    list = await f.list('Links', ['ann@rcpt.example', 'bob@rcpt.example', 'cat@rcpt.example', 'dan@rcpt.example']);
    const c = await f.campaign({ lists: [list], rate_per_minute: 6000 });
    campaignId = c.id;
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    f.clock.now = (await f.paceStart(c.id)) + 60_000;
    await f.runner.tick();
    const rows = await f.api.store.db.selectFrom('messages').innerJoin('recipients', 'recipients.message_id', 'messages.id')
      .select(['messages.id', 'recipients.rcpt']).where('messages.metadata', 'like', `%${c.id}%`).execute();
    sent = await Promise.all(rows.map(async (r) => ({ id: r.id, rcpt: r.rcpt, raw: await f.raw(r.id) })));
    assert.equal(sent.length, 4);
  });
  after(() => f.close());

  const of = (email: string) => sent.find((m) => m.rcpt === email)!;

  it('POST List-Unsubscribe=One-Click unsubscribes from all with 200, suppresses the address, and a replay changes nothing', async () => {
    const url = unsubPath(of('ann@rcpt.example'));
    const res = await post(url, 'List-Unsubscribe=One-Click');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await contactOf('ann@rcpt.example')).status, 'unsubscribed');
    const sup = await f.t.client.request('GET', '/api/v1/suppressions/broadcast/ann@rcpt.example');
    assert.equal(sup.status, 200);
    assert.equal(sup.body.reason, 'unsubscribe');
    assert.equal((await events('contact.unsubscribed')).length, 1);
    const again = await post(url, 'List-Unsubscribe=One-Click');
    assert.equal(again.statusCode, 200);
    assert.equal((await events('contact.unsubscribed')).length, 1, 'a replayed token writes no second event');
    const data = JSON.parse((await events('contact.unsubscribed'))[0].payload);
    assert.deepEqual({ scope: data.scope, method: data.method, campaign_id: data.campaign_id }, { scope: 'all', method: 'one-click', campaign_id: campaignId });
  });

  it('accepts the one-click body as multipart/form-data too (RFC 8058 §3.2)', async () => {
    const body = '--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b--\r\n';
    const res = await post(unsubPath(of('bob@rcpt.example')), body, 'multipart/form-data; boundary=b');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await contactOf('bob@rcpt.example')).status, 'unsubscribed');
  });

  it('a forged token, or one moved onto another message, answers 404 and unsubscribes no one', async () => {
    const [, , token] = unsubPath(of('cat@rcpt.example')).split('/');
    const [messageId, mac] = token.split('.');
    const flipped = `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    const dan = of('dan@rcpt.example').id;
    for (const forged of [`${messageId}.${flipped}`, `${dan}.${mac}`, `${messageId}`, 'x.y', `${messageId}.${mac}.extra`]) {
      const res = await post(`/u/${forged}`, 'List-Unsubscribe=One-Click');
      assert.equal(res.statusCode, 404, forged);
    }
    assert.equal((await contactOf('cat@rcpt.example')).status, 'subscribed');
    assert.equal((await contactOf('dan@rcpt.example')).status, 'subscribed');
  });

  it('GET shows the preference page without unsubscribing; its list form unsubscribes from the campaign\'s list only', async () => {
    const url = unsubPath(of('cat@rcpt.example'));
    const pageRes = await f.api.app.inject({ method: 'GET', url });
    assert.equal(pageRes.statusCode, 200);
    assert.match(String(pageRes.headers['content-type']), /^text\/html/);
    assert.match(pageRes.body, /cat@rcpt\.example/);
    assert.match(pageRes.body, /name="scope" value="list"/);
    assert.equal((await contactOf('cat@rcpt.example')).status, 'subscribed', 'a GET (a scanner) must not unsubscribe');
    const res = await post(url, 'scope=list');
    assert.equal(res.statusCode, 200);
    assert.equal((await contactOf('cat@rcpt.example')).status, 'subscribed');
    const members = await f.t.client.request('GET', `/api/v1/lists/${list}`);
    assert.equal(members.body.members.unsubscribed, 1);
  });

  it('a click redirects only to the original URL; a tampered target is 404; opens from Apple MPP are flagged machine', async () => {
    const m = of('dan@rcpt.example');
    const html = (await PostalMime.parse(m.raw)).html!;
    const click = /href="https:\/\/links\.example\.test(\/t\/c\/[^"]+)"/.exec(html)![1].replace(/&amp;/g, '&');
    const open = /src="https:\/\/links\.example\.test(\/t\/o\/[^"]+)"/.exec(html)![1];
    assert.match(html, /href="https:\/\/links\.example\.test\/u\//, 'the unsubscribe link is not rewritten');
    const person = { 'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15' };
    const res = await f.api.app.inject({ method: 'GET', url: click, headers: person });
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, 'https://shop.example/sale?a=1&b=2');
    const evil = Buffer.from('https://evil.example/').toString('base64url');
    const tampered = await f.api.app.inject({ method: 'GET', url: click.replace(/\?u=.*/, `?u=${evil}`), headers: person });
    assert.equal(tampered.statusCode, 404);
    assert.equal(tampered.headers.location, undefined);
    const mpp = await f.api.app.inject({ method: 'GET', url: open, headers: { 'user-agent': 'Mozilla/5.0' }, remoteAddress: '17.58.1.2' });
    assert.equal(mpp.statusCode, 200);
    assert.equal(mpp.headers['content-type'], 'image/gif');
    await f.api.app.inject({ method: 'GET', url: open, headers: person });
    await f.api.app.inject({ method: 'GET', url: open, headers: person });
    const opened = (await events('message.opened')).map((e) => JSON.parse(e.payload));
    assert.deepEqual(opened.map((o) => [o.machine, o.unique]), [[true, false], [false, true], [false, false]]);
    const report = await f.t.client.request('GET', `/api/v1/campaigns/${campaignId}/report`);
    assert.equal(report.status, 200, report.text);
    assert.deepEqual(report.body.opened, { total: 2, unique: 1, machine: 1 });
    assert.deepEqual(report.body.clicked, { total: 1, unique: 1, machine: 0, links: [{ url: 'https://shop.example/sale?a=1&b=2', total: 1, unique: 1 }] });
    assert.equal(report.body.unsubscribed, 3);
    assert.equal(report.body.queued, 4);
  });

  it('a link scanner\'s user agent on a click is flagged machine and still redirected', async () => {
    const m = of('cat@rcpt.example');
    const html = (await PostalMime.parse(m.raw)).html!;
    const click = /href="https:\/\/links\.example\.test(\/t\/c\/[^"]+)"/.exec(html)![1].replace(/&amp;/g, '&');
    const res = await f.api.app.inject({ method: 'GET', url: click, headers: { 'user-agent': 'Mozilla/5.0 (compatible; Barracuda Sentinel)' } });
    assert.equal(res.statusCode, 302);
    const clicks = (await events('message.clicked')).map((e) => JSON.parse(e.payload));
    assert.equal(clicks.at(-1).machine, true);
  });
});

describe('link hosts: a sending domain\'s campaign links on its own host', () => {
  it('puts links on links.<domain> once set; refuses a host outside the domain (400) and a domain of no tenant of ours (404)', async () => {
    const f = await startCampaignFixture();
    try {
      const set = await f.t.client.request('PUT', `/api/v1/link-hosts/${f.domain}`, { host: `Links.${f.domain}` });
      assert.equal(set.status, 200, set.text);
      assert.equal(set.body.host, `links.${f.domain}`);
      const outside = await f.t.client.request('PUT', `/api/v1/link-hosts/${f.domain}`, { host: 'links.elsewhere.example' });
      assert.equal(outside.status, 400);
      assert.equal(outside.body.errors[0].pointer, '/host');
      assert.equal((await f.t.client.request('PUT', '/api/v1/link-hosts/not-ours.example', { host: 'links.not-ours.example' })).status, 404);
      const list = await f.list('Hosted', ['host@rcpt.example']);
      const c = await f.campaign({ lists: [list], rate_per_minute: 6000 });
      await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
      f.clock.now = (await f.paceStart(c.id)) + 60_000;
      await f.runner.tick();
      const row = await f.api.store.db.selectFrom('messages').select('body').where('metadata', 'like', `%${c.id}%`).executeTakeFirstOrThrow();
      const raw = Buffer.from(row.body!).toString();
      const path = new RegExp(`List-Unsubscribe: <https://links\\.${f.domain.replace(/\./g, '\\.')}(/u/[^>]+)>`).exec(raw)![1];
      const html = (await PostalMime.parse(raw)).html!;
      assert.ok(html.includes(`https://links.${f.domain}/t/c/`), 'click links on the link host');
      const res = await f.api.app.inject({ method: 'POST', url: path, payload: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(res.statusCode, 200);
    } finally {
      await f.close();
    }
  });
});
