// Webhook endpoints of a tenant: CRUD, the log of deliveries and their calls, replay of one
// delivery or of every failed one since a time, and a test ping. POST answers the signing
// secret once. URLs go through the SSRF guard (events/url-guard.ts) when saved; the
// dispatcher checks the address again on every call.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Config } from '../../config/index.ts';
import {
  deleteWebhook, getDelivery, getWebhook, insertDeliveries, insertWebhook, listAttemptsFor, listDeliveriesPage, listWebhooksPage,
  newPublicId, replayDelivery, replayFailedSince, updateWebhook,
  type Store, type WebhookAttemptRow, type WebhookDeliveryTable, type WebhookTable,
} from '../../store/index.ts';
import {
  EVENT_TYPES, WebhookUrlError, assertWebhookUrlAllowed, newWebhookSecret, parseWebhookUrl, webhookBody, MAX_WEBHOOK_URL_LENGTH,
} from '../../events/index.ts';
import { tenantIdOf } from '../auth.ts';
import { audit } from '../audit.ts';
import { sealWebhookSecret, secretKeyOf } from '../../security/index.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, displayName, idParams, isoTime, noContent, timestamp } from '../schemas.ts';

const eventFilter = z.array(z.enum(EVENT_TYPES)).max(EVENT_TYPES.length).transform((t) => [...new Set(t)])
  .describe('Event types to send; [] (the default) sends every type');
const url = z.string().min(1).max(MAX_WEBHOOK_URL_LENGTH).describe('http or https; must resolve to public addresses unless webhooks.allow_private');

const createBody = z.strictObject({
  url,
  events: eventFilter.default([]),
  enabled: z.boolean().default(true),
  description: displayName.nullable().optional(),
});

const patchBody = z.strictObject({
  url: url.optional(),
  events: eventFilter.optional(),
  enabled: z.boolean().optional().describe('true re-enables an endpoint that was disabled (by hand, 410 Gone or failing too long)'),
  description: displayName.nullable().optional(),
});

export const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  events: z.array(z.string()).describe('[] means every type'),
  enabled: z.boolean(),
  disabled_reason: z.enum(['manual', 'gone', 'failing']).nullable().describe('gone: answered 410; failing: every call failed for webhooks.disable_after'),
  disabled_at: timestamp.nullable(),
  failing_since: timestamp.nullable().describe('First failed call since the last success'),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'Webhook' });

const createdSchema = webhookSchema.extend({
  secret: z.string().describe('whsec_…: the Standard Webhooks signing secret, shown only in this response'),
}).meta({ id: 'CreatedWebhook' });

const callSchema = z.object({
  started_at: timestamp,
  duration_ms: z.number().int(),
  status_code: z.number().int().nullable().describe('null when no HTTP answer arrived'),
  error: z.string().nullable().describe('Why no answer arrived: WEBHOOK_TIMEOUT, WEBHOOK_CONNECTION_REFUSED, WEBHOOK_URL_PRIVATE, …'),
  response_excerpt: z.string().nullable().describe('The first KB of the response body, or the error'),
  outcome: z.enum(['succeeded', 'failed']),
});

const deliverySchema = z.object({
  id: z.string(),
  webhook_id: z.string(),
  event_id: z.string().describe('The webhook-id header'),
  event_type: z.string(),
  message_id: z.string().nullable(),
  status: z.enum(['pending', 'succeeded', 'failed']).describe('failed: the retry schedule ran out, or the endpoint was disabled'),
  attempt_count: z.number().int(),
  next_attempt_at: timestamp.nullable().describe('While pending'),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
  attempts: z.array(callSchema).describe('Every call, oldest first (the latest 50)'),
}).meta({ id: 'WebhookDelivery' });

const deliveryParams = z.object({ id: z.string().min(1).max(200), deliveryId: z.string().min(1).max(200) });
const deliveriesQuery = pageQuery.extend({ status: z.enum(['pending', 'succeeded', 'failed']).optional() });

export function webhookJson(w: WebhookTable): z.output<typeof webhookSchema> {
  return {
    id: w.id, url: w.url, description: w.description, events: JSON.parse(w.events) as string[], enabled: w.enabled === 1,
    disabled_reason: w.disabled_reason as 'manual' | 'gone' | 'failing' | null, disabled_at: isoTime(w.disabled_at),
    failing_since: isoTime(w.failing_since), created_at: isoTime(w.created_at), updated_at: isoTime(w.updated_at),
  };
}

