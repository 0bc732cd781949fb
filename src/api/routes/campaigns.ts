// Campaigns (issue 9): create, read, change and delete drafts. Sending, pausing, test sends
// and reports are in campaign-actions.ts. A campaign names its audience by lists and/or a
// segment, its content as Handlebars sources rendered per contact ({{contact.name}},
// {{contact.<attribute>}}, {{unsubscribe_url}}), its sender (a domain of the tenant) and its
// rate in messages per minute.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  campaignWaitingMessages, deleteCampaign, getCampaign, getList, getSegment, insertCampaign, listCampaignsPage, newPublicId, updateCampaignIf,
  type CampaignTable, type Store,
} from '../../store/index.ts';
import { ComposeError, TemplateRenderer, headerText, mailboxSchema } from '../../compose/index.ts';
import { sendWindowSchema, type AbTest } from '../../campaigns/index.ts';
import type { Config } from '../../config/index.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { displayName, idParams, isoTime, noContent, timestamp } from '../schemas.ts';
import { SenderDomains, composeProblem } from './messages-send-prepare.ts';

const CAMPAIGN_BODY_LIMIT_BYTES = 2 * 1024 * 1024;
const MAX_SOURCE_CHARS = 512 * 1024;
export const CAMPAIGN_STATUSES = ['draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled'] as const;

const variantSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/),
  subject: headerText(2000).nullable().optional(),
  html: z.string().max(MAX_SOURCE_CHARS).nullable().optional(),
  text: z.string().max(MAX_SOURCE_CHARS).nullable().optional(),
  split: z.number().int().min(1).max(100).default(50),
});
const abSchema = z.strictObject({
  variants: z.array(variantSchema).min(2).max(5),
  sample_percent: z.number().min(1).max(100).describe('Share of the audience in the sample; the rest gets the winner'),
  metric: z.enum(['open', 'click']).default('open'),
  wait_minutes: z.number().min(0).max(7 * 24 * 60).default(240).describe('Time after the sample is queued before the winner is chosen'),
});

const fields = {
  name: displayName,
  from: mailboxSchema,
  reply_to: mailboxSchema.nullable().optional(),
  subject: headerText(2000).describe('Handlebars; not HTML-escaped'),
  html: z.string().max(MAX_SOURCE_CHARS).nullable().optional().describe('Handlebars; {{value}} is HTML-escaped. Links are tracked unless track_clicks is false'),
  text: z.string().max(MAX_SOURCE_CHARS).nullable().optional(),
  lists: z.array(z.string().min(1).max(100)).max(100).default([]).describe('Subscribed members of any of these lists'),
  segment: z.string().min(1).max(100).nullable().optional().describe('Narrows the lists (or, without lists, selects from all contacts)'),
  stream: z.enum(['broadcast', 'transactional']).default('broadcast'),
  rate_per_minute: z.number().int().positive().optional().describe('Messages per minute; default campaigns.default_rate_per_minute'),
  send_at: z.iso.datetime({ offset: true }).nullable().optional().describe('Start later; null or absent: when sent'),
  send_window: sendWindowSchema.nullable().optional().describe('Queue only between start and end (local time in timezone) on these days'),
  track_opens: z.boolean().optional(),
  track_clicks: z.boolean().optional(),
  ab: abSchema.nullable().optional(),
};
const createBody = z.strictObject(fields).superRefine((b, ctx) => {
  if (b.html == null && b.text == null) ctx.addIssue({ code: 'custom', message: 'give html, text or both', path: ['html'] });
  if (b.lists.length === 0 && !b.segment) ctx.addIssue({ code: 'custom', message: 'give lists, a segment or both', path: ['lists'] });
});
const updateBody = z.strictObject({ ...fields, name: displayName.optional(), from: mailboxSchema.optional(), subject: headerText(2000).optional(), lists: fields.lists.optional(), stream: fields.stream.optional() });

export const campaignSchema = z.object({
  id: z.string(),
  name: z.string(),
  from: z.string(),
  reply_to: z.string().nullable(),
  subject: z.string(),
  html: z.string().nullable(),
  text: z.string().nullable(),
  lists: z.array(z.string()),
  segment: z.string().nullable(),
  stream: z.enum(['broadcast', 'transactional']),
  status: z.enum(CAMPAIGN_STATUSES),
  rate_per_minute: z.number().int(),
  send_at: timestamp.nullable(),
  send_window: z.unknown().nullable(),
  track_opens: z.boolean(),
  track_clicks: z.boolean(),
  ab: z.unknown().nullable(),
  counts: z.object({ queued: z.number().int(), skipped_suppressed: z.number().int(), skipped_unsubscribed: z.number().int() }),
  paused_reason: z.string().nullable(),
  started_at: timestamp.nullable(),
  finished_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'Campaign' });

