// Overview: the last 24 hours and 30 days from GET /api/v1/stats (charts and totals),
// delivery and bounce rates, queue depth by state, webhook backlog, and warnings: DNS
// records that are missing or wrong, disabled webhooks, a high bounce rate.
import { useMemo } from 'react';
import { api, query, type Page } from '../api.ts';
import { useResource } from '../hooks.ts';
import { formatRate, TIME_ZONE } from '../format.ts';
import type { Domain, Stats, Webhook, WebhookDelivery } from '../types.ts';
import { ErrorBox, Loading } from '../components/page-state.tsx';
import { TimeChart, type ChartSeries } from '../components/time-chart.tsx';
import { Link } from '../components/link.tsx';

const SERIES = [
  { type: 'message.queued', label: 'Sent', color: '#2563eb' },
  { type: 'message.delivered', label: 'Delivered', color: '#15803d' },
  { type: 'message.deferred', label: 'Deferred', color: '#ca8a04' },
  { type: 'message.bounced', label: 'Bounced', color: '#dc2626' },
  { type: 'message.complained', label: 'Complained', color: '#7c3aed' },
] as const;

/** A bounce rate above this is a warning (mailbox providers start to throttle around 2-5 %). */
const HIGH_BOUNCE_RATE = 0.05;

function chartOf(stats: Stats): { times: number[]; series: ChartSeries[] } {
  return {
    times: stats.buckets.map((b) => Date.parse(b.start)),
    series: SERIES.map((s) => ({ label: s.label, color: s.color, values: stats.buckets.map((b) => b.counts[s.type] ?? 0) })),
  };
}

function Totals({ stats, caption }: { stats: Stats; caption: string }) {
  return (
    <table className="totals">
      <caption>{caption}</caption>
      <tbody>
        {SERIES.map((s) => <tr key={s.type}><th scope="row">{s.label}</th><td>{stats.totals[s.type] ?? 0}</td></tr>)}
        <tr><th scope="row">Delivery rate</th><td>{formatRate(stats.delivery_rate)}</td></tr>
        <tr><th scope="row">Bounce rate</th><td>{formatRate(stats.bounce_rate)}</td></tr>
      </tbody>
    </table>
  );
}

interface OverviewData {
  day: Stats;
  month: Stats;
  queue: { queued: number; deferred: number; inflight: number; scheduled: number };
  domains: Domain[];
  webhooks: Array<Webhook & { pending: number }>;
}

async function load(signal: AbortSignal): Promise<OverviewData> {
  const now = Date.now();
  const [day, month, queue, domains, webhooks] = await Promise.all([
    api<Stats>('GET', `/api/v1/stats${query({ interval: 'hour' })}`, undefined, { signal }),
    api<Stats>('GET', `/api/v1/stats${query({ interval: 'day', from: new Date(now - 29 * 86_400_000).toISOString() })}`, undefined, { signal }),
    api<OverviewData['queue']>('GET', '/api/v1/queue/counts', undefined, { signal }),
    api<Page<Domain>>('GET', '/api/v1/domains?limit=100', undefined, { signal }),
    api<Page<Webhook>>('GET', '/api/v1/webhooks?limit=100', undefined, { signal }),
  ]);
  // The backlog per endpoint: pending deliveries, counted up to one page.
  const pending = await Promise.all(webhooks.data.map((w) => api<Page<WebhookDelivery>>('GET', `/api/v1/webhooks/${w.id}/deliveries?status=pending&limit=100`, undefined, { signal })));
  return { day, month, queue, domains: domains.data, webhooks: webhooks.data.map((w, i) => ({ ...w, pending: pending[i].data.length })) };
}

function warningsOf(d: OverviewData): Array<{ text: string; to: string }> {
  const out: Array<{ text: string; to: string }> = [];
  for (const dom of d.domains) {
    const bad = dom.records.filter((r) => r.status === 'missing' || r.status === 'wrong');
    if (bad.length > 0) out.push({ text: `${dom.name}: ${bad.length} DNS record${bad.length > 1 ? 's' : ''} ${bad.map((r) => `${r.purpose} ${r.status}`).join(', ')}`, to: '/domains' });
    else if (!dom.verified) out.push({ text: `${dom.name} is not verified yet: publish its records and verify`, to: '/domains' });
  }
  for (const w of d.webhooks) if (!w.enabled) out.push({ text: `Webhook ${w.url} is disabled (${w.disabled_reason ?? 'manual'})`, to: `/webhooks/${w.id}` });
  if ((d.day.bounce_rate ?? 0) > HIGH_BOUNCE_RATE) out.push({ text: `High bounce rate in the last 24 hours: ${formatRate(d.day.bounce_rate)}`, to: '/messages?status=bounced' });
  else if ((d.month.bounce_rate ?? 0) > HIGH_BOUNCE_RATE) out.push({ text: `High bounce rate over 30 days: ${formatRate(d.month.bounce_rate)}`, to: '/messages?status=bounced' });
  return out;
}

export function Overview() {
  const res = useResource(load, 'overview');
  const charts = useMemo(() => res.data ? { day: chartOf(res.data.day), month: chartOf(res.data.month) } : null, [res.data]);
  if (res.error) return <section><h1>Overview</h1><ErrorBox error={res.error} retry={res.reload} /></section>;
  if (!res.data || !charts) return <section><h1>Overview</h1><Loading what="statistics" /></section>;
  const d = res.data;
  const warnings = warningsOf(d);
  const backlog = d.webhooks.reduce((n, w) => n + w.pending, 0);
  return (
    <section>
      <h1>Overview</h1>
      <section aria-labelledby="warnings-h" className="card">
        <h2 id="warnings-h">Warnings</h2>
        {warnings.length === 0 ? <p className="muted">No warnings: DNS records, webhooks and bounce rates look fine.</p> : (
          <ul className="warnings">{warnings.map((w) => <li key={w.text}><Link to={w.to}>{w.text}</Link></li>)}</ul>
        )}
      </section>
      <div className="grid">
        <section aria-labelledby="queue-h" className="card">
          <h2 id="queue-h">Queue</h2>
          <table className="totals">
            <tbody>
              <tr><th scope="row">Queued</th><td>{d.queue.queued}{d.queue.scheduled ? ` (${d.queue.scheduled} scheduled)` : ''}</td></tr>
              <tr><th scope="row">Deferred</th><td>{d.queue.deferred}</td></tr>
              <tr><th scope="row">In flight</th><td>{d.queue.inflight}</td></tr>
              <tr><th scope="row">Webhook backlog</th><td>{backlog}{d.webhooks.some((w) => w.pending >= 100) ? '+' : ''} pending</td></tr>
            </tbody>
          </table>
          <p><Link to="/queue">Open the queue</Link></p>
        </section>
        <section className="card"><Totals stats={d.day} caption="Last 24 hours" /></section>
        <section className="card"><Totals stats={d.month} caption="Last 30 days" /></section>
      </div>
      {d.day.totals['message.queued'] === undefined && d.month.totals['message.queued'] === undefined ? (
        <p className="empty">Nothing sent yet. Add a <Link to="/domains">domain</Link>, create an <Link to="/keys">API key</Link>, then send with <code>POST /api/v1/messages</code>.</p>
      ) : null}
      <TimeChart title={`Last 24 hours, per hour (${TIME_ZONE})`} times={charts.day.times} series={charts.day.series} />
      <TimeChart title={`Last 30 days, per UTC day (axis in ${TIME_ZONE})`} times={charts.month.times} series={charts.month.series} />
    </section>
  );
}
