// One campaign: its settings, the report (GET /api/v1/campaigns/{id}/report: sent, delivered,
// bounced hard/soft, complained, unsubscribed, opens and clicks with machine traffic apart),
// opens and clicks per hour, clicks per link, and the actions of its state (send a draft,
// pause, resume, cancel). The page refreshes itself while the campaign is sending.
import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api.ts';
import { useResource } from '../hooks.ts';
import { formatRate, formatTime, TIME_ZONE } from '../format.ts';
import { useCan } from '../session.ts';
import type { Campaign, CampaignReport } from '../types.ts';
import { ErrorBox, Loading, errorText } from '../components/page-state.tsx';
import { StatusBadge } from '../components/status-badges.tsx';
import { TimeChart, type ChartSeries } from '../components/time-chart.tsx';
import { Link } from '../components/link.tsx';

/** While a campaign is queueing, the page reloads its report this often. */
const LIVE_REFRESH_MS = 5_000;

interface CampaignData {
  campaign: Campaign;
  report: CampaignReport;
}

async function load(id: string, signal: AbortSignal): Promise<CampaignData> {
  const path = `/api/v1/campaigns/${encodeURIComponent(id)}`;
  const [campaign, report] = await Promise.all([
    api<Campaign>('GET', path, undefined, { signal }),
    api<CampaignReport>('GET', `${path}/report`, undefined, { signal }),
  ]);
  return { campaign, report };
}

type Action = 'send' | 'pause' | 'resume' | 'cancel';

const DONE: Record<Action, string> = { send: 'Sending started.', pause: 'Paused: no further message is queued until you resume.', resume: 'Resumed.', cancel: 'Cancelled.' };

/** The names of a campaign's lists and segment; an id stays shown when its list or segment is gone. */
function Audience({ c }: { c: Campaign }) {
  const names = useResource(async (signal) => {
    const name = (path: string, id: string) => api<{ name: string }>('GET', `${path}/${encodeURIComponent(id)}`, undefined, { signal }).then((x) => x.name, () => id);
    const [lists, segment] = await Promise.all([Promise.all(c.lists.map((id) => name('/api/v1/lists', id))), c.segment ? name('/api/v1/segments', c.segment) : null]);
    return { lists, segment };
  }, `${c.lists.join(',')}/${c.segment ?? ''}`);
  const lists = names.data?.lists ?? c.lists;
  const segment = names.data?.segment ?? c.segment;
  return <>{lists.length ? `${lists.length === 1 ? 'list' : 'lists'} ${lists.join(', ')}` : 'all contacts'}{segment ? `, segment ${segment}` : ''}</>;
}

function Facts({ c }: { c: Campaign }) {
  return (
    <dl className="facts">
      <dt>Subject</dt><dd>{c.subject}</dd>
      <dt>From</dt><dd>{c.from}{c.reply_to ? <span className="muted"> (replies to {c.reply_to})</span> : null}</dd>
      <dt>Audience</dt><dd><Audience c={c} /></dd>
      <dt>Stream and rate</dt><dd>{c.stream}, at most {c.rate_per_minute} messages per minute</dd>
      <dt>Tracking</dt><dd>opens {c.track_opens ? 'on' : 'off'}, clicks {c.track_clicks ? 'on' : 'off'}</dd>
      {c.send_at ? <><dt>Scheduled for</dt><dd>{formatTime(c.send_at)}</dd></> : null}
      <dt>Started</dt><dd>{formatTime(c.started_at)}</dd>
      <dt>Finished</dt><dd>{formatTime(c.finished_at)}</dd>
      <dt>Created</dt><dd>{formatTime(c.created_at)} <span className="muted">(times in {TIME_ZONE})</span></dd>
    </dl>
  );
}

function Row({ label, value }: { label: string; value: string | number }) {
  return <tr><th scope="row">{label}</th><td>{value}</td></tr>;
}