function deliveryJson(d: WebhookDeliveryTable, calls: readonly WebhookAttemptRow[]): z.output<typeof deliverySchema> {
  return {
    id: d.id, webhook_id: d.webhook_id, event_id: d.event_uid, event_type: d.event_type, message_id: d.message_id, status: d.status,
    attempt_count: Number(d.attempts), next_attempt_at: d.status === 'pending' ? isoTime(d.next_attempt_at) : null,
    last_status: d.last_status, last_error: d.last_error, created_at: isoTime(d.created_at), updated_at: isoTime(d.updated_at),
    attempts: calls.map((c) => ({
      started_at: isoTime(c.started_at), duration_ms: Number(c.duration_ms), status_code: c.status_code, error: c.error,
      response_excerpt: c.response_excerpt, outcome: c.outcome,
    })),
  };
}

/** The URL as saved, or a problem pointing at /url: 400 when malformed, 422 when it resolves to a refused address. */
async function checkedUrl(config: Readonly<Config>, text: string): Promise<string> {
  try {
    const parsed = parseWebhookUrl(text);
    await assertWebhookUrlAllowed(parsed, { allowPrivate: config.webhooks.allow_private });
    return parsed.href;
  } catch (err) {
    if (!(err instanceof WebhookUrlError)) throw err;
    const type = err.code === 'WEBHOOK_URL_INVALID' ? 'validation' : 'unprocessable';
    throw new ApiProblem(type, err.message, { code: err.code, errors: [{ in: 'body', pointer: '/url', detail: err.message }] });
  }
}

async function webhookOr404(store: Store, tenantId: string, id: string): Promise<WebhookTable> {
  const w = await getWebhook(store.db, tenantId, id);
  if (!w) throw new ApiProblem('not-found', `no webhook ${id}`);
  return w;
}

function assertEnabled(w: WebhookTable): void {
  if (w.enabled !== 1) throw new ApiProblem('conflict', `webhook ${w.id} is disabled; enable it (PATCH {"enabled": true}) first`, { code: 'WEBHOOK_DISABLED' });
}

const tags = ['webhooks'];

