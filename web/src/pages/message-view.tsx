// One message: envelope, recipients and their state, the body (HTML preview, text, headers,
// raw, attachments), and the timeline of every event and delivery attempt (MX, IP, TLS,
// the remote's response).
import { api } from '../api.ts';
import { useResource } from '../hooks.ts';
import { formatBytes, formatTime, TIME_ZONE } from '../format.ts';
import type { ApiEvent, MessageDetail } from '../types.ts';
import { ErrorBox, Loading } from '../components/page-state.tsx';
import { StatusBadge } from '../components/status-badges.tsx';
import { MessageBody } from '../components/message-body.tsx';
import { Link } from '../components/link.tsx';

function eventDetail(e: ApiEvent, recipients: Map<number, string>): string {
  const d = e.data;
  const parts: string[] = [];
  const rcpt = (d.recipient as string | undefined) ?? (e.recipient_id !== null ? recipients.get(e.recipient_id) : undefined);
  if (rcpt) parts.push(rcpt);
  if (d.captured) parts.push('captured (not sent)');
  if (d.mx_host) parts.push(`MX ${String(d.mx_host)}`);
  if (d.ip) parts.push(`IP ${String(d.ip)}`);
  const tls = d.tls as { version?: string; cipher?: string } | null | undefined;
  if (tls?.version) parts.push(`TLS ${tls.version}${tls.cipher ? ` ${tls.cipher}` : ''}`);
  if (d.reason) parts.push(`reason: ${String(d.reason)}`);
  if (d.response) parts.push(String(d.response));
  else if (d.diagnostic) parts.push(String(d.diagnostic));
  if (d.next_attempt_at) parts.push(`next attempt ${formatTime(String(d.next_attempt_at))}`);
  return parts.join(' · ');
}

export function MessageView({ id, back, backLabel }: { id: string; back: string; backLabel: string }) {
  const res = useResource((signal) => api<MessageDetail>('GET', `/api/v1/messages/${encodeURIComponent(id)}`, undefined, { signal }), id);
  if (res.error) return <section><p><Link to={back}>← {backLabel}</Link></p><ErrorBox error={res.error} retry={res.reload} /></section>;
  if (!res.data) return <section><Loading what="the message" /></section>;
  const m = res.data;
  const rcpts = new Map(m.recipients.map((r) => [r.id, r.email]));
  return (
    <article className="message">
      <p><Link to={back}>← {backLabel}</Link></p>
      <h1>{m.subject || '(no subject)'}</h1>
      <dl className="facts">
        <dt>Message id</dt><dd><code>{m.id}</code></dd>
        <dt>From</dt><dd>{m.from ?? '—'}</dd>
        <dt>Envelope sender</dt><dd>{m.envelope.mail_from || '<> (null sender)'}</dd>
        <dt>Envelope recipients</dt><dd>{m.envelope.rcpt_to.join(', ')}</dd>
        <dt>Created</dt><dd>{formatTime(m.created_at)}{m.send_at ? ` (scheduled for ${formatTime(m.send_at)})` : ''}</dd>
        <dt>Size</dt><dd>{formatBytes(m.size)} · {m.stream} · via {m.origin}</dd>
        {m.tags.length ? <><dt>Tags</dt><dd>{m.tags.join(', ')}</dd></> : null}
        {m.message_id_header ? <><dt>Message-ID</dt><dd><code>{m.message_id_header}</code></dd></> : null}
      </dl>
      <section aria-labelledby="rcpt-h">
        <h2 id="rcpt-h">Recipients</h2>
        <table className="list">
          <thead><tr><th scope="col">Recipient</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last response</th></tr></thead>
          <tbody>
            {m.recipients.map((r) => (
              <tr key={r.id}>
                <td>{r.email}</td>
                <td><StatusBadge status={r.status} />{r.next_attempt_at ? <span className="muted"> next {formatTime(r.next_attempt_at)}</span> : null}</td>
                <td>{r.attempts}</td>
                <td>{r.last_response ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="body-h">
        <h2 id="body-h">Content</h2>
        <MessageBody id={m.id} headers={m.headers} available={m.body_available} />
      </section>
      <section aria-labelledby="timeline-h">
        <h2 id="timeline-h">Timeline</h2>
        <p className="muted">Times in {TIME_ZONE}.</p>
        <ol className="timeline" aria-label="Events">
          {m.events.map((e) => (
            <li key={e.id}>
              <time dateTime={e.created_at}>{formatTime(e.created_at)}</time> <StatusBadge status={e.type.replace(/^message\./, '')} />
              <span className="event-type">{e.type}</span> <span className="muted">{eventDetail(e, rcpts)}</span>
            </li>
          ))}
        </ol>
        <h3>Delivery attempts</h3>
        {m.attempts.length === 0 ? <p className="muted">No delivery attempt yet.</p> : (
          <table className="list">
            <thead><tr><th scope="col">Started</th><th scope="col">Recipient</th><th scope="col">Outcome</th><th scope="col">MX</th><th scope="col">IP</th><th scope="col">TLS</th><th scope="col">Response</th><th scope="col">Time</th></tr></thead>
            <tbody>
              {m.attempts.map((a) => (
                <tr key={a.id}>
                  <td>{formatTime(a.started_at)}</td>
                  <td>{rcpts.get(a.recipient_id) ?? a.recipient_id}</td>
                  <td><StatusBadge status={a.outcome} /></td>
                  <td>{a.mx_host ?? (a.code === 250 && !a.ip ? 'captured' : '—')}</td>
                  <td>{a.ip ? `${a.ip}${a.port ? `:${a.port}` : ''}` : '—'}</td>
                  <td>{a.tls ? `${a.tls.version}${a.tls.cipher ? ` ${a.tls.cipher}` : ''}` : '—'}</td>
                  <td>{a.response ?? '—'}</td>
                  <td>{a.duration_ms} ms</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </article>
  );
}
