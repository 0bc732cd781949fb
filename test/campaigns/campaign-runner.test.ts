import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCampaignFixture, type CampaignFixture } from './campaign-helpers.ts';
import { ledgerCounts } from '../../src/store/index.ts';

const emails = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}@rcpt.example`);

describe('campaign expansion: pacing, pause/resume/cancel with exact counts, skipped contacts, idempotent ledger', () => {
  let f: CampaignFixture;
  before(async () => {
    f = await startCampaignFixture();
  });
  after(() => f.close());

  it('never queues more than rate_per_minute allows since the start, and exactly that much', async () => {
    const list = await f.list('Paced', emails('p', 500));
    const c = await f.campaign({ lists: [list], rate_per_minute: 600 });
    assert.equal((await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`)).status, 200);
    const start = await f.paceStart(c.id);
    // Ticks every 250 ms for 30 s: at each, exactly floor(600 × elapsed / 60 s) queued.
    for (let elapsed = 0; elapsed <= 30_000; elapsed += 250) {
      f.clock.now = start + elapsed;
      await f.runner.tick();
      if (elapsed % 2500 === 0) assert.equal((await f.get(c.id)).counts.queued, Math.floor((600 * elapsed) / 60_000), `after ${elapsed} ms`);
    }
    // A tick 20 s late may not release the 200 owed at once: one second's worth at most.
    f.clock.now = start + 50_000;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 310);
    f.clock.now = start + 50_500;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 310, 'the one-second window is full');
    f.clock.now = start + 51_001;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 320);
    const messages = await f.api.store.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('metadata', 'like', `%${c.id}%`).executeTakeFirstOrThrow();
    assert.equal(Number(messages.n), 320);
  });

  it('pause stops expansion at once with exact counts; resume continues without a burst; cancel ends it', async () => {
    const list = await f.list('Pausable', emails('q', 400));
    const c = await f.campaign({ lists: [list], rate_per_minute: 6000 });
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    let start = await f.paceStart(c.id);
    f.clock.now = start + 1000;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 100);
    const paused = await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/pause`);
    assert.equal(paused.body.status, 'paused');
    assert.equal(paused.body.counts.queued, 100);
    f.clock.now = start + 60_000;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 100, 'no message while paused');
    const again = await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/pause`);
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'CAMPAIGN_STATE');
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/resume`);
    start = await f.paceStart(c.id);
    f.clock.now = start + 3000;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 200, 'the minute paused is not made up in a burst');
    const cancelled = await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/cancel`);
    assert.equal(cancelled.body.status, 'cancelled');
    f.clock.now = start + 600_000;
    await f.runner.tick();
    const after = await f.get(c.id);
    assert.equal(after.status, 'cancelled');
    assert.equal(after.counts.queued, 200);
    assert.deepEqual(await ledgerCounts(f.api.store.db, c.id), { queued: 200, suppressed: 0, unsubscribed: 0 });
  });

  it('skips and counts suppressed and unsubscribed contacts (taking the suppression reason as their status), finishes with campaign.finished, and a lost cursor repeats no one', async () => {
    const list = await f.list('Mixed', emails('m', 50));
    await f.t.client.request('POST', '/api/v1/suppressions', { stream: 'broadcast', entries: [{ address: 'm3@rcpt.example', reason: 'hard_bounce' }, { address: 'm4@rcpt.example' }] });
    const contacts = (await f.t.client.request('GET', `/api/v1/contacts?list_id=${list}&q=m7@&limit=10`)).body.data;
    await f.t.client.request('PATCH', `/api/v1/contacts/${contacts[0].id}`, { status: 'unsubscribed' });
    const c = await f.campaign({ lists: [list], rate_per_minute: 100_000 });
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    f.clock.now = (await f.paceStart(c.id)) + 60_000;
    await f.runner.tick();
    const done = await f.get(c.id);
    assert.equal(done.status, 'sent');
    assert.deepEqual(done.counts, { queued: 47, skipped_suppressed: 2, skipped_unsubscribed: 1 });
    // The hard bounce on the suppression list is now the contact's status too; a manual entry is not a status.
    const status = async (q: string) => (await f.t.client.request('GET', `/api/v1/contacts?q=${q}`)).body.data[0].status;
    assert.equal(await status('m3@'), 'bounced');
    assert.equal(await status('m4@'), 'subscribed');
    const events = await f.api.store.db.selectFrom('events').select(['type', 'payload']).where('tenant_id', '=', f.t.id).where('type', 'in', ['campaign.started', 'campaign.finished']).execute();
    assert.deepEqual(events.filter((e) => e.payload.includes(c.id)).map((e) => e.type), ['campaign.started', 'campaign.finished']);
    // As if the cursor had been lost in a crash: the ledger refuses every contact again.
    await f.api.store.write((trx) => trx.updateTable('campaigns').set({ status: 'sending', cursor: null }).where('id', '=', c.id).execute());
    await f.runner.tick();
    assert.deepEqual(await ledgerCounts(f.api.store.db, c.id), { queued: 47, suppressed: 2, unsubscribed: 1 });
    const messages = await f.api.store.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('metadata', 'like', `%${c.id}%`).executeTakeFirstOrThrow();
    assert.equal(Number(messages.n), 47);
  });

  it('builds each message with the contact\'s fields, List-Unsubscribe (https + mailto), List-Unsubscribe-Post and List-Id', async () => {
    const list = await f.list('Headers', ['ann@rcpt.example']);
    const c = await f.campaign({ lists: [list], rate_per_minute: 1000 });
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    f.clock.now = (await f.paceStart(c.id)) + 60_000;
    await f.runner.tick();
    const msg = await f.api.store.db.selectFrom('messages').select(['id', 'body', 'stream', 'subject']).where('metadata', 'like', `%${c.id}%`).executeTakeFirstOrThrow();
    const raw = Buffer.from(msg.body!).toString();
    assert.equal(msg.stream, 'broadcast');
    assert.equal(msg.subject, 'Hi Person 0');
    assert.match(raw, new RegExp(`^List-Unsubscribe: <https://links\\.example\\.test/u/${msg.id}\\.[A-Za-z0-9_-]{22}>,\\r\\n <mailto:unsubscribe\\+${msg.id}\\.[A-Za-z0-9_-]{22}@pl-bounces\\.${f.domain.replace(/\./g, '\\.')}\\?subject=unsubscribe>\\r\\n`));
    assert.match(raw, /\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n/);
    assert.match(raw, new RegExp(`\\r\\nList-Id: "Spring" <${list.toLowerCase().replace('_', '-')}\\.${f.domain.replace(/\./g, '\\.')}>\\r\\n`));
  });

  it('a campaign with send_at is scheduled by send and starts (campaign.started) when the time comes', async () => {
    const list = await f.list('Later', emails('s', 3));
    const sendAt = Date.now() + 3_600_000;
    const c = await f.campaign({ lists: [list], rate_per_minute: 100_000, send_at: new Date(sendAt).toISOString() });
    const res = await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    assert.equal(res.body.status, 'scheduled');
    f.clock.now = sendAt - 1000;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).status, 'scheduled');
    f.clock.now = sendAt;
    await f.runner.tick();
    f.clock.now = sendAt + 1000;
    await f.runner.tick();
    const done = await f.get(c.id);
    assert.equal(done.status, 'sent');
    assert.equal(done.counts.queued, 3);
    assert.equal(done.started_at, new Date(sendAt).toISOString());
  });

  it('queues nothing outside its sending window and starts at the window\'s opening', async () => {
    const list = await f.list('Window', emails('w', 5));
    const c = await f.campaign({ lists: [list], rate_per_minute: 100_000, send_window: { start: '09:00', end: '10:00', timezone: 'UTC' } });
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    const day = new Date(await f.paceStart(c.id)).toISOString().slice(0, 10);
    f.clock.now = Date.parse(`${day}T08:59:00Z`) + 86_400_000;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 0);
    f.clock.now = Date.parse(`${day}T09:00:30Z`) + 86_400_000;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 5);
  });

  it('test-sends to given addresses with "[Test] " and no ledger rows', async () => {
    const list = await f.list('Testing', ['x@rcpt.example']);
    const c = await f.campaign({ lists: [list] });
    const res = await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/test`, { to: ['qa@rcpt.example'], contact: { name: 'QA', attributes: { city: 'Oslo' } } });
    assert.equal(res.status, 202, res.text);
    const msg = await f.api.store.db.selectFrom('messages').select(['subject']).where('id', '=', res.body.messages[0].id).executeTakeFirstOrThrow();
    assert.equal(msg.subject, '[Test] Hi QA');
    assert.deepEqual(await ledgerCounts(f.api.store.db, c.id), { queued: 0, suppressed: 0, unsubscribed: 0 });
    assert.equal((await f.get(c.id)).status, 'draft');
  });

  it('refuses a sender domain the tenant does not own with 422 and a list of another tenant with 400', async () => {
    const list = await f.list('Refusals', ['y@rcpt.example']);
    const foreign = await f.t.client.request('POST', '/api/v1/campaigns', { name: 'x', from: 'a@not-ours.example', subject: 's', text: 't', lists: [list] });
    assert.equal(foreign.status, 422, foreign.text);
    const other = await f.api.tenant();
    const theirs = (await other.client.request('POST', '/api/v1/lists', { name: 'theirs' })).body.id;
    const res = await f.t.client.request('POST', '/api/v1/campaigns', { name: 'x', from: `a@${f.domain}`, subject: 's', text: 't', lists: [theirs] });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.errors[0].pointer, '/lists/0');
  });
});

describe('a campaign whose message cannot be built', () => {
  it('pauses with the ComposeError code as paused_reason and a campaign.paused event, instead of failing every round', async () => {
    const f = await startCampaignFixture({ POSTLINE_MAX_MESSAGE_BYTES: '2000' });
    try {
      const list = await f.list('Big', ['big@rcpt.example']);
      const c = await f.campaign({ lists: [list], rate_per_minute: 6000, html: `<p>${'x'.repeat(3000)}</p>` });
      await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
      f.clock.now = (await f.paceStart(c.id)) + 60_000;
      await f.runner.tick();
      const paused = await f.get(c.id);
      assert.equal(paused.status, 'paused');
      assert.equal(paused.paused_reason, 'MESSAGE_TOO_LARGE');
      assert.equal(paused.counts.queued, 0);
    } finally {
      await f.close();
    }
  });
});
