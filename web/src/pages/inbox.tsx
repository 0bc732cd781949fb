// The capture inbox: mail a sandbox tenant (or delivery.mode: capture) kept instead of
// sending, newest first, with search; a message opens beside the list with its HTML, text,
// headers and raw views. "Delete all" empties it.
import { useState, type FormEvent } from 'react';
import { api, query, type Page } from '../api.ts';
import { usePages, useResource } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { navigate, useLocation } from '../router.ts';
import { useCan, useSession } from '../session.ts';
import type { CapturedMessage, MessageDetail } from '../types.ts';
import { ErrorBox, Loading, Pager, PageState, errorText } from '../components/page-state.tsx';
import { MessageBody } from '../components/message-body.tsx';
import { Link } from '../components/link.tsx';

function CapturedView({ id }: { id: string }) {
  const res = useResource((signal) => api<MessageDetail>('GET', `/api/v1/messages/${encodeURIComponent(id)}`, undefined, { signal }), id);
  if (res.error) return <ErrorBox error={res.error} />;
  if (!res.data) return <Loading what="the message" />;
  const m = res.data;
  return (
    <article className="captured" aria-label="Captured message">
      <h2>{m.subject || '(no subject)'}</h2>
      <dl className="facts">
        <dt>From</dt><dd>{m.from ?? m.mail_from}</dd>
        <dt>To</dt><dd>{m.envelope.rcpt_to.join(', ')}</dd>
        <dt>Date</dt><dd>{formatTime(m.created_at)}</dd>
      </dl>
      <p><Link to={`/messages/${m.id}`}>Open in Messages (events and timeline)</Link></p>
      <MessageBody id={m.id} headers={m.headers} available={m.body_available} />
    </article>
  );
}

export function Inbox({ selected }: { selected?: string }) {
  const session = useSession();
  const canManage = useCan('manage');
  const { search } = useLocation();
  const q = search.get('q') ?? '';
  const [text, setText] = useState(q);
  const [notice, setNotice] = useState<string | null>(null);
  const pages = usePages<CapturedMessage>((cursor, signal) => api<Page<CapturedMessage>>('GET', `/api/v1/inbox${query({ q, cursor, limit: 50 })}`, undefined, { signal }), q);
  const rows = pages.data?.data ?? [];

  function submit(e: FormEvent) {
    e.preventDefault();
    navigate(`/inbox${query({ q: text.trim() })}`);
  }
  async function deleteAll() {
    if (!window.confirm('Delete every captured message? This cannot be undone.')) return;
    try {
      let total = 0;
      for (let more = true; more;) {
        const r = await api<{ deleted: number; more: boolean }>('DELETE', '/api/v1/inbox');
        total += r.deleted;
        more = r.more;
      }
      setNotice(`Deleted ${total} captured message${total === 1 ? '' : 's'}.`);
      navigate('/inbox');
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }

  return (
    <section>
      <h1>Inbox</h1>
      <p className="muted">
        {session.tenant?.sandbox ? 'This tenant is a sandbox: its mail is kept here instead of being sent.' : 'Mail kept by capture mode (sandbox tenants, or delivery.mode: capture) shows here instead of being sent.'}
      </p>
      <div className="toolbar">
        <form role="search" onSubmit={submit} className="inline">
          <label>Search the inbox<input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="subject, sender or recipient" /></label>
          <button type="submit">Search</button>
        </form>
        {canManage ? <button type="button" className="danger" onClick={deleteAll} disabled={rows.length === 0}>Delete all</button> : null}
      </div>
      {notice ? <p role="status">{notice}</p> : null}
      <div className="split">
        <div className="split-list">
          <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="the inbox" retry={pages.reload}
            empty={q ? <p>No captured message matches “{q}”.</p> : <p>The inbox is empty. Send a message with this tenant's API key (<code>POST /api/v1/messages</code>) and it appears here within a second.</p>}>
            <ul className="mail-list" aria-label="Captured messages">
              {rows.map((m) => (
                <li key={m.id} className={m.id === selected ? 'selected' : undefined}>
                  <Link to={`/inbox/${m.id}${query({ q })}`} current={m.id === selected}>
                    <strong>{m.subject || '(no subject)'}</strong>
                    <span>{m.from ?? m.mail_from} → {m.to.join(', ')}</span>
                    <time dateTime={m.created_at}>{formatTime(m.created_at)}</time>
                  </Link>
                </li>
              ))}
            </ul>
            <Pager label="Inbox" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
          </PageState>
        </div>
        <div className="split-detail">
          {selected ? <CapturedView id={selected} /> : rows.length ? <p className="muted">Choose a message to read it.</p> : null}
        </div>
      </div>
    </section>
  );
}