function Figures({ r }: { r: CampaignReport }) {
  return (
    <div className="grid">
      <section className="card">
        <table className="totals">
          <caption>Sending</caption>
          <tbody>
            <Row label="Audience now" value={`${r.audience.total} (${r.audience.subscribed} subscribed)`} />
            <Row label="Sent" value={r.queued} />
            <Row label="Skipped, suppressed" value={r.skipped.suppressed} />
            <Row label="Skipped, unsubscribed" value={r.skipped.unsubscribed} />
            <Row label="Pending" value={r.pending} />
          </tbody>
        </table>
      </section>
      <section className="card">
        <table className="totals">
          <caption>Outcomes</caption>
          <tbody>
            <Row label="Delivered" value={r.delivered} />
            <Row label="Bounced, hard" value={r.bounced.hard} />
            <Row label="Bounced, soft (deferrals)" value={r.bounced.soft} />
            <Row label="Complained" value={r.complained} />
            <Row label="Unsubscribed" value={r.unsubscribed} />
            <Row label="Bounce rate" value={formatRate(r.queued ? r.bounced.hard / r.queued : null)} />
          </tbody>
        </table>
      </section>
      <section className="card">
        <table className="totals">
          <caption>Opens and clicks</caption>
          <thead><tr><td /><th scope="col">People</th><th scope="col">Total</th><th scope="col">Machine</th></tr></thead>
          <tbody>
            <tr><th scope="row">Opened</th><td>{r.opened.unique}</td><td>{r.opened.total}</td><td>{r.opened.machine}</td></tr>
            <tr><th scope="row">Clicked</th><td>{r.clicked.unique}</td><td>{r.clicked.total}</td><td>{r.clicked.machine}</td></tr>
          </tbody>
        </table>
        <p className="muted">Open rate {formatRate(r.delivered ? r.opened.unique / r.delivered : null)}, click rate {formatRate(r.delivered ? r.clicked.unique / r.delivered : null)} of delivered.
          Machine: prefetchers and link scanners (Apple Mail Privacy Protection, security gateways), not counted as people.</p>
      </section>
    </div>
  );
}

