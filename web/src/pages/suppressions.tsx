// Suppressions: the addresses this tenant must not send to, per stream, with why; search,
// add, remove, and CSV export and import (the same CSV as the API's).
import { useState, type FormEvent } from 'react';
import { api, query, type Page } from '../api.ts';
import { usePages } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { navigate, useLocation } from '../router.ts';
import { useCan } from '../session.ts';
import type { Suppression } from '../types.ts';
import { Pager, PageState, errorText } from '../components/page-state.tsx';
import { Link } from '../components/link.tsx';

const REASONS = ['manual', 'hard_bounce', 'complaint', 'unsubscribe'];
const STREAMS = ['transactional', 'broadcast'];

export function Suppressions() {
  const canManage = useCan('manage');
  const { search } = useLocation();
  const q = search.get('q') ?? '';
  const stream = search.get('stream') ?? 'transactional';
  const reason = search.get('reason') ?? '';
  const [text, setText] = useState(q);
  const [address, setAddress] = useState('');
  const [addReason, setAddReason] = useState('manual');
  const [notice, setNotice] = useState<string | null>(null);
  const key = `${q}/${stream}/${reason}`;
  const pages = usePages<Suppression>((cursor, signal) => api<Page<Suppression>>('GET', `/api/v1/suppressions${query({ q, stream, reason, cursor, limit: 50 })}`, undefined, { signal }), key);
  const rows = pages.data?.data ?? [];
  const go = (p: Record<string, string>) => navigate(`/suppressions${query({ q, stream, reason, ...p })}`);

  async function add(e: FormEvent) {
    e.preventDefault();
    try {
      const r = await api<{ added: number; updated: number }>('POST', '/api/v1/suppressions', { stream, entries: [{ address: address.trim(), reason: addReason }] });
      setNotice(r.added ? `Suppressed ${address.trim()} on ${stream}.` : `${address.trim()} was already suppressed; its entry was updated.`);
      setAddress('');
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  async function remove(s: Suppression) {
    if (!window.confirm(`Remove ${s.address} from the ${s.stream} list? Mail to it will be sent again.`)) return;
    try {
      await api('DELETE', `/api/v1/suppressions/${s.stream}/${encodeURIComponent(s.address)}`);
      setNotice(`Removed ${s.address}.`);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  async function importCsv(file: File) {
    try {
      const r = await api<{ imported: number; updated: number; rejected_count: number }>('POST', `/api/v1/suppressions/import${query({ stream })}`, undefined, { rawBody: { type: 'text/csv', data: file } });
      setNotice(`Imported ${r.imported}, updated ${r.updated}, rejected ${r.rejected_count}.`);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }

  return (
    <section>
      <h1>Suppressions</h1>
      <div className="toolbar">
        <form role="search" className="inline" onSubmit={(e) => { e.preventDefault(); go({ q: text.trim() }); }}>
          <label>Search addresses<input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="part of an address" /></label>
          <button type="submit">Search</button>
        </form>
        <label>Stream<select value={stream} onChange={(e) => go({ stream: e.target.value })}>{STREAMS.map((s) => <option key={s}>{s}</option>)}</select></label>
        <label>Reason<select value={reason} onChange={(e) => go({ reason: e.target.value })}><option value="">any</option>{REASONS.map((r) => <option key={r}>{r}</option>)}</select></label>
        <a className="button" href={`/api/v1/suppressions/export${query({ stream })}`} download={`suppressions-${stream}.csv`}>Export CSV</a>
        {canManage ? <label className="button">Import CSV<input type="file" accept=".csv,text/csv" className="sr-only" onChange={(e) => { const f = e.target.files?.[0]; if (f) void importCsv(f); e.target.value = ''; }} /></label> : null}
      </div>
      {canManage ? (
        <form className="card inline" onSubmit={add} aria-label="Suppress an address">
          <label>Address to suppress<input type="email" required value={address} onChange={(e) => setAddress(e.target.value)} placeholder="someone@example.net" /></label>
          <label>Why<select value={addReason} onChange={(e) => setAddReason(e.target.value)}>{REASONS.map((r) => <option key={r}>{r}</option>)}</select></label>
          <button type="submit" className="primary">Suppress</button>
        </form>
      ) : null}
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="suppressions" retry={pages.reload}
        empty={<p>{q || reason ? 'No suppressed address matches.' : `Nothing is suppressed on ${stream}. Hard bounces and complaints add addresses here by themselves.`}</p>}>
        <table className="list">
          <thead><tr><th scope="col">Address</th><th scope="col">Reason</th><th scope="col">Description</th><th scope="col">Since</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {rows.map((s) => (
              <tr key={s.id}>
                <td>{s.address}</td><td>{s.reason}</td>
                <td>{s.description ?? ''}{s.message_id ? <> (<Link to={`/messages/${s.message_id}`}>message</Link>)</> : null}</td>
                <td>{formatTime(s.created_at)}</td><td>{s.expires_at ? formatTime(s.expires_at) : 'never'}</td>
                <td>{canManage ? <button type="button" className="small danger" onClick={() => remove(s)}>Remove<span className="sr-only"> {s.address}</span></button> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="Suppressions" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}
