// Shared set-up of the campaign suites: a test API (runner off, driven by the test with its
// own clock), a tenant with a sending domain, a list of N imported contacts.
import pino from 'pino';
import { startTestApi, type TestApi, type TestTenant } from '../api/api-test-app.ts';
import { campaignServiceOf, createCampaignRunner, type CampaignRunner } from '../../src/campaigns/index.ts';

export interface CampaignFixture {
  readonly api: TestApi;
  readonly t: TestTenant;
  readonly domain: string;
  /** A runner on the test's clock: set `clock.now` then `await runner.tick()`. */
  readonly runner: CampaignRunner;
  readonly clock: { now: number };
  list(name: string, emails: readonly string[]): Promise<string>;
  campaign(body: Record<string, unknown>): Promise<any>;
  get(id: string): Promise<any>;
  /** The campaign's pace_start (the send/resume time), to run the clock from. */
  paceStart(id: string): Promise<number>;
  /** A message as the API shows it (GET …/raw): campaign messages are made from their row on read. */
  raw(messageId: string): Promise<string>;
  close(): Promise<void>;
}

let seq = 0;

export async function startCampaignFixture(env: Record<string, string> = {}): Promise<CampaignFixture> {
  const api = await startTestApi({ env: { POSTLINE_CAMPAIGNS_RUNNER: 'false', POSTLINE_CAMPAIGNS_PUBLIC_URL: 'https://links.example.test', ...env } });
  const t = await api.tenant();
  const domain = `news${process.pid}-${++seq}.example`;
  const d = await t.client.request('POST', '/api/v1/domains', { name: domain });
  if (d.status !== 201) throw new Error(`domain: ${d.status} ${d.text}`);
  const clock = { now: Date.now() };
  const { signer } = await campaignServiceOf(api.app.postline);
  const runner = createCampaignRunner({ config: api.app.postline.config, store: api.store, log: pino({ level: 'silent' }), signer, now: () => clock.now });
  return {
    api, t, domain, runner, clock,
    async list(name, emails) {
      const l = await t.client.request('POST', '/api/v1/lists', { name });
      if (l.status !== 201) throw new Error(`list: ${l.status} ${l.text}`);
      const csv = `email,name,city\r\n${emails.map((e, i) => `${e},Person ${i},City${i % 3}`).join('\r\n')}\r\n`;
      const r = await t.client.request('POST', `/api/v1/lists/${l.body.id}/import`, csv, { 'content-type': 'text/csv' });
      if (r.status !== 200) throw new Error(`import: ${r.status} ${r.text}`);
      return l.body.id as string;
    },
    async campaign(body) {
      const c = await t.client.request('POST', '/api/v1/campaigns', { name: 'Spring', from: `News <hello@${domain}>`, subject: 'Hi {{contact.name}}', html: '<p>Hello {{contact.name}} from {{contact.city}}</p><a href="https://shop.example/sale?a=1&amp;b=2">Sale</a>', text: 'Hello {{contact.name}}', ...body });
      if (c.status !== 201) throw new Error(`campaign: ${c.status} ${c.text}`);
      return c.body;
    },
    async get(id) {
      return (await t.client.request('GET', `/api/v1/campaigns/${id}`)).body;
    },
    async paceStart(id) {
      const row = await api.store.db.selectFrom('campaigns').select('pace_start').where('id', '=', id).executeTakeFirstOrThrow();
      return Number(row.pace_start);
    },
    async raw(messageId) {
      const r = await t.client.request('GET', `/api/v1/messages/${messageId}/raw`);
      if (r.status !== 200) throw new Error(`raw: ${r.status} ${r.text}`);
      return r.text;
    },
    async close() {
      await runner.stop();
      await api.close();
    },
  };
}
