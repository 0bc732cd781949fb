// A tenant's queue: open recipients grouped by destination domain with the last error,
// the recipients themselves, and bulk retry-now or cancel of a selection (recipient ids)
// or a filter (domain, status). Bulk actions touch at most BULK_LIMIT recipients per
// request, so one request never holds the store's write lock for long; `more` says
// whether to call again.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  OPEN_STATUSES, bodyPathIfFinal, cancelSelection, listQueueRecipients, queueByDestination, retrySelection, tenantQueueCounts, type QueueSelection,
} from '../../store/index.ts';
import { tenantIdOf } from '../auth.ts';
import { audit } from '../audit.ts';
import { encodeCursor, pageOf, pageQuery, cursorSchema, MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT } from '../pagination.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, isoTime, timestamp } from '../schemas.ts';

/** Recipients one bulk request retries or cancels at most. */
export const BULK_LIMIT = 10_000;

const status = z.enum(OPEN_STATUSES);
const domain = z.string().min(1).max(255).describe('Destination domain (the part after @ of the recipient, in ASCII form)');

const destinationSchema = z.object({
  domain: z.string(),
  queued: z.number().int(),
  deferred: z.number().int(),
  inflight: z.number().int(),
  next_attempt_at: timestamp.nullable().describe('The earliest next attempt of its queued or deferred recipients'),
  oldest_at: timestamp.describe('When its oldest open message was accepted'),
  last_error: z.object({
    code: z.number().int().nullable(), enhanced: z.string().nullable(), response: z.string().nullable(), mx: z.string().nullable(), at: timestamp,
  }).nullable().describe('The latest failure of a deferred recipient of this domain'),
}).meta({ id: 'QueueDestination' });

const queueRecipientSchema = z.object({
  id: z.number().int(),
  message_id: z.string(),
  email: z.string(),
  domain: z.string(),
  status,
  attempts: z.number().int(),
  next_attempt_at: timestamp.nullable(),
  last_code: z.number().int().nullable(),
  last_enhanced: z.string().nullable(),
  last_response: z.string().nullable(),
  last_mx: z.string().nullable(),
  mail_from: z.string(),
  subject: z.string().nullable(),
  created_at: timestamp,
}).meta({ id: 'QueueRecipient' });

const selectionBody = z.strictObject({
  recipient_ids: z.array(z.number().int().positive()).min(1).max(1000).optional().describe('These recipients (a selection)'),
  domain: domain.optional(),
  status: status.optional(),
  all: z.boolean().optional().describe('true: every open recipient of the tenant (required when nothing else narrows the selection)'),
}).refine((b) => b.recipient_ids !== undefined || b.domain !== undefined || b.status !== undefined || b.all === true, {
  message: 'give recipient_ids, a domain or status filter, or all: true', path: ['all'],
});

const bulkResult = (name: 'retried' | 'cancelled') => z.object({
  [name]: z.number().int().describe(`Recipients ${name} by this request`),
  more: z.boolean().describe(`More recipients match: call again (at most ${BULK_LIMIT} per request)`),
});

function selectionOf(b: z.output<typeof selectionBody>): QueueSelection {
  return { recipientIds: b.recipient_ids, domain: b.domain?.toLowerCase(), status: b.status };
}

const tags = ['queue'];

