// Campaigns: the tenant's campaigns newest first (GET /api/v1/campaigns, cursor pages),
// filtered by state, with what each one queued and skipped and when it started and ended.
// The state filter lives in the URL (shareable, back button). A campaign's page is
// campaign-view.tsx.
import { api, query, type Page } from '../api.ts';
import { usePages } from '../hooks.ts';
import { formatTime, TIME_ZONE } from '../format.ts';
import { navigate, useLocation } from '../router.ts';
import type { Campaign } from '../types.ts';
import { Pager, PageState } from '../components/page-state.tsx';
import { StatusBadge } from '../components/status-badges.tsx';
import { Link } from '../components/link.tsx';

export const CAMPAIGN_STATUSES = ['draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled'] as const;

export function Campaigns() {
  const { search } = useLocation();
  const status = search.get('status') ?? '';
  const pages = usePages<Campaign>((cursor, signal) => api<Page<Campaign>>('GET', `/api/v1/campaigns${query({ status, cursor, limit: 50 })}`, undefined, { signal }), status);
  const rows = pages.data?.data ?? [];
  return (
    <section>
      <h1>Campaigns</h1>
      <div className="toolbar">
        <label>State<select value={status} onChange={(e) => navigate(`/campaigns${query({ status: e.target.value })}`)}>
          <option value="">any</option>{CAMPAIGN_STATUSES.map((s) => <option key={s}>{s}</option>)}
        </select></label>
        <button type="button" onClick={pages.reload}>Refresh</button>
      </div>
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="campaigns" retry={pages.reload}
        empty={status ? <p>No {status} campaign. <Link to="/campaigns">Show all campaigns</Link>.</p>
          : <p>No campaigns yet. Create one with <code>POST /api/v1/campaigns</code> (lists of contacts, a sender, a subject and content), then send it with <code>POST /api/v1/campaigns/&#123;id&#125;/send</code>.</p>}>
        <table className="list">
          <caption className="sr-only">Campaigns, newest first (times in {TIME_ZONE})</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Queued</th><th scope="col">Skipped</th><th scope="col">Started</th><th scope="col">Finished</th></tr></thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id}>
                <th scope="row"><Link to={`/campaigns/${c.id}`}>{c.name}</Link><br /><span className="muted">{c.subject}</span></th>
                <td><StatusBadge status={c.status} />{c.paused_reason ? <span className="muted"> ({c.paused_reason})</span> : null}</td>
                <td>{c.counts.queued}</td>
                <td>{c.counts.skipped_suppressed + c.counts.skipped_unsubscribed}
                  {c.counts.skipped_suppressed + c.counts.skipped_unsubscribed > 0
                    ? <span className="muted"> ({c.counts.skipped_suppressed} suppressed, {c.counts.skipped_unsubscribed} unsubscribed)</span> : null}</td>
                <td>{c.started_at ? formatTime(c.started_at) : c.send_at ? <>scheduled {formatTime(c.send_at)}</> : '—'}</td>
                <td>{formatTime(c.finished_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="Campaigns" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}
