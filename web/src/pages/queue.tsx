// Queue: mail not delivered yet, grouped by destination domain with the last error; retry
// now or delete per destination, per recipient, for a selection, or for everything deferred.
import { useState } from 'react';
import { api, query, type Page } from '../api.ts';
import { usePages } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { useCan } from '../session.ts';
import type { QueueDestination, QueueRecipient } from '../types.ts';
import { Pager, PageState, errorText } from '../components/page-state.tsx';
import { StatusBadge } from '../components/status-badges.tsx';
import { Link } from '../components/link.tsx';

type Selection = { recipient_ids?: number[]; domain?: string; status?: string; all?: boolean };

async function bulk(action: 'retry' | 'cancel', selection: Selection): Promise<number> {
  let total = 0;
  for (let more = true; more;) {
    const r = await api<{ retried?: number; cancelled?: number; more: boolean }>('POST', `/api/v1/queue/${action}`, selection);
    total += r.retried ?? r.cancelled ?? 0;
    // A selection of ids is done in one call; a filter may need several.
    more = r.more && selection.recipient_ids === undefined;
  }
  return total;
}

function Recipients({ domain, status, canSend, onChange }: { domain: string; status: string; canSend: boolean; onChange: (msg: string) => void }) {
  const [picked, setPicked] = useState<Set<number>>(new Set());
  const pages = usePages<QueueRecipient>((cursor, signal) => api<Page<QueueRecipient>>('GET', `/api/v1/queue${query({ domain, status, cursor, limit: 100 })}`, undefined, { signal }), `${domain}/${status}`);
  const rows = pages.data?.data ?? [];
  async function act(action: 'retry' | 'cancel') {
    if (action === 'cancel' && !window.confirm(`Delete ${picked.size} recipient(s) from the queue?`)) return;
    try {
      const n = await bulk(action, { recipient_ids: [...picked] });
      onChange(`${action === 'retry' ? 'Retrying' : 'Deleted'} ${n} recipient(s).`);
      setPicked(new Set());
      pages.reload();
    } catch (err) {
      onChange(errorText(err));
    }
  }
  const toggle = (id: number) => setPicked((p) => {
    const n = new Set(p);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    return n;
  });
  return (
    <div className="nested">
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="recipients" empty={<p>No recipients left for {domain}.</p>}>
        {canSend ? (
          <div className="toolbar">
            <button type="button" disabled={picked.size === 0} onClick={() => act('retry')}>Retry selected</button>
            <button type="button" className="danger" disabled={picked.size === 0} onClick={() => act('cancel')}>Delete selected</button>
          </div>
        ) : null}
        <table className="list">
          <caption className="sr-only">Recipients for {domain}</caption>
          <thead><tr>{canSend ? <th scope="col">Select</th> : null}<th scope="col">Recipient</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Next attempt</th><th scope="col">Last response</th><th scope="col">Message</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id}>
                {canSend ? <td><input type="checkbox" aria-label={`Select ${r.email}`} checked={picked.has(r.id)} onChange={() => toggle(r.id)} /></td> : null}
                <td>{r.email}</td>
                <td><StatusBadge status={r.status} /></td>
                <td>{r.attempts}</td>
                <td>{formatTime(r.next_attempt_at)}</td>
                <td>{r.last_response ?? '—'}</td>
                <td><Link to={`/messages/${r.message_id}`}>{r.subject || r.message_id}</Link></td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label={`Recipients for ${domain}`} pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </div>
  );
}

export function Queue() {
  const canSend = useCan('send');
  const [status, setStatus] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const pages = usePages<QueueDestination>((cursor, signal) => api<Page<QueueDestination>>('GET', `/api/v1/queue/destinations${query({ status, cursor, limit: 50 })}`, undefined, { signal }), status);
  const rows = pages.data?.data ?? [];

  async function act(action: 'retry' | 'cancel', selection: Selection, what: string) {
    if (action === 'cancel' && !window.confirm(`Delete ${what} from the queue? The recipients will not be sent to.`)) return;
    try {
      const n = await bulk(action, selection);
      setNotice(`${action === 'retry' ? 'Retrying' : 'Deleted'} ${n} recipient(s) of ${what}.`);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }

  return (
    <section>
      <h1>Queue</h1>
      <div className="toolbar">
        <label>Show<select value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">all waiting mail</option><option value="deferred">deferred</option><option value="queued">queued</option><option value="inflight">in flight</option>
        </select></label>
        <button type="button" onClick={pages.reload}>Refresh</button>
        {canSend ? <button type="button" onClick={() => act('retry', { status: 'deferred' }, 'all deferred mail')}>Retry all deferred now</button> : null}
      </div>
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="the queue" retry={pages.reload}
        empty={<p>The queue is empty: every message was delivered, bounced or captured. Deferred mail shows here, grouped by destination.</p>}>
        <table className="list">
          <caption className="sr-only">Destinations</caption>
          <thead><tr><th scope="col">Destination</th><th scope="col">Queued</th><th scope="col">Deferred</th><th scope="col">In flight</th><th scope="col">Next attempt</th><th scope="col">Last error</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.domain}>
                <th scope="row">{d.domain}</th>
                <td>{d.queued}</td>
                <td>{d.deferred}</td>
                <td>{d.inflight}</td>
                <td>{formatTime(d.next_attempt_at)}</td>
                <td>{d.last_error ? <>{d.last_error.response}{d.last_error.mx ? <span className="muted"> ({d.last_error.mx}, {formatTime(d.last_error.at)})</span> : null}</> : '—'}</td>
                <td className="actions">
                  <button type="button" className="small" aria-expanded={open === d.domain} onClick={() => setOpen(open === d.domain ? null : d.domain)}>
                    {open === d.domain ? 'Hide' : 'Show'} recipients<span className="sr-only"> for {d.domain}</span>
                  </button>
                  {canSend ? <>
                    <button type="button" className="small" onClick={() => act('retry', { domain: d.domain, status: status || undefined, all: true }, d.domain)}>Retry now<span className="sr-only"> {d.domain}</span></button>
                    <button type="button" className="small danger" onClick={() => act('cancel', { domain: d.domain, status: status || undefined, all: true }, d.domain)}>Delete<span className="sr-only"> {d.domain}</span></button>
                  </> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {open ? <><h2>Recipients for {open}</h2><Recipients domain={open} status={status} canSend={canSend} onChange={(m) => { setNotice(m); pages.reload(); }} /></> : null}
        <Pager label="Destinations" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}
