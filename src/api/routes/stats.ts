// Counts of a tenant's events per type over time, in UTC hour or day buckets, with the
// delivery and bounce rates: of the recipients that reached an outcome in a bucket
// (delivered, bounced or expired), the share delivered and the share bounced. Counts come
// from the hourly rollup the webhook fan-out keeps (a few rows per hour, never a scan of
// events), plus the events it has not reached yet; so they outlive the events' retention.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { WEBHOOK_CURSOR_SETTING, eventCountsByHour, getSetting } from '../../store/index.ts';
import { tenantIdOf } from '../auth.ts';
import { fieldProblem } from '../problem.ts';
import { timestamp } from '../schemas.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** At most this many buckets per request (31 days of hours, about a year of days). */
export const MAX_STAT_BUCKETS = 744;

const statsQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional().describe('Start (RFC 3339), rounded down to the bucket; default: 24 buckets before `to`'),
  to: z.iso.datetime({ offset: true }).optional().describe('End, exclusive (RFC 3339); default: now'),
  interval: z.enum(['hour', 'day']).default('day'),
});

const counts = z.record(z.string(), z.number().int()).describe('Events per type');
const rate = z.number().min(0).max(1).nullable().describe('null when no recipient reached an outcome');

const bucketSchema = z.object({ start: timestamp, counts, delivery_rate: rate, bounce_rate: rate });

const statsSchema = z.object({
  from: timestamp,
  to: timestamp,
  interval: z.enum(['hour', 'day']),
  totals: counts,
  delivery_rate: rate.describe('delivered ÷ (delivered + bounced + expired)'),
  bounce_rate: rate.describe('bounced ÷ (delivered + bounced + expired)'),
  buckets: z.array(bucketSchema).describe('Every bucket of the range, oldest first, empty ones included'),
}).meta({ id: 'Stats' });

function rates(c: Record<string, number>): { delivery_rate: number | null; bounce_rate: number | null } {
  const delivered = c['message.delivered'] ?? 0;
  const bounced = c['message.bounced'] ?? 0;
  const outcomes = delivered + bounced + (c['message.expired'] ?? 0);
  if (outcomes === 0) return { delivery_rate: null, bounce_rate: null };
  return { delivery_rate: delivered / outcomes, bounce_rate: bounced / outcomes };
}

export const statsRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'GET', url: '/api/v1/stats', config: { scope: 'read' },
    schema: { tags: ['events'], summary: 'Event counts per hour or day, delivery and bounce rates', querystring: statsQuery, response: { 200: statsSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const q = request.query;
      const size = q.interval === 'hour' ? HOUR_MS : DAY_MS;
      const to = q.to === undefined ? Date.now() : Date.parse(q.to);
      const from = Math.floor((q.from === undefined ? to - 24 * size : Date.parse(q.from)) / size) * size;
      if (from >= to) throw fieldProblem('query', ['from'], 'from must be before to');
      if ((to - from) / size > MAX_STAT_BUCKETS) throw fieldProblem('query', ['from'], `at most ${MAX_STAT_BUCKETS} ${q.interval}s per request`);
      const counted = Number((await getSetting(store.db, WEBHOOK_CURSOR_SETTING)) ?? 0);
      const rows = (await eventCountsByHour(store.db, tenantId, from, to, counted)).map((r) => ({ bucket: r.hour - (r.hour % size), type: r.type, n: r.n }));
      const buckets = new Map<number, Record<string, number>>();
      for (let t = from; t < to; t += size) buckets.set(t, {});
      const totals: Record<string, number> = {};
      for (const r of rows) {
        const c = buckets.get(r.bucket);
        if (c) c[r.type] = (c[r.type] ?? 0) + r.n;
        totals[r.type] = (totals[r.type] ?? 0) + r.n;
      }
      return {
        from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval: q.interval, totals, ...rates(totals),
        buckets: [...buckets].map(([start, c]) => ({ start: new Date(start).toISOString(), counts: c, ...rates(c) })),
      };
    },
  });
};