export function campaignJson(c: CampaignTable): z.output<typeof campaignSchema> {
  return {
    id: c.id, name: c.name, from: c.from_name ? `${c.from_name} <${c.from_address}>` : c.from_address, reply_to: c.reply_to, subject: c.subject, html: c.html, text: c.text,
    lists: JSON.parse(c.list_ids) as string[], segment: c.segment_id, stream: c.stream, status: c.status, rate_per_minute: c.rate_per_minute, send_at: isoTime(c.send_at),
    send_window: c.send_window ? JSON.parse(c.send_window) as unknown : null,
    track_opens: c.track_opens === 1, track_clicks: c.track_clicks === 1, ab: c.ab ? JSON.parse(c.ab) as unknown : null,
    counts: { queued: c.queued, skipped_suppressed: c.skipped_suppressed, skipped_unsubscribed: c.skipped_unsubscribed },
    paused_reason: c.paused_reason, started_at: isoTime(c.started_at), finished_at: isoTime(c.finished_at), created_at: isoTime(c.created_at), updated_at: isoTime(c.updated_at),
  };
}

export async function campaignOr404(store: Store, tenantId: string, id: string): Promise<CampaignTable> {
  const c = await getCampaign(store.db, tenantId, id);
  if (!c) throw new ApiProblem('not-found', `no campaign ${id}`);
  return c;
}

type Fields = Partial<z.output<z.ZodObject<typeof fields>>>;

/** Checks what the schema cannot: the tenant's lists, segment and sender domain, templates that compile, the rate cap. */
async function checkFields(store: Store, config: Readonly<Config>, senders: SenderDomains, renderer: TemplateRenderer, tenantId: string, b: Fields): Promise<void> {
  const bad = (pointer: string, detail: string) => new ApiProblem('validation', detail, { errors: [{ in: 'body', pointer, detail }] });
  for (const [i, id] of (b.lists ?? []).entries()) if (!(await getList(store.db, tenantId, id))) throw bad(`/lists/${i}`, `no list ${id}`);
  if (b.segment && !(await getSegment(store.db, tenantId, b.segment))) throw bad('/segment', `no segment ${b.segment}`);
  if (b.from) {
    const domain = b.from.address.slice(b.from.address.lastIndexOf('@') + 1);
    if (!(await senders.owns(tenantId, [domain]))) throw new ApiProblem('unprocessable', `${domain} is not a verified sending domain of this tenant`, { code: 'SENDER_DOMAIN_NOT_ALLOWED', errors: [{ in: 'body', pointer: '/from', detail: 'not a sending domain of this tenant' }] });
  }
  if (b.rate_per_minute !== undefined && b.rate_per_minute > config.campaigns.max_rate_per_minute) throw bad('/rate_per_minute', `at most ${config.campaigns.max_rate_per_minute} (campaigns.max_rate_per_minute)`);
  try {
    renderer.assertValid({ subject: b.subject, html: b.html, text: b.text });
    for (const v of b.ab?.variants ?? []) renderer.assertValid({ subject: v.subject, html: v.html, text: v.text });
  } catch (err) {
    if (err instanceof ComposeError) throw composeProblem(err);
    throw err;
  }
}

function abState(ab: z.output<typeof abSchema>): AbTest {
  return { variants: ab.variants, sample_percent: ab.sample_percent, metric: ab.metric, wait_ms: Math.round(ab.wait_minutes * 60_000), phase: 'sample', sample_size: null, decide_at: null, winner: null };
}

const listQuery = pageQuery.extend({ status: z.enum(CAMPAIGN_STATUSES).optional() });
const tags = ['campaigns'];

