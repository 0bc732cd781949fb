// The event feed: a tenant's events in commit order, filtered by type, message and time,
// paged with a cursor that is the last event's position. Polling with the last next_cursor
// (or, on the last page, the cursor of the last event seen) reads every event once.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { listEventsPage, type EventRow } from '../../store/index.ts';
import { EVENT_TYPES } from '../../events/index.ts';
import { tenantIdOf } from '../auth.ts';
import { fieldProblem } from '../problem.ts';
import { encodeCursor, pageOf, pageQuery, paginate } from '../pagination.ts';
import { isoTime, timestamp } from '../schemas.ts';

export const eventSchema = z.object({
  id: z.string().describe('Stable event id, evt_…: the webhook-id of its webhook deliveries'),
  type: z.string().describe('See docs/events.md'),
  created_at: timestamp,
  message_id: z.string().nullable(),
  recipient_id: z.number().int().nullable().describe('For per-recipient events'),
  data: z.record(z.string(), z.unknown()),
  cursor: z.string().describe('Pass as ?cursor= to read the events after this one'),
}).meta({ id: 'Event' });

export function eventJson(e: EventRow): z.output<typeof eventSchema> {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(e.payload) as Record<string, unknown>;
  } catch {
    data = {};
  }
  return {
    id: e.uid, type: e.type, created_at: isoTime(e.created_at), message_id: e.message_id,
    recipient_id: e.recipient_id === null ? null : Number(e.recipient_id), data, cursor: encodeCursor(Number(e.id)),
  };
}

/** `type=a,b` or `type=a&type=b`. */
const typeList = z.union([z.string(), z.array(z.string())]).transform((v, ctx) => {
  const types = (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  for (const t of types) {
    if (!(EVENT_TYPES as readonly string[]).includes(t)) {
      ctx.addIssue({ code: 'custom', message: `unknown event type "${t}" (one of ${EVENT_TYPES.join(', ')})` });
      return z.NEVER;
    }
  }
  return types;
});

const eventsQuery = pageQuery.extend({
  type: typeList.optional().describe('Event types, comma-separated or repeated'),
  message_id: z.string().min(1).max(200).optional(),
  since: z.iso.datetime({ offset: true }).optional().describe('Events at or after this time (RFC 3339)'),
  until: z.iso.datetime({ offset: true }).optional().describe('Events before this time (RFC 3339)'),
});

export const eventRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'GET', url: '/api/v1/events', config: { scope: 'read' },
    schema: {
      tags: ['events'], summary: 'List events, oldest first',
      description: 'Each event carries its own cursor; next_cursor continues after the last one of the page.',
      querystring: eventsQuery, response: { 200: pageOf(eventSchema) },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const q = request.query;
      let afterId: number | undefined;
      if (q.cursor !== undefined) {
        if (!/^\d{1,15}$/.test(q.cursor)) throw fieldProblem('query', ['cursor'], 'invalid cursor: pass back the next_cursor of a previous page');
        afterId = Number(q.cursor);
      }
      const filter = {
        types: q.type, messageId: q.message_id,
        since: q.since === undefined ? undefined : Date.parse(q.since), until: q.until === undefined ? undefined : Date.parse(q.until),
      };
      const page = await paginate({ limit: q.limit }, (p) => listEventsPage(store.db, tenantId, filter, { afterId, limit: p.limit }), (e) => Number(e.id));
      return { data: page.data.map(eventJson), next_cursor: page.next_cursor };
    },
  });
};
