// A real Postline with a sink, the test DNS and an API key of tenant acme, for the campaign
// tests that run end to end (pacing, kill -9): lists imported as CSV, campaigns sent, and
// the sink's messages by subject.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryRig, type DeliveryRig } from '../queue/delivery-harness.ts';
import { apiCall } from '../helpers/api-call.ts';

export const SINK = '127.0.0.2';
export const RCPT_DOMAIN = 'rcpt.test';

export interface CampaignRig {
  readonly rig: DeliveryRig;
  api(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any; text: string }>;
  /** A list of `n` contacts `<prefix><i>@rcpt.test` imported from CSV; answers its id. */
  listOf(name: string, prefix: string, n: number): Promise<string>;
  /** Creates and sends a campaign to `list` at `rate` per minute; answers its id. */
  campaign(list: string, rate: number, subject: string): Promise<string>;
  /** The campaign once it reached `status` (the runner notices the end of the audience on its next tick). */
  campaignWhen(id: string, status: string): Promise<any>;
  forSubject(subject: string): Array<{ raw: Buffer; rcptTo: string[] }>;
}

/** Registers before/after hooks in the calling test file; the returned object is usable once `before` ran. */
export function useCampaignRig(): CampaignRig {
  let rig: DeliveryRig;
  let key: string;
  const api = (method: string, path: string, body?: unknown, contentType?: string) =>
    apiCall(`http://${rig.postline.http!.host}:${rig.postline.http!.port}`, key, method, path, body, contentType);

  async function listOf(name: string, prefix: string, n: number): Promise<string> {
    const l = await api('POST', '/api/v1/lists', { name });
    assert.equal(l.status, 201, l.text);
    let csv = 'email,name\n';
    for (let i = 0; i < n; i++) csv += `${prefix}${i}@${RCPT_DOMAIN},P${i}\n`;
    const r = await api('POST', `/api/v1/lists/${l.body.id}/import`, csv, 'text/csv');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.imported, n);
    return l.body.id;
  }

  async function campaign(list: string, rate: number, subject: string): Promise<string> {
    const c = await api('POST', '/api/v1/campaigns', { name: subject, from: 'News <news@acme.test>', subject, text: 'Hello {{contact.name}}', html: '<p>Hello {{contact.name}}</p>', lists: [list], rate_per_minute: rate });
    assert.equal(c.status, 201, c.text);
    const s = await api('POST', `/api/v1/campaigns/${c.body.id}/send`);
    assert.equal(s.status, 200, s.text);
    return c.body.id;
  }

  /** The campaign once it reached `status` (the runner notices the end of the audience on its next tick). */
  async function campaignWhen(id: string, status: string): Promise<any> {
    let c = await api('GET', `/api/v1/campaigns/${id}`);
    for (let i = 0; c.body.status !== status && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      c = await api('GET', `/api/v1/campaigns/${id}`);
    }
    return c.body;
  }

  const forSubject = (subject: string) => rig.sink(SINK).messages.filter((m) => m.raw.includes(`Subject: ${subject}\r\n`));

  before(async () => {
    rig = await startDeliveryRig({
      sinks: [SINK], domains: ['acme.test'],
      env: { POSTLINE_API_KEY_RATE: '0', POSTLINE_CAMPAIGNS_TICK_INTERVAL: '100ms', POSTLINE_CAMPAIGNS_PUBLIC_URL: 'http://links.acme.test', POSTLINE_LOG_LEVEL: 'warn' },
    });
    rig.dns.mx(RCPT_DOMAIN, ['mx.rcpt.test']);
    rig.dns.a('mx.rcpt.test', SINK);
    key = (await rig.postline.cli('key', 'create', '--tenant', 'acme', '--scopes', 'send,read,manage')).key;
  });

  after(async () => {
    await rig?.close();
  });

  return {
    get rig() { return rig; },
    api, listOf, campaign, campaignWhen, forSubject,
  };
}