export const campaignRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config } = app.postline;
  const senders = new SenderDomains(store, config.domains.require_verified);
  const renderer = new TemplateRenderer();

  app.route({
    method: 'GET', url: '/api/v1/campaigns', config: { scope: 'read' },
    schema: { tags, summary: 'List campaigns', querystring: listQuery, response: { 200: pageOf(campaignSchema) } },
    handler: async (request) => {
      const page = await paginate(request.query, (p) => listCampaignsPage(store.db, tenantIdOf(request), { status: request.query.status }, p), (c) => c.id);
      return { data: page.data.map(campaignJson), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/campaigns', config: { scope: 'manage' }, bodyLimit: CAMPAIGN_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Create a campaign (draft)', description: 'Start it with POST /api/v1/campaigns/{id}/send.', body: createBody, response: { 201: campaignSchema } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const b = request.body;
      await checkFields(store, config, senders, renderer, tenantId, b);
      const now = Date.now();
      const broadcast = b.stream === 'broadcast';
      const c = await store.write((trx) => insertCampaign(trx, {
        id: newPublicId('cmp', now), tenant_id: tenantId, name: b.name, from_address: b.from.address, from_name: b.from.name, reply_to: b.reply_to?.address ?? null,
        subject: b.subject, html: b.html ?? null, text: b.text ?? null, list_ids: JSON.stringify(b.lists), segment_id: b.segment ?? null, stream: b.stream, status: 'draft',
        rate_per_minute: b.rate_per_minute ?? config.campaigns.default_rate_per_minute, send_at: b.send_at ? Date.parse(b.send_at) : null,
        send_window: b.send_window ? JSON.stringify(b.send_window) : null,
        // On by default for broadcast, off for transactional unless asked.
        track_opens: (b.track_opens ?? (broadcast && config.campaigns.track_opens)) ? 1 : 0,
        track_clicks: (b.track_clicks ?? (broadcast && config.campaigns.track_clicks)) ? 1 : 0,
        ab: b.ab ? JSON.stringify(abState(b.ab)) : null, created_at: now, updated_at: now,
      }));
      return reply.code(201).send(campaignJson(c));
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/campaigns/:id', config: { scope: 'read' },
    schema: { tags, summary: 'Get a campaign with its counts', params: idParams, response: { 200: campaignSchema } },
    handler: async (request) => campaignJson(await campaignOr404(store, tenantIdOf(request), request.params.id)),
  });

  app.route({
    method: 'PATCH', url: '/api/v1/campaigns/:id', config: { scope: 'manage' }, bodyLimit: CAMPAIGN_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Change a draft', description: '409 once the campaign was sent or scheduled.', params: idParams, body: updateBody, response: { 200: campaignSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      await campaignOr404(store, tenantId, request.params.id);
      const b = request.body;
      await checkFields(store, config, senders, renderer, tenantId, b);
      const set: Partial<CampaignTable> = { updated_at: Date.now() };
      if (b.name !== undefined) set.name = b.name;
      if (b.from !== undefined) Object.assign(set, { from_address: b.from.address, from_name: b.from.name });
      if (b.reply_to !== undefined) set.reply_to = b.reply_to?.address ?? null;
      if (b.subject !== undefined) set.subject = b.subject;
      if (b.html !== undefined) set.html = b.html;
      if (b.text !== undefined) set.text = b.text;
      if (b.lists !== undefined) set.list_ids = JSON.stringify(b.lists);
      if (b.segment !== undefined) set.segment_id = b.segment;
      if (b.stream !== undefined) set.stream = b.stream;
      if (b.rate_per_minute !== undefined) set.rate_per_minute = b.rate_per_minute;
      if (b.send_at !== undefined) set.send_at = b.send_at ? Date.parse(b.send_at) : null;
      if (b.send_window !== undefined) set.send_window = b.send_window ? JSON.stringify(b.send_window) : null;
      if (b.track_opens !== undefined) set.track_opens = b.track_opens ? 1 : 0;
      if (b.track_clicks !== undefined) set.track_clicks = b.track_clicks ? 1 : 0;
      if (b.ab !== undefined) set.ab = b.ab ? JSON.stringify(abState(b.ab)) : null;
      const c = await store.write((trx) => updateCampaignIf(trx, tenantId, request.params.id, ['draft'], set));
      if (!c) throw new ApiProblem('conflict', 'only a draft can be changed', { code: 'CAMPAIGN_NOT_DRAFT' });
      return campaignJson(c);
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/campaigns/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Delete a draft or finished campaign', description: '409 CAMPAIGN_ACTIVE while it is scheduled, sending or paused (cancel it first); 409 CAMPAIGN_MESSAGES_QUEUED while any of its messages waits in the queue.', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const c = await campaignOr404(store, tenantId, request.params.id);
      // Read outside the write: a sent or cancelled campaign makes no new messages, and its
      // waiting ones only ever leave the queue.
      const waiting = c.status === 'sent' || c.status === 'cancelled' ? await campaignWaitingMessages(store.db, c.id, 10) : [];
      if (waiting.length > 0) {
        throw new ApiProblem('conflict', `${waiting.length < 10 ? waiting.length : 'at least 10'} of this campaign's messages are still in the queue (${waiting.join(', ')}), and they are made from the campaign when sent: `
          + `delete it once they are delivered, bounced or expired (queue.max_lifetime at most), or cancel each with DELETE /api/v1/messages/{id} first`, { code: 'CAMPAIGN_MESSAGES_QUEUED', extensions: { message_ids: waiting } });
      }
      if (!(await store.write((trx) => deleteCampaign(trx, tenantId, request.params.id, ['draft', 'sent', 'cancelled'])))) {
        throw new ApiProblem('conflict', 'cancel the campaign before deleting it', { code: 'CAMPAIGN_ACTIVE' });
      }
      return reply.code(204).send();
    },
  });
};
