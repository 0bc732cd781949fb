// Webhooks: endpoints (create with the signing secret shown once, enable/disable, delete),
// and per endpoint the delivery log with every call (status, latency, the answer's first
// KB), replay of a delivery, and a test ping.
import { useState, type FormEvent } from 'react';
import { api, query, type Page } from '../api.ts';
import { usePages, useResource } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { useCan } from '../session.ts';
import type { Webhook, WebhookDelivery } from '../types.ts';
import { ErrorBox, Loading, Pager, PageState, errorText } from '../components/page-state.tsx';
import { SecretOnce } from '../components/copy-button.tsx';
import { StatusBadge } from '../components/status-badges.tsx';
import { Link } from '../components/link.tsx';

/** The event types of docs/events.md that an endpoint can subscribe to. */
const EVENT_TYPES = [
  'message.queued', 'message.scheduled', 'message.delivered', 'message.deferred', 'message.bounced', 'message.delayed', 'message.complained',
  'message.auto_replied', 'message.expired', 'message.suppressed', 'message.cancelled', 'message.inbound', 'webhook.disabled', 'domain.dns_error', 'domain.verified',
];

function Deliveries({ webhook, canManage }: { webhook: Webhook; canManage: boolean }) {
  const [status, setStatus] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const pages = usePages<WebhookDelivery>((cursor, signal) => api<Page<WebhookDelivery>>('GET', `/api/v1/webhooks/${webhook.id}/deliveries${query({ status, cursor, limit: 50 })}`, undefined, { signal }), `${webhook.id}/${status}`);
  const rows = pages.data?.data ?? [];
  async function act(label: string, path: string) {
    try {
      await api('POST', path);
      setNotice(label);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  return (
    <section aria-labelledby="deliveries-h">
      <h2 id="deliveries-h">Deliveries</h2>
      <div className="toolbar">
        <label>Status<select value={status} onChange={(e) => setStatus(e.target.value)}><option value="">all</option><option>pending</option><option>succeeded</option><option>failed</option></select></label>
        <button type="button" onClick={pages.reload}>Refresh</button>
        {canManage ? <button type="button" disabled={!webhook.enabled} onClick={() => act('Test ping queued: it appears below within seconds.', `/api/v1/webhooks/${webhook.id}/test`)}>Send test ping</button> : null}
      </div>
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="deliveries" retry={pages.reload}
        empty={<p>No deliveries yet. Events are sent here as they happen; “Send test ping” sends one now.</p>}>
        <table className="list deliveries">
          <caption className="sr-only">Deliveries to {webhook.url}, oldest first</caption>
          <thead><tr><th scope="col">Created</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Calls</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.id}>
                <td>{formatTime(d.created_at)}</td>
                <td>{d.event_type}{d.message_id ? <> · <Link to={`/messages/${d.message_id}`}>message</Link></> : null}</td>
                <td><StatusBadge status={d.status} />{d.next_attempt_at ? <span className="muted"> next {formatTime(d.next_attempt_at)}</span> : null}</td>
                <td>
                  {d.attempts.length === 0 ? <span className="muted">not called yet</span> : (
                    <details>
                      <summary>{d.attempts.length} call{d.attempts.length > 1 ? 's' : ''}, last {d.last_status ?? d.last_error ?? '—'}</summary>
                      <ol>{d.attempts.map((a, i) => (
                        <li key={i}>{formatTime(a.started_at)}: {a.status_code ?? a.error} in {a.duration_ms} ms
                          {a.response_excerpt ? <pre className="excerpt">{a.response_excerpt}</pre> : null}</li>
                      ))}</ol>
                    </details>
                  )}
                </td>
                <td>{canManage && d.status !== 'pending' ? <button type="button" className="small" onClick={() => act('Replay queued.', `/api/v1/webhooks/${webhook.id}/deliveries/${d.id}/replay`)}>Replay</button> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="Deliveries" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}

function WebhookView({ id, canManage }: { id: string; canManage: boolean }) {
  const res = useResource((signal) => api<Webhook>('GET', `/api/v1/webhooks/${encodeURIComponent(id)}`, undefined, { signal }), id);
  const [notice, setNotice] = useState<string | null>(null);
  if (res.error) return <ErrorBox error={res.error} retry={res.reload} />;
  if (!res.data) return <Loading what="the webhook" />;
  const w = res.data;
  async function setEnabled(enabled: boolean) {
    try {
      await api('PATCH', `/api/v1/webhooks/${w.id}`, { enabled });
      setNotice(enabled ? 'Enabled.' : 'Disabled.');
      res.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  return (
    <article>
      <p><Link to="/webhooks">← Webhooks</Link></p>
      <h1>Webhook <code>{w.url}</code></h1>
      <dl className="facts">
        <dt>State</dt><dd>{w.enabled ? 'enabled' : `disabled (${w.disabled_reason ?? 'manual'})`}{w.failing_since ? `, failing since ${formatTime(w.failing_since)}` : ''}</dd>
        <dt>Events</dt><dd>{w.events.length ? w.events.join(', ') : 'all'}</dd>
        {w.description ? <><dt>Description</dt><dd>{w.description}</dd></> : null}
      </dl>
      {canManage ? <p><button type="button" onClick={() => setEnabled(!w.enabled)}>{w.enabled ? 'Disable' : 'Enable'}</button></p> : null}
      {notice ? <p role="status">{notice}</p> : null}
      <Deliveries webhook={w} canManage={canManage} />
    </article>
  );
}

export function Webhooks({ selected }: { selected?: string }) {
  const canManage = useCan('manage');
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>([]);
  const [description, setDescription] = useState('');
  const [created, setCreated] = useState<Webhook | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const pages = usePages<Webhook>((cursor, signal) => api<Page<Webhook>>('GET', `/api/v1/webhooks${query({ cursor, limit: 50 })}`, undefined, { signal }), 'webhooks');
  if (selected) return <WebhookView id={selected} canManage={canManage} />;
  const rows = pages.data?.data ?? [];

  async function create(e: FormEvent) {
    e.preventDefault();
    try {
      const w = await api<Webhook>('POST', '/api/v1/webhooks', { url: url.trim(), events, ...(description.trim() ? { description: description.trim() } : {}) });
      setCreated(w);
      setUrl('');
      setDescription('');
      setEvents([]);
      setNotice(null);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  async function remove(w: Webhook) {
    if (!window.confirm(`Delete the webhook ${w.url} and its delivery log?`)) return;
    try {
      await api('DELETE', `/api/v1/webhooks/${w.id}`);
      setNotice(`Deleted ${w.url}.`);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }

  return (
    <section>
      <h1>Webhooks</h1>
      {canManage ? (
        <form className="card stack" onSubmit={create} aria-label="Create a webhook">
          <label>Endpoint URL<input type="url" required value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://hooks.example.com/postline" /></label>
          <label>Description (optional)<input type="text" value={description} onChange={(e) => setDescription(e.target.value)} /></label>
          <label>Events (none selected: all)
            <select multiple size={6} value={events} onChange={(e) => setEvents([...e.target.selectedOptions].map((o) => o.value))}>
              {EVENT_TYPES.map((t) => <option key={t}>{t}</option>)}
            </select>
          </label>
          <button type="submit" className="primary">Create webhook</button>
        </form>
      ) : null}
      {created?.secret ? (
        <>
          <SecretOnce label="signing secret" value={created.secret} onDone={() => setCreated(null)} />
          <p><Link to={`/webhooks/${created.id}`}>See its deliveries</Link></p>
        </>
      ) : null}
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="webhooks" retry={pages.reload}
        empty={<p>No webhook yet. {canManage ? 'Add an HTTPS endpoint above' : 'An owner can add one'} to receive every event (delivered, bounced, complained…) as it happens, signed per Standard Webhooks.</p>}>
        <table className="list">
          <thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {rows.map((w) => (
              <tr key={w.id}>
                <td><Link to={`/webhooks/${w.id}`}>{w.url}</Link>{w.description ? <span className="muted"> {w.description}</span> : null}</td>
                <td>{w.events.length ? w.events.join(', ') : 'all'}</td>
                <td><StatusBadge status={w.enabled ? 'enabled' : 'disabled'} /></td>
                <td>{formatTime(w.created_at)}</td>
                <td>{canManage ? <button type="button" className="small danger" onClick={() => remove(w)}>Delete<span className="sr-only"> {w.url}</span></button> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="Webhooks" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}
