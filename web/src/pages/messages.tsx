// Messages: the tenant's messages newest first, filtered on the server (GET /api/v1/messages:
// recipient, sender, status, tag, stream, time) and paged with its cursors, so the page stays
// fast however many messages are stored. Filters live in the URL (shareable, back button).
import { useState, type FormEvent } from 'react';
import { api, query, type Page } from '../api.ts';
import { usePages } from '../hooks.ts';
import { formatTime, localInputToIso, TIME_ZONE } from '../format.ts';
import { navigate, useLocation } from '../router.ts';
import type { MessageListItem } from '../types.ts';
import { Pager, PageState } from '../components/page-state.tsx';
import { StatusCounts } from '../components/status-badges.tsx';
import { Link } from '../components/link.tsx';

const STATUSES = ['queued', 'inflight', 'deferred', 'delivered', 'bounced', 'expired', 'cancelled', 'suppressed', 'received'];
const FILTERS = ['recipient', 'sender', 'status', 'tag', 'stream', 'from', 'to'] as const;

function isoToLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function Messages() {
  const { search } = useLocation();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, search.get(f) ?? ''])) as Record<(typeof FILTERS)[number], string>;
  const [form, setForm] = useState({ ...filters, from: isoToLocalInput(filters.from || null), to: isoToLocalInput(filters.to || null) });
  const key = JSON.stringify(filters);
  const pages = usePages<MessageListItem>(
    (cursor, signal) => api<Page<MessageListItem>>('GET', `/api/v1/messages${query({ ...filters, limit: 50, cursor })}`, undefined, { signal }),
    key,
  );

  function apply(e: FormEvent) {
    e.preventDefault();
    navigate(`/messages${query({ ...form, from: localInputToIso(form.from), to: localInputToIso(form.to) })}`);
  }
  const set = (name: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [name]: e.target.value });
  const rows = pages.data?.data ?? [];
  const filtered = FILTERS.some((f) => filters[f]);

  return (
    <section>
      <h1>Messages</h1>
      <form className="filters card" onSubmit={apply} aria-label="Filter messages">
        <label>Recipient<input type="email" value={form.recipient} onChange={set('recipient')} placeholder="ann@example.net" /></label>
        <label>Sender<input type="text" value={form.sender} onChange={set('sender')} placeholder="envelope sender" /></label>
        <label>Status<select value={form.status} onChange={set('status')}><option value="">any</option>{STATUSES.map((s) => <option key={s}>{s}</option>)}</select></label>
        <label>Tag<input type="text" value={form.tag} onChange={set('tag')} /></label>
        <label>Stream<select value={form.stream} onChange={set('stream')}><option value="">any</option><option>transactional</option><option>broadcast</option></select></label>
        <label>From time<input type="datetime-local" value={form.from} onChange={set('from')} /></label>
        <label>To time<input type="datetime-local" value={form.to} onChange={set('to')} /></label>
        <div className="actions">
          <button type="submit" className="primary">Search</button>
          {filtered ? <button type="button" onClick={() => { setForm({ recipient: '', sender: '', status: '', tag: '', stream: '', from: '', to: '' }); navigate('/messages'); }}>Clear filters</button> : null}
        </div>
      </form>
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="messages" retry={pages.reload}
        empty={filtered ? <p>No message matches these filters. Widen the time range or clear the filters.</p>
          : <p>No messages yet. Send one with <code>POST /api/v1/messages</code> (an API key with the send scope), or over SMTP.</p>}>
        <table className="list">
          <caption className="sr-only">Messages, newest first (times in {TIME_ZONE})</caption>
          <thead><tr><th scope="col">Created</th><th scope="col">Subject</th><th scope="col">From</th><th scope="col">Recipients</th><th scope="col">Tags</th></tr></thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.id}>
                <td>{formatTime(m.created_at)}</td>
                <td><Link to={`/messages/${m.id}`}>{m.subject || '(no subject)'}</Link></td>
                <td>{m.from ?? m.mail_from}</td>
                <td><StatusCounts counts={m.recipients} /></td>
                <td>{m.tags.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="Messages" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}
