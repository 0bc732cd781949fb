// Domains: each sending domain's DNS records with copy buttons and their live status
// (verify looks them up now), DKIM rotation, add and remove.
import { useState, type FormEvent } from 'react';
import { api, type Page } from '../api.ts';
import { usePages } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { useCan } from '../session.ts';
import type { Domain } from '../types.ts';
import { Pager, PageState, errorText } from '../components/page-state.tsx';
import { CopyButton } from '../components/copy-button.tsx';
import { StatusBadge } from '../components/status-badges.tsx';

function DomainCard({ domain, canManage, onChanged }: { domain: Domain; canManage: boolean; onChanged: (d: Domain | null, msg: string) => void }) {
  const [busy, setBusy] = useState<string | null>(null);
  async function run(label: string, method: string, path: string, done: (d: Domain | undefined) => string) {
    if (label === 'Delete' && !window.confirm(`Remove ${domain.name} and its DKIM keys? Mail from it will no longer be accepted.`)) return;
    setBusy(label);
    try {
      const d = await api<Domain | undefined>(method, path);
      onChanged(d ?? null, done(d));
    } catch (err) {
      onChanged(domain, errorText(err));
    } finally {
      setBusy(null);
    }
  }
  const base = `/api/v1/domains/${domain.id}`;
  return (
    <section className="card domain" aria-labelledby={`dom-${domain.id}`}>
      <h2 id={`dom-${domain.id}`}>{domain.name} {domain.verified ? <StatusBadge status="verified" /> : <StatusBadge status="unverified" />}</h2>
      <p className="muted">Added {formatTime(domain.created_at)} · last checked {formatTime(domain.checked_at)} · return path {domain.return_path_ok ? 'in place' : 'not found'}</p>
      {canManage ? (
        <div className="toolbar">
          <button type="button" disabled={busy !== null} onClick={() => run('Verify', 'POST', `${base}/verify`, (d) => d?.verified ? `${domain.name} is verified.` : `${domain.name} is not verified yet: publish the records marked missing or wrong.`)}>
            {busy === 'Verify' ? 'Checking DNS…' : 'Verify DNS records'}
          </button>
          <button type="button" disabled={busy !== null} onClick={() => run('Rotate', 'POST', `${base}/dkim/rotate`, () => `New DKIM key for ${domain.name}: publish its record, then verify.`)}>Rotate DKIM key</button>
          <button type="button" className="danger" disabled={busy !== null} onClick={() => run('Delete', 'DELETE', base, () => `Removed ${domain.name}.`)}>Delete domain</button>
        </div>
      ) : null}
      <table className="list records">
        <caption>DNS records to publish for {domain.name}</caption>
        <thead><tr><th scope="col">Purpose</th><th scope="col">Type</th><th scope="col">Name</th><th scope="col">Value</th><th scope="col">Status</th></tr></thead>
        <tbody>
          {domain.records.map((r, i) => (
            <tr key={`${r.purpose}-${r.name}-${i}`}>
              <td>{r.purpose}{r.selector ? <span className="muted"> ({r.selector}, {r.key_status})</span> : null}</td>
              <td>{r.type}</td>
              <td><code>{r.name}</code> <CopyButton value={r.name} label={`${r.purpose} record name`} /></td>
              <td className="value"><code>{r.expected ?? r.value}</code> <CopyButton value={r.expected ?? r.value} label={`${r.purpose} record value`} />
                {r.warning ? <p className="warning">{r.warning}</p> : null}</td>
              <td><StatusBadge status={r.status} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function Domains() {
  const canManage = useCan('manage');
  const [name, setName] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const pages = usePages<Domain>((cursor, signal) => api<Page<Domain>>('GET', `/api/v1/domains?limit=20${cursor ? `&cursor=${cursor}` : ''}`, undefined, { signal }), String(tick));
  const rows = pages.data?.data ?? [];

  async function add(e: FormEvent) {
    e.preventDefault();
    try {
      const d = await api<Domain>('POST', '/api/v1/domains', { name: name.trim() });
      setNotice(`Added ${d.name}: publish the records below at your DNS host, then verify.`);
      setName('');
      setTick((t) => t + 1);
    } catch (err) {
      setNotice(errorText(err));
    }
  }

  return (
    <section>
      <h1>Domains</h1>
      {canManage ? (
        <form className="card inline" onSubmit={add} aria-label="Add a domain">
          <label>Domain name<input type="text" required value={name} onChange={(e) => setName(e.target.value)} placeholder="mail.example.com" /></label>
          <button type="submit" className="primary">Add domain</button>
        </form>
      ) : null}
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="domains" retry={pages.reload}
        empty={<p>No sending domain yet. {canManage ? 'Add the domain you send from above' : 'An owner of this tenant can add one'}: Postline answers the DNS records (ownership, DKIM, SPF, DMARC, return path) to publish.</p>}>
        {rows.map((d) => <DomainCard key={d.id} domain={d} canManage={canManage} onChanged={(_d, msg) => { setNotice(msg); pages.reload(); }} />)}
        <Pager label="Domains" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}