function Links({ links }: { links: CampaignReport['clicked']['links'] }) {
  if (links.length === 0) return <p className="muted">No link clicked yet.</p>;
  return (
    <table className="list">
      <caption>Clicks per link</caption>
      <thead><tr><th scope="col">Link</th><th scope="col">People</th><th scope="col">Total</th></tr></thead>
      <tbody>
        {links.map((l) => (
          <tr key={l.url}>
            <th scope="row"><a href={l.url} target="_blank" rel="noopener noreferrer">{l.url}</a></th>
            <td>{l.unique}</td>
            <td>{l.total}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const HOUR_MS = 3_600_000;
/** The chart spans at most this many hours (the table below it lists every hour). */
const MAX_CHART_HOURS = 31 * 24;

/** Hourly buckets from the start (or the first event) to now, zeros where the API has none, at least two so a line shows. */
function hourly(series: CampaignReport['series'], startedAt: string | null, now: number): { times: number[]; opens: number[]; clicks: number[] } {
  const byHour = new Map(series.map((s) => [Date.parse(s.hour), s]));
  const first = Math.min(...[startedAt ? Date.parse(startedAt) : Infinity, ...byHour.keys()].filter(Number.isFinite));
  const last = Math.max(now, ...byHour.keys());
  const end = Math.floor(last / HOUR_MS) * HOUR_MS;
  const start = Math.max(Math.min(Math.floor(first / HOUR_MS) * HOUR_MS, end - HOUR_MS), end - (MAX_CHART_HOURS - 1) * HOUR_MS);
  const out = { times: [] as number[], opens: [] as number[], clicks: [] as number[] };
  for (let t = start; t <= end; t += HOUR_MS) {
    out.times.push(t);
    out.opens.push(byHour.get(t)?.opens ?? 0);
    out.clicks.push(byHour.get(t)?.clicks ?? 0);
  }
  return out;
}

function Series({ series, startedAt }: { series: CampaignReport['series']; startedAt: string | null }) {
  const chart = useMemo<{ times: number[]; series: ChartSeries[] }>(() => {
    const h = hourly(series, startedAt, Date.now());
    return { times: h.times, series: [{ label: 'Opens', color: '#2563eb', values: h.opens }, { label: 'Clicks', color: '#15803d', values: h.clicks }] };
  }, [series, startedAt]);
  if (series.length === 0) return <p className="muted">No opens or clicks yet: they are charted here per hour as they come.</p>;
  return (
    <>
      <TimeChart title={`Opens and clicks by people, per hour (${TIME_ZONE})`} times={chart.times} series={chart.series} />
      <details>
        <summary>Opens and clicks per hour as a table</summary>
        <table className="list">
          <caption className="sr-only">Opens and clicks per hour</caption>
          <thead><tr><th scope="col">Hour</th><th scope="col">Opens</th><th scope="col">Clicks</th></tr></thead>
          <tbody>{series.map((s) => <tr key={s.hour}><th scope="row">{formatTime(s.hour)}</th><td>{s.opens}</td><td>{s.clicks}</td></tr>)}</tbody>
        </table>
      </details>
    </>
  );
}

function Actions({ c, onDone }: { c: Campaign; onDone: (notice: string, updated: Campaign | null) => void }) {
  const [busy, setBusy] = useState(false);
  async function act(action: Action) {
    if (busy) return;
    if (action === 'cancel' && !window.confirm(`Cancel the campaign “${c.name}”? No further contact is sent to; messages already queued are still delivered. This cannot be undone.`)) return;
    if (action === 'send' && !window.confirm(`Send the campaign “${c.name}” to its audience now${c.send_at ? ' (or at its scheduled time)' : ''}?`)) return;
    setBusy(true);
    try {
      const updated = await api<Campaign>('POST', `/api/v1/campaigns/${encodeURIComponent(c.id)}/${action}`);
      onDone(DONE[action], updated);
    } catch (err) {
      onDone(errorText(err), null);
    } finally {
      setBusy(false);
    }
  }
  const canPause = c.status === 'sending' || c.status === 'scheduled';
  const active = canPause || c.status === 'paused';
  if (c.status !== 'draft' && !active) return null;
  return (
    <div className="toolbar" role="group" aria-label="Campaign actions">
      {c.status === 'draft' ? <button type="button" className="primary" aria-disabled={busy} onClick={() => act('send')}>Send now</button> : null}
      {/* One button that turns from Pause into Resume, so keyboard focus stays on it (and
          aria-disabled rather than disabled while busy: a disabled button would lose focus). */}
      {active ? <button type="button" aria-disabled={busy} onClick={() => act(canPause ? 'pause' : 'resume')}>{canPause ? 'Pause' : 'Resume'}</button> : null}
      <button type="button" className="danger" aria-disabled={busy} onClick={() => act('cancel')}>Cancel campaign</button>
    </div>
  );
}

export function CampaignView({ id }: { id: string }) {
  const canSend = useCan('send');
  const res = useResource((signal) => load(id, signal), id);
  // Numbered, so that the focus check below runs after every action, even with the same words.
  const [notice, setNotice] = useState<{ text: string; seq: number } | null>(null);
  // The campaign as the last action answered it, until the reload it starts comes back.
  const [acted, setActed] = useState<Campaign | null>(null);
  const noticeRef = useRef<HTMLParagraphElement>(null);
  const c = acted ?? res.data?.campaign;
  const live = c?.status === 'sending' || c?.status === 'scheduled';
  const reload = res.reload;

  useEffect(() => {
    if (!live) return;
    const t = setInterval(reload, LIVE_REFRESH_MS);
    return () => clearInterval(t);
  }, [live, reload]);
  useEffect(() => {
    if (res.data) setActed(null);
  }, [res.data]);
  // The button pressed may be gone (a cancelled campaign has none): keep focus in the page.
  useEffect(() => {
    if (notice && (!document.activeElement || document.activeElement === document.body)) noticeRef.current?.focus();
  }, [notice]);

  if (!res.data || !c) {
    return <section><p><Link to="/campaigns">← Campaigns</Link></p>{res.error ? <ErrorBox error={res.error} retry={reload} /> : <Loading what="the campaign" />}</section>;
  }
  const r = res.data.report;
  return (
    <article>
      <p><Link to="/campaigns">← Campaigns</Link></p>
      <h1>Campaign {c.name}</h1>
      <p className="state">State <StatusBadge status={c.status} />{c.paused_reason ? <span className="muted"> (reason: {c.paused_reason})</span> : null}</p>
      {canSend ? <Actions c={c} onDone={(text, updated) => { setNotice((n) => ({ text, seq: (n?.seq ?? 0) + 1 })); if (updated) setActed(updated); reload(); }} /> : null}
      <p role="status" ref={noticeRef} tabIndex={-1}>{notice?.text}</p>
      {res.error ? <ErrorBox error={res.error} retry={reload} /> : null}
      <Facts c={c} />
      <h2>Report</h2>
      <div className="toolbar">
        <button type="button" onClick={reload}>Refresh</button>
        {live ? <span className="muted">Updates every {LIVE_REFRESH_MS / 1000} s while sending.</span> : null}
      </div>
      <Figures r={r} />
      <h2>Over time</h2>
      <Series series={r.series} startedAt={c.started_at} />
      <h2>Links</h2>
      <Links links={r.clicked.links} />
    </article>
  );
}
