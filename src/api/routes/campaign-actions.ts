// Campaign actions (issue 9): send (or schedule), pause, resume, cancel, a test send to given
// addresses, and the report. State changes are conditional updates (`… where status in`),
// so two clients racing get one winner and a 409; the runner re-checks the status inside
// each expansion transaction, so after a pause commits not one more message is queued and
// the counts stay exact.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  campaignClicksByUrl, campaignDeliveryCounts, getLinkHost, campaignEventCounts, campaignTrackingCounts, campaignTrackingSeries, countAudience, insertEvents, insertMessages,
  newId, normaliseSuppressionAddress, updateCampaignIf, type CampaignStatus, type NewMessage, type CampaignTable, type ContactTable, type SegmentCondition, type Store,
} from '../../store/index.ts';
import { ComposeError, TemplateRenderer } from '../../compose/index.ts';
import { buildCampaignMessage, campaignServiceOf, parseAbTest } from '../../campaigns/index.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem } from '../problem.ts';
import { idParams, isoTime, timestamp } from '../schemas.ts';
import { campaignJson, campaignOr404, campaignSchema } from './campaigns.ts';
import { contactAttributes } from './contacts.ts';
import { composeProblem } from './messages-send-prepare.ts';

const MAX_TEST_RECIPIENTS = 10;

const testBody = z.strictObject({
  to: z.array(z.string().max(320)).min(1).max(MAX_TEST_RECIPIENTS),
  contact: z.strictObject({ name: z.string().max(200).nullable().optional(), attributes: contactAttributes.optional() }).optional().describe('Values for {{contact.…}}'),
});

const trackingCounts = z.object({ total: z.number().int(), unique: z.number().int(), machine: z.number().int().describe('Prefetchers and link scanners, not counted in total/unique') });
const reportSchema = z.object({
  campaign_id: z.string(),
  status: z.string(),
  audience: z.object({ total: z.number().int(), subscribed: z.number().int() }).describe('Contacts the campaign selects now'),
  queued: z.number().int(),
  skipped: z.object({ suppressed: z.number().int(), unsubscribed: z.number().int() }),
  delivered: z.number().int(),
  pending: z.number().int().describe('Queued, deferred or in flight'),
  bounced: z.object({ hard: z.number().int(), soft: z.number().int().describe('Deferrals (temporary failures)') }),
  complained: z.number().int(),
  unsubscribed: z.number().int(),
  opened: trackingCounts,
  clicked: trackingCounts.extend({ links: z.array(z.object({ url: z.string(), total: z.number().int(), unique: z.number().int() })) }),
  series: z.array(z.object({ hour: timestamp, opens: z.number().int(), clicks: z.number().int() })),
}).meta({ id: 'CampaignReport' });

async function segmentOf(store: Store, c: CampaignTable): Promise<SegmentCondition | null> {
  if (!c.segment_id) return null;
  const row = await store.db.selectFrom('segments').select('filter').where('id', '=', c.segment_id).where('tenant_id', '=', c.tenant_id).executeTakeFirst();
  return row ? (JSON.parse(row.filter) as SegmentCondition) : { any: [] };
}

const tags = ['campaigns'];