export const webhookRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config } = app.postline;

  app.route({
    method: 'POST', url: '/api/v1/webhooks', config: { scope: 'manage' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Create a webhook endpoint', description: 'Answers the signing secret, once.', body: createBody, response: { 201: createdSchema } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const href = await checkedUrl(config, request.body.url);
      const now = Date.now();
      const id = newPublicId('whk', now);
      const secret = newWebhookSecret();
      // Stored encrypted (SECURITY.md, Secrets); the plaintext is answered once, here.
      const sealed = sealWebhookSecret(await secretKeyOf(config), id, secret);
      const row: WebhookTable = {
        id, tenant_id: tenantId, url: href, description: request.body.description ?? null,
        events: JSON.stringify(request.body.events), secret: sealed, enabled: request.body.enabled ? 1 : 0,
        disabled_reason: request.body.enabled ? null : 'manual', disabled_at: request.body.enabled ? null : now, failing_since: null,
        created_at: now, updated_at: now,
      };
      await store.write(async (trx) => {
        await insertWebhook(trx, row);
        await audit(trx, request, 'webhook.created', { tenantId, id }, { url: href, events: request.body.events, enabled: request.body.enabled });
      });
      return reply.code(201).send({ ...webhookJson(row), secret });
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/webhooks', config: { scope: 'read' },
    schema: { tags, summary: 'List webhook endpoints', querystring: pageQuery, response: { 200: pageOf(webhookSchema) } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const page = await paginate(request.query, (p) => listWebhooksPage(store.db, tenantId, p), (w) => w.id);
      return { data: page.data.map(webhookJson), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/webhooks/:id', config: { scope: 'read' },
    schema: { tags, summary: 'Get a webhook endpoint', params: idParams, response: { 200: webhookSchema } },
    handler: async (request) => webhookJson(await webhookOr404(store, tenantIdOf(request), request.params.id)),
  });

  app.route({
    method: 'PATCH', url: '/api/v1/webhooks/:id', config: { scope: 'manage' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Change a webhook endpoint', params: idParams, body: patchBody, response: { 200: webhookSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      await webhookOr404(store, tenantId, request.params.id);
      const change = { ...request.body, url: request.body.url === undefined ? undefined : await checkedUrl(config, request.body.url) };
      const updated = await store.write(async (trx) => {
        const w = await updateWebhook(trx, tenantId, request.params.id, change);
        if (w) await audit(trx, request, 'webhook.updated', { tenantId, id: w.id }, { ...change });
        return w;
      });
      if (!updated) throw new ApiProblem('not-found', `no webhook ${request.params.id}`);
      return webhookJson(updated);
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/webhooks/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Delete a webhook endpoint and its delivery log', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const deleted = await store.write(async (trx) => {
        const done = await deleteWebhook(trx, tenantId, request.params.id);
        if (done) await audit(trx, request, 'webhook.deleted', { tenantId, id: request.params.id });
        return done;
      });
      if (!deleted) throw new ApiProblem('not-found', `no webhook ${request.params.id}`);
      return reply.code(204).send();
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/webhooks/:id/deliveries', config: { scope: 'read' },
    schema: {
      tags, summary: "List an endpoint's deliveries with every call",
      description: 'Oldest first. Each call records the HTTP status, latency and the first KB of the answer.',
      params: idParams, querystring: deliveriesQuery, response: { 200: pageOf(deliverySchema) },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const w = await webhookOr404(store, tenantId, request.params.id);
      const page = await paginate(request.query, (p) => listDeliveriesPage(store.db, tenantId, w.id, { ...p, status: request.query.status }), (d) => d.id);
      const calls = await listAttemptsFor(store.db, page.data.map((d) => d.id));
      return { data: page.data.map((d) => deliveryJson(d, calls.get(d.id) ?? [])), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/webhooks/:id/deliveries/:deliveryId/replay', config: { scope: 'manage' },
    schema: {
      tags, summary: 'Send one delivery again',
      description: 'Sends now, with a fresh retry schedule. 409 while it is still pending or the endpoint is disabled.',
      params: deliveryParams, response: { 202: deliverySchema },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const w = await webhookOr404(store, tenantId, request.params.id);
      const d = await getDelivery(store.db, tenantId, w.id, request.params.deliveryId);
      if (!d) throw new ApiProblem('not-found', `no delivery ${request.params.deliveryId} of webhook ${w.id}`);
      assertEnabled(w);
      if (!(await store.write((trx) => replayDelivery(trx, d.id)))) {
        throw new ApiProblem('conflict', `delivery ${d.id} is still pending`, { code: 'WEBHOOK_DELIVERY_PENDING' });
      }
      const replayed = (await getDelivery(store.db, tenantId, w.id, d.id))!;
      return reply.code(202).send(deliveryJson(replayed, (await listAttemptsFor(store.db, [d.id])).get(d.id) ?? []));
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/webhooks/:id/replay', config: { scope: 'manage' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags, summary: 'Send every failed delivery since a time again',
      params: idParams,
      body: z.strictObject({ since: z.iso.datetime({ offset: true }).describe('Deliveries created at or after this time (RFC 3339)') }),
      response: { 202: z.object({ replayed: z.number().int() }) },
    },
    handler: async (request, reply) => {
      const w = await webhookOr404(store, tenantIdOf(request), request.params.id);
      assertEnabled(w);
      const replayed = await store.write((trx) => replayFailedSince(trx, w.id, Date.parse(request.body.since)));
      return reply.code(202).send({ replayed });
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/webhooks/:id/test', config: { scope: 'manage' },
    schema: {
      tags, summary: 'Send a webhook.test event to this endpoint',
      description: 'Whatever the endpoint\'s event filter; the delivery is logged like any other.',
      params: idParams, response: { 202: deliverySchema },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const w = await webhookOr404(store, tenantId, request.params.id);
      assertEnabled(w);
      const now = Date.now();
      const data = JSON.stringify({ webhook_id: w.id, message: 'A test event from Postline' });
      const row: WebhookDeliveryTable = {
        id: newPublicId('whd', now), webhook_id: w.id, tenant_id: tenantId, event_uid: newPublicId('evt', now), event_id: null,
        event_type: 'webhook.test', message_id: null, payload: webhookBody('webhook.test', now, data), status: 'pending', attempts: 0,
        schedule_start: 0, next_attempt_at: now, last_status: null, last_error: null, created_at: now, updated_at: now,
      };
      await store.write((trx) => insertDeliveries(trx, [row]));
      return reply.code(202).send(deliveryJson(row, []));
    },
  });
};
