// A message's body as a reader sees it (GET /api/v1/messages/{id}/content): HTML in the
// sandboxed preview, the text part, the headers and the raw source, plus attachments.
import { useState } from 'react';
import { api, fetchText } from '../api.ts';
import { useResource } from '../hooks.ts';
import { formatBytes } from '../format.ts';
import type { MessageContent } from '../types.ts';
import { ErrorBox, Loading } from './page-state.tsx';
import { HtmlPreview } from './html-preview.tsx';

type View = 'html' | 'text' | 'headers' | 'raw';

function RawSource({ id }: { id: string }) {
  const raw = useResource((signal) => fetchText(`/api/v1/messages/${encodeURIComponent(id)}/raw`, signal), id);
  if (raw.error) return <ErrorBox error={raw.error} />;
  if (raw.data === undefined) return <Loading what="the raw message" />;
  return <pre className="raw" tabIndex={0} aria-label="Raw message source">{raw.data}</pre>;
}

export function MessageBody({ id, headers, available }: { id: string; headers: Array<{ name: string; value: string }>; available: boolean }) {
  const content = useResource((signal) => api<MessageContent>('GET', `/api/v1/messages/${encodeURIComponent(id)}/content`, undefined, { signal }), available ? id : '');
  const [view, setView] = useState<View | null>(null);
  if (!available) return <p className="muted">The message bytes were removed by retention (retention.bodies_days); its receipts remain.</p>;
  if (content.error) return <ErrorBox error={content.error} />;
  if (!content.data) return <Loading what="the message content" />;
  const c = content.data;
  const current: View = view ?? (c.html ? 'html' : 'text');
  const tabs: Array<[View, string]> = [['html', 'HTML'], ['text', 'Text'], ['headers', 'Headers'], ['raw', 'Raw']];
  const base = `/api/v1/messages/${encodeURIComponent(id)}`;
  return (
    <div className="message-body">
      <div role="tablist" aria-label="Message views" className="tabs">
        {tabs.map(([v, label]) => (
          <button key={v} type="button" role="tab" aria-selected={current === v} onClick={() => setView(v)}>{label}</button>
        ))}
        <a className="button small" href={`${base}/raw`} download={`${id}.eml`}>Download raw (.eml)</a>
      </div>
      <div role="tabpanel" aria-label={tabs.find(([v]) => v === current)![1]}>
        {current === 'html' ? (c.html ? <HtmlPreview html={c.html} title={`HTML of message ${id}`} /> : <p className="muted">This message has no HTML part.</p>) : null}
        {current === 'text' ? (c.text ? <pre className="text-part">{c.text}</pre> : <p className="muted">This message has no text part.</p>) : null}
        {current === 'headers' ? (
          <table className="list headers"><thead><tr><th scope="col">Field</th><th scope="col">Value</th></tr></thead>
            <tbody>{headers.map((h, i) => <tr key={i}><th scope="row">{h.name}</th><td>{h.value}</td></tr>)}</tbody></table>
        ) : null}
        {current === 'raw' ? <RawSource id={id} /> : null}
      </div>
      <h3>Attachments</h3>
      {c.attachments.length === 0 ? <p className="muted">No attachments.</p> : (
        <ul className="attachments">
          {c.attachments.map((a) => (
            <li key={a.index}>
              <a href={`${base}/attachments/${a.index}`} download={a.filename ?? true}>{a.filename ?? `attachment ${a.index + 1}`}</a>
              {' '}<span className="muted">{a.content_type}, {formatBytes(a.size)}{a.disposition === 'inline' ? ', inline' : ''}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