export const campaignActionRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config, log } = app.postline;
  const renderer = new TemplateRenderer();

  async function transition(tenantId: string, id: string, from: readonly CampaignStatus[], set: Partial<CampaignTable>, eventType: string | null, what: string): Promise<CampaignTable> {
    const before = await campaignOr404(store, tenantId, id);
    const after = await store.write(async (trx) => {
      const c = await updateCampaignIf(trx, tenantId, id, from, { ...set, updated_at: Date.now() });
      if (c && eventType) {
        await insertEvents(trx, [{ type: eventType, tenantId, data: { campaign_id: c.id, name: c.name, queued: c.queued, skipped_suppressed: c.skipped_suppressed, skipped_unsubscribed: c.skipped_unsubscribed, ...(set.paused_reason ? { reason: set.paused_reason } : {}) } }]);
      }
      return c;
    });
    if (!after) throw new ApiProblem('conflict', `a ${before.status} campaign cannot be ${what}`, { code: 'CAMPAIGN_STATE', extensions: { status: before.status } });
    return after;
  }

  app.route({
    method: 'POST', url: '/api/v1/campaigns/:id/send', config: { scope: 'send' },
    schema: { tags, summary: 'Send a draft now, or at its send_at', params: idParams, response: { 200: campaignSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const c = await campaignOr404(store, tenantId, request.params.id);
      const now = Date.now();
      let ab = c.ab;
      const parsed = parseAbTest(c.ab);
      if (parsed) {
        // The sample is a share of the audience as it is now.
        const audience = await countAudience(store.db, { tenantId, listIds: JSON.parse(c.list_ids) as string[], filter: await segmentOf(store, c) });
        ab = JSON.stringify({ ...parsed, phase: 'sample', sample_size: Math.max(parsed.variants.length, Math.round((audience.total * parsed.sample_percent) / 100)) });
      }
      if (c.send_at !== null && c.send_at > now) return campaignJson(await transition(tenantId, c.id, ['draft'], { status: 'scheduled', ab }, null, 'scheduled'));
      return campaignJson(await transition(tenantId, c.id, ['draft'], { status: 'sending', started_at: now, pace_start: now, pace_count: 0, ab }, 'campaign.started', 'sent'));
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/campaigns/:id/pause', config: { scope: 'send' },
    schema: { tags, summary: 'Pause a sending or scheduled campaign', description: 'No message is queued after the answer; the counts are final until resumed.', params: idParams, response: { 200: campaignSchema } },
    handler: async (request) => campaignJson(await transition(tenantIdOf(request), request.params.id, ['sending', 'scheduled'], { status: 'paused', paused_reason: 'manual' }, 'campaign.paused', 'paused')),
  });

  app.route({
    method: 'POST', url: '/api/v1/campaigns/:id/resume', config: { scope: 'send' },
    schema: { tags, summary: 'Resume a paused campaign where it stopped', description: 'The rate counts again from now: no burst makes up for the pause.', params: idParams, response: { 200: campaignSchema } },
    handler: async (request) => {
      const now = Date.now();
      return campaignJson(await transition(tenantIdOf(request), request.params.id, ['paused'], { status: 'sending', paused_reason: null, pace_start: now, pace_count: 0 }, null, 'resumed'));
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/campaigns/:id/cancel', config: { scope: 'send' },
    schema: { tags, summary: 'Cancel a campaign', description: 'No further contact is queued; messages already queued are delivered.', params: idParams, response: { 200: campaignSchema } },
    handler: async (request) => campaignJson(await transition(tenantIdOf(request), request.params.id, ['draft', 'scheduled', 'sending', 'paused'], { status: 'cancelled', finished_at: Date.now() }, 'campaign.finished', 'cancelled')),
  });

  app.route({
    method: 'POST', url: '/api/v1/campaigns/:id/test', config: { scope: 'send' },
    schema: {
      tags, summary: 'Send the campaign to test addresses', description: `1-${MAX_TEST_RECIPIENTS} addresses, each its own message with "[Test] " before the subject; no ledger, no counts.`,
      params: idParams, body: testBody, response: { 202: z.object({ messages: z.array(z.object({ id: z.string(), to: z.string() })) }) },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const c = await campaignOr404(store, tenantId, request.params.id);
      const { signer } = await campaignServiceOf(app.postline);
      const now = Date.now();
      const messages: NewMessage[] = [];
      for (const [i, raw] of request.body.to.entries()) {
        const email = normaliseSuppressionAddress(raw);
        if (!email) throw new ApiProblem('validation', `${raw.slice(0, 100)} is not a valid email address`, { errors: [{ in: 'body', pointer: `/to/${i}`, detail: 'not a valid email address' }] });
        const contact: ContactTable = {
          id: 'ct_test', tenant_id: tenantId, email, name: request.body.contact?.name ?? null, attributes: JSON.stringify(request.body.contact?.attributes ?? {}),
          status: 'subscribed', created_at: now, updated_at: now,
        };
        const id = newId();
        const domain = c.from_address.slice(c.from_address.lastIndexOf('@') + 1);
        try {
          const host = await getLinkHost(store.db, tenantId, domain);
          const m = await buildCampaignMessage(c, { subject: `[Test] ${c.subject}`, html: c.html, text: c.text }, contact, id, {
            hostname: config.hostname, signer, renderer, mailtoHost: `${config.domains.return_path_prefix}.${domain}`, maxMessageBytes: config.smtp.max_message_bytes,
            linkBase: host ? `https://${host}` : undefined,
          });
          messages.push({
            id, tenantId, origin: 'api' as const, stream: c.stream, mailFrom: m.mailFrom, body: { size: m.raw.length, inline: m.raw, path: null }, headerSize: m.headerSize,
            messageIdHeader: m.messageIdHeader, subject: m.subject, fromHeader: m.fromHeader, smtputf8: m.smtputf8, recipients: [{ rcpt: email }],
            tags: ['campaign-test'], metadata: { campaign_id: c.id, test: true },
          });
        } catch (err) {
          if (err instanceof ComposeError) throw composeProblem(err);
          throw err;
        }
      }
      await store.write((trx) => insertMessages(trx, messages, { now, lifetimeMs: config.queue.max_lifetime }));
      log.debug({ campaign: c.id, n: messages.length }, 'campaign test send');
      return reply.code(202).send({ messages: messages.map((m) => ({ id: m.id, to: m.recipients[0].rcpt })) });
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/campaigns/:id/report', config: { scope: 'read' },
    schema: { tags, summary: 'Campaign report: delivery, bounces, complaints, opens, clicks, unsubscribes, over time', params: idParams, response: { 200: reportSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const c = await campaignOr404(store, tenantId, request.params.id);
      const [audience, delivery, events, opened, clicked, links, series] = await Promise.all([
        countAudience(store.db, { tenantId, listIds: JSON.parse(c.list_ids) as string[], filter: await segmentOf(store, c) }),
        campaignDeliveryCounts(store.db, c.id),
        campaignEventCounts(store.db, c.id, ['message.deferred', 'message.complained', 'contact.unsubscribed']),
        campaignTrackingCounts(store.db, c.id, 'open'),
        campaignTrackingCounts(store.db, c.id, 'click'),
        campaignClicksByUrl(store.db, c.id),
        campaignTrackingSeries(store.db, c.id),
      ]);
      return {
        campaign_id: c.id, status: c.status, audience, queued: c.queued, skipped: { suppressed: c.skipped_suppressed, unsubscribed: c.skipped_unsubscribed },
        delivered: delivery.delivered ?? 0, pending: (delivery.queued ?? 0) + (delivery.deferred ?? 0) + (delivery.inflight ?? 0),
        bounced: { hard: (delivery.bounced ?? 0) + (delivery.expired ?? 0), soft: events['message.deferred'] ?? 0 },
        complained: events['message.complained'] ?? 0, unsubscribed: events['contact.unsubscribed'] ?? 0,
        opened, clicked: { ...clicked, links }, series: series.map((s) => ({ hour: isoTime(s.hour), opens: s.opens, clicks: s.clicks })),
      };
    },
  });
};
