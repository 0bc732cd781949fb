// Prometheus metrics at /metrics, text exposition format 0.0.4, without authentication (like
// /healthz: aggregate numbers only, no tenant names; keep http.listen on a private interface
// or filter /metrics at the proxy). Gauges are read from the store at scrape time, each an
// index range; counters of events are kept by reading new events in id ranges, so a scrape
// never scans the whole events table. The API latency histogram is fed by an onResponse
// hook on the root instance (this plugin is not encapsulated: fastify-plugin's
// skip-override, so its hook sees every route).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  WEBHOOK_CURSOR_SETTING, deliveryCounts, eventCountsInRange, getSetting, maxEventId, openRecipientCounts,
} from '../../store/index.ts';

export const METRICS_PATH = '/metrics';
/** Seconds; Prometheus client defaults, trimmed at the fast end for an API answering in ms. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Events counted per scrape at most, so the first scrape of a large store stays short. */
const EVENTS_PER_SCRAPE = 100_000;
const DELIVERY_RESULTS = ['delivered', 'deferred', 'bounced', 'expired'] as const;

function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${labelValue(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

class Histogram {
  readonly #series = new Map<string, { labels: Record<string, string>; buckets: number[]; sum: number; count: number }>();

  observe(l: Record<string, string>, seconds: number): void {
    const key = JSON.stringify(l);
    let s = this.#series.get(key);
    if (!s) {
      // Bounded: labels are route templates, methods and status classes, never raw URLs.
      if (this.#series.size >= 2000) return;
      this.#series.set(key, (s = { labels: l, buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 }));
    }
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) s.buckets[i]++;
    s.sum += seconds;
    s.count++;
  }

  render(name: string, out: string[]): void {
    for (const s of this.#series.values()) {
      LATENCY_BUCKETS.forEach((le, i) => out.push(`${name}_bucket${labels({ ...s.labels, le: String(le) })} ${s.buckets[i]}`));
      out.push(`${name}_bucket${labels({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${name}_sum${labels(s.labels)} ${s.sum}`);
      out.push(`${name}_count${labels(s.labels)} ${s.count}`);
    }
  }
}

const plugin: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  const latency = new Histogram();
  const events = { cursor: 0, counts: new Map<string, number>() };
  const startedAt = Date.now();

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    latency.observe({ method: request.method, route, status: `${Math.floor(reply.statusCode / 100)}xx` }, reply.elapsedTime / 1000);
  });

  async function countNewEvents(): Promise<number> {
    const max = await maxEventId(store.db);
    const upTo = Math.min(max, events.cursor + EVENTS_PER_SCRAPE);
    if (upTo > events.cursor) {
      for (const { type, n } of await eventCountsInRange(store.db, events.cursor, upTo)) events.counts.set(type, (events.counts.get(type) ?? 0) + n);
      events.cursor = upTo;
    }
    return max;
  }

  app.route({
    method: 'GET', url: METRICS_PATH,
    // Not in the OpenAPI document: it is Prometheus's text format, not part of the JSON API (docs/api.md describes it).
    schema: { hide: true },
    handler: async (_request, reply) => {
      const maxId = await countNewEvents();
      const open = await openRecipientCounts(store.db);
      const backlog = await deliveryCounts(store.db);
      const fanoutCursor = Number((await getSetting(store.db, WEBHOOK_CURSOR_SETTING)) ?? maxId);
      const out: string[] = [];
      const metric = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

      metric('postline_queue_recipients', 'gauge', 'Recipients waiting or in flight, by state.');
      for (const [state, n] of Object.entries(open)) out.push(`postline_queue_recipients${labels({ state })} ${n}`);

      metric('postline_deliveries_total', 'counter', 'Delivery outcomes per recipient, from message events.');
      for (const result of DELIVERY_RESULTS) out.push(`postline_deliveries_total${labels({ result })} ${events.counts.get(`message.${result}`) ?? 0}`);

      metric('postline_events_total', 'counter', 'Events recorded, by type.');
      for (const [type, n] of [...events.counts].sort()) out.push(`postline_events_total${labels({ type })} ${n}`);

      metric('postline_webhook_deliveries_pending', 'gauge', 'Webhook deliveries not yet succeeded or given up.');
      out.push(`postline_webhook_deliveries_pending ${backlog.pending}`);
      metric('postline_webhook_deliveries_due', 'gauge', 'Pending webhook deliveries whose time has come (a growing number means the dispatcher lags).');
      out.push(`postline_webhook_deliveries_due ${backlog.due}`);
      metric('postline_webhook_events_unprocessed', 'gauge', 'Events the webhook dispatcher has not fanned out yet.');
      out.push(`postline_webhook_events_unprocessed ${Math.max(0, maxId - fanoutCursor)}`);

      metric('postline_http_request_duration_seconds', 'histogram', 'API request latency, by method, route and status class.');
      latency.render('postline_http_request_duration_seconds', out);

      metric('postline_process_resident_memory_bytes', 'gauge', 'Resident set size.');
      out.push(`postline_process_resident_memory_bytes ${process.memoryUsage.rss()}`);
      metric('postline_process_uptime_seconds', 'gauge', 'Seconds since the API started.');
      out.push(`postline_process_uptime_seconds ${Math.round((Date.now() - startedAt) / 1000)}`);

      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(`${out.join('\n')}\n`);
    },
  });
};

// fastify-plugin's marker: register in the parent's context, so the onResponse hook is global.
export const metricsRoutes: FastifyPluginAsyncZod = Object.assign(plugin, { [Symbol.for('skip-override')]: true });
