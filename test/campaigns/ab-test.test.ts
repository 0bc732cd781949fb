import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { startCampaignFixture, type CampaignFixture } from './campaign-helpers.ts';
import { campaignServiceOf, createCampaignRunner } from '../../src/campaigns/index.ts';
import { insertEvents, insertTrackingEvent, ledgerCounts } from '../../src/store/index.ts';

const emails = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}@rcpt.example`);

describe('A/B tests, automatic pause on the bounce rate, ledger retention', () => {
  let f: CampaignFixture;
  before(async () => {
    f = await startCampaignFixture();
  });
  after(() => f.close());

  const messagesOf = (id: string) => f.api.store.db.selectFrom('messages').select(['id', 'subject', 'metadata']).where('metadata', 'like', `%${id}%`).orderBy('id').execute();

  it('sends the sample split between variants, waits, picks the variant with the best human open rate and sends it to the rest', async () => {
    const list = await f.list('AB', emails('ab', 100));
    const c = await f.campaign({
      lists: [list], rate_per_minute: 100_000,
      ab: { variants: [{ name: 'A', subject: 'Subject A' }, { name: 'B', subject: 'Subject B' }], sample_percent: 20, metric: 'open', wait_minutes: 10 },
    });
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    const start = await f.paceStart(c.id);
    f.clock.now = start + 60_000;
    await f.runner.tick();
    let state = await f.get(c.id);
    assert.equal(state.counts.queued, 20);
    assert.equal(state.ab.phase, 'waiting');
    assert.equal(state.status, 'sending');
    const sample = await messagesOf(c.id);
    const variants = sample.map((m) => JSON.parse(m.metadata!).variant as string);
    assert.ok(variants.includes('A') && variants.includes('B'), variants.join());
    for (const m of sample) assert.equal(m.subject, `Subject ${JSON.parse(m.metadata!).variant}`);
    // People open B's mail (and a prefetcher opens A's, which must not count).
    const b = sample.filter((m) => JSON.parse(m.metadata!).variant === 'B');
    const a = sample.filter((m) => JSON.parse(m.metadata!).variant === 'A');
    await f.api.store.write(async (trx) => {
      for (const m of b.slice(0, 3)) await insertTrackingEvent(trx, { tenant_id: f.t.id, campaign_id: c.id, message_id: m.id, contact_id: null, kind: 'open', url: null, machine: 0, ip: null, user_agent: 'x', created_at: start });
      for (const m of a) await insertTrackingEvent(trx, { tenant_id: f.t.id, campaign_id: c.id, message_id: m.id, contact_id: null, kind: 'open', url: null, machine: 1, ip: null, user_agent: 'Mozilla/5.0', created_at: start });
    });
    f.clock.now = start + 60_000 + 5 * 60_000;
    await f.runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 20, 'still waiting');
    f.clock.now = start + 60_000 + 11 * 60_000;
    await f.runner.tick();
    await f.runner.tick();
    state = await f.get(c.id);
    assert.equal(state.ab.winner, 'B');
    assert.equal(state.status, 'sent');
    assert.equal(state.counts.queued, 100);
    const rest = (await messagesOf(c.id)).filter((m) => !sample.some((s) => s.id === m.id));
    assert.equal(rest.length, 80);
    assert.ok(rest.every((m) => m.subject === 'Subject B'));
  });

  it('pauses itself with campaign.paused (reason bounce_rate) once bounces pass the threshold, with exact counts', async () => {
    const { signer } = await campaignServiceOf(f.api.app.postline);
    const base = f.api.app.postline.config;
    const config = { ...base, campaigns: { ...base.campaigns, auto_pause_min_outcomes: 40, auto_pause_bounce_rate: 0.1 } };
    const runner = createCampaignRunner({ config, store: f.api.store, log: pino({ level: 'silent' }), signer, now: () => f.clock.now });
    const list = await f.list('Bouncy', emails('bo', 100));
    const c = await f.campaign({ lists: [list], rate_per_minute: 3000 });
    await f.t.client.request('POST', `/api/v1/campaigns/${c.id}/send`);
    const start = await f.paceStart(c.id);
    f.clock.now = start + 1000;
    await runner.tick();
    assert.equal((await f.get(c.id)).counts.queued, 50);
    const sent = await messagesOf(c.id);
    await f.api.store.write((trx) => insertEvents(trx, sent.map((m, i) => ({ type: i < 20 ? 'message.bounced' : 'message.delivered', tenantId: f.t.id, messageId: m.id, data: {} }))));
    f.clock.now = start + 4000;
    await runner.tick();
    const paused = await f.get(c.id);
    assert.equal(paused.status, 'paused');
    assert.equal(paused.paused_reason, 'bounce_rate');
    assert.equal(paused.counts.queued, 50);
    const ev = await f.api.store.db.selectFrom('events').select('payload').where('type', '=', 'campaign.paused').where('tenant_id', '=', f.t.id).execute();
    const data = ev.map((e) => JSON.parse(e.payload)).find((d) => d.campaign_id === c.id);
    assert.equal(data.reason, 'bounce_rate');
    assert.equal(data.bounce_rate, 0.4);
  });

  it('deletes the ledger of finished campaigns after campaigns.ledger_retention, and keeps a running one\'s', async () => {
    const list = await f.list('Old', emails('old', 5));
    const done = await f.campaign({ lists: [list], rate_per_minute: 100_000 });
    await f.t.client.request('POST', `/api/v1/campaigns/${done.id}/send`);
    f.clock.now = (await f.paceStart(done.id)) + 60_000;
    await f.runner.tick();
    assert.equal((await f.get(done.id)).status, 'sent');
    const running = await f.campaign({ lists: [list], rate_per_minute: 60 });
    await f.t.client.request('POST', `/api/v1/campaigns/${running.id}/send`);
    f.clock.now = (await f.paceStart(running.id)) + 2000;
    await f.runner.tick();
    assert.equal((await ledgerCounts(f.api.store.db, running.id)).queued, 1);
    const { signer } = await campaignServiceOf(f.api.app.postline);
    const later = { now: f.clock.now + 31 * 86_400_000 };
    const runner = createCampaignRunner({ config: f.api.app.postline.config, store: f.api.store, log: pino({ level: 'silent' }), signer, now: () => later.now });
    await f.t.client.request('POST', `/api/v1/campaigns/${running.id}/pause`);
    await runner.tick();
    assert.deepEqual(await ledgerCounts(f.api.store.db, done.id), { queued: 0, suppressed: 0, unsubscribed: 0 });
    assert.equal((await ledgerCounts(f.api.store.db, running.id)).queued, 1);
  });
});
