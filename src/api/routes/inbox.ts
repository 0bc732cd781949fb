// The capture inbox: the tenant's mail kept by capture mode (a sandbox tenant, or
// delivery.mode: capture) instead of being sent, newest first, with a substring search;
// and "delete all". Read a message with GET /api/v1/messages/{id} (/content, /raw).
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { deleteCaptured, listCapturedPage } from '../../store/index.ts';
import { tenantIdOf } from '../auth.ts';
import { audit } from '../audit.ts';
import { pageOf, pageQuery, encodeCursor } from '../pagination.ts';
import { isoTime, timestamp } from '../schemas.ts';

/** Messages one DELETE removes at most (one short transaction); `more` says to call again. */
export const INBOX_DELETE_LIMIT = 2000;

const capturedSchema = z.object({
  id: z.string().describe('The message id (GET /api/v1/messages/{id})'),
  mail_from: z.string(),
  from: z.string().nullable().describe('The From: header'),
  subject: z.string().nullable(),
  to: z.array(z.string()).describe('The captured recipients'),
  size: z.number().int(),
  created_at: timestamp,
  body_available: z.boolean(),
}).meta({ id: 'CapturedMessage' });

const tags = ['inbox'];

export const inboxRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;

  app.route({
    method: 'GET', url: '/api/v1/inbox', config: { scope: 'read' },
    schema: {
      tags, summary: 'Captured messages (sandbox inbox), newest first',
      description: 'Mail that capture mode kept instead of sending. `q` matches part of the subject, From, envelope sender or a recipient.',
      querystring: pageQuery.extend({ q: z.string().max(200).optional() }),
      response: { 200: pageOf(capturedSchema) },
    },
    handler: async (request) => {
      const q = request.query;
      const rows = await listCapturedPage(store.db, tenantIdOf(request), { q: q.q?.trim() }, { afterId: q.cursor, limit: q.limit + 1 });
      const more = rows.length > q.limit;
      const data = rows.slice(0, q.limit);
      return {
        data: data.map((m) => ({
          id: m.id, mail_from: m.mail_from, from: m.from_header, subject: m.subject, to: m.recipients ? m.recipients.split(',') : [],
          size: m.size, created_at: isoTime(m.created_at), body_available: m.has_body === 1,
        })),
        next_cursor: more ? encodeCursor(data[data.length - 1].id) : null,
      };
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/inbox', config: { scope: 'manage' },
    schema: {
      tags, summary: 'Delete every captured message',
      description: `Removes captured messages with their recipients, attempts and events (statistics keep their counts). At most ${INBOX_DELETE_LIMIT} per request.`,
      response: { 200: z.object({ deleted: z.number().int(), more: z.boolean().describe('More remain: call again') }) },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const r = await store.write(async (trx) => {
        const done = await deleteCaptured(trx, tenantId, INBOX_DELETE_LIMIT);
        if (done.deleted > 0) await audit(trx, request, 'inbox.cleared', { tenantId, id: null }, { messages: done.deleted });
        return done;
      });
      for (const path of r.bodyPaths) await store.spool.remove(path).catch((err: unknown) => app.postline.log.warn({ err, path }, 'could not remove the spooled body of a deleted message'));
      return { deleted: r.deleted, more: r.more };
    },
  });
};