export const queueRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;

  app.route({
    method: 'GET', url: '/api/v1/queue/counts', config: { scope: 'read' },
    schema: {
      tags, summary: 'How many recipients are queued, deferred and in flight',
      response: { 200: z.object({
        queued: z.number().int(), deferred: z.number().int(), inflight: z.number().int(),
        scheduled: z.number().int().describe('Of the queued ones, those waiting for a send_at more than a minute ahead'),
      }) },
    },
    handler: async (request) => tenantQueueCounts(store.db, tenantIdOf(request)),
  });

  app.route({
    method: 'GET', url: '/api/v1/queue/destinations', config: { scope: 'read' },
    schema: {
      tags, summary: 'Open recipients grouped by destination domain, with the last error',
      description: 'Domains in alphabetical order; the cursor is the last domain of the page.',
      querystring: pageQuery.extend({ status: status.optional().describe('Only destinations with recipients in this state') }),
      response: { 200: pageOf(destinationSchema) },
    },
    handler: async (request) => {
      const q = request.query;
      const rows = await queueByDestination(store.db, tenantIdOf(request), { status: q.status, afterDomain: q.cursor, limit: q.limit + 1 });
      const more = rows.length > q.limit;
      const data = rows.slice(0, q.limit);
      return {
        data: data.map((g) => ({
          domain: g.domain, queued: g.queued, deferred: g.deferred, inflight: g.inflight, next_attempt_at: isoTime(g.nextAttemptAt), oldest_at: isoTime(g.oldestAt),
          last_error: g.lastError ? { ...g.lastError, at: isoTime(g.lastError.at) } : null,
        })),
        next_cursor: more ? encodeCursor(data[data.length - 1].domain) : null,
      };
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/queue', config: { scope: 'read' },
    schema: {
      tags, summary: 'Open recipients (queued, deferred, in flight), oldest first',
      querystring: z.object({
        limit: z.coerce.number().int().min(1).max(MAX_PAGE_LIMIT).default(DEFAULT_PAGE_LIMIT),
        cursor: cursorSchema.optional(),
        domain: domain.optional(),
        status: status.optional(),
      }),
      response: { 200: pageOf(queueRecipientSchema) },
    },
    handler: async (request) => {
      const q = request.query;
      const afterId = q.cursor === undefined ? undefined : Number(q.cursor) || 0;
      const rows = await listQueueRecipients(store.db, tenantIdOf(request), { domain: q.domain?.toLowerCase(), status: q.status }, { afterId, limit: q.limit + 1 });
      const more = rows.length > q.limit;
      const data = rows.slice(0, q.limit);
      return {
        data: data.map((r) => ({
          id: r.id, message_id: r.message_id, email: r.rcpt, domain: r.domain, status: r.status as z.output<typeof status>, attempts: r.attempts,
          next_attempt_at: r.status === 'inflight' ? null : isoTime(r.next_attempt_at), last_code: r.last_code, last_enhanced: r.last_enhanced,
          last_response: r.last_response, last_mx: r.last_mx, mail_from: r.mail_from, subject: r.subject, created_at: isoTime(r.created_at),
        })),
        next_cursor: more ? encodeCursor(data[data.length - 1].id) : null,
      };
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/queue/retry', config: { scope: 'send' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags, summary: 'Retry now: make queued or deferred recipients due at once',
      description: `A selection (recipient_ids) or a filter (domain, status), or all. In-flight recipients are already being tried. At most ${BULK_LIMIT} per request.`,
      body: selectionBody, response: { 200: bulkResult('retried') },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const r = await store.write(async (trx) => {
        const done = await retrySelection(trx, tenantId, selectionOf(request.body), BULK_LIMIT);
        if (done.count > 0) await audit(trx, request, 'queue.retried', { tenantId, id: null }, { recipients: done.count, filter: request.body });
        return done;
      });
      return { retried: r.count, more: r.more };
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/queue/cancel', config: { scope: 'send' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags, summary: 'Cancel (delete from the queue) recipients not delivered yet',
      description: `A message.cancelled event each, as DELETE /api/v1/messages/{id} does; one already in an SMTP transaction may still be delivered. At most ${BULK_LIMIT} per request.`,
      body: selectionBody, response: { 200: bulkResult('cancelled') },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const { done, paths } = await store.write(async (trx) => {
        const c = await cancelSelection(trx, tenantId, selectionOf(request.body), BULK_LIMIT);
        if (c.count > 0) await audit(trx, request, 'message.cancelled', { tenantId, id: c.messageIds.length === 1 ? c.messageIds[0] : null }, { recipients: c.count, messages: c.messageIds.length, filter: request.body });
        const bodies: string[] = [];
        for (const id of c.messageIds) {
          const path = await bodyPathIfFinal(trx, id);
          if (path) bodies.push(path);
        }
        return { done: c, paths: bodies };
      });
      for (const path of paths) await store.spool.remove(path).catch((err: unknown) => app.postline.log.warn({ err, path }, 'could not remove the spooled body of a cancelled message'));
      return { cancelled: done.count, more: done.more };
    },
  });
};
