// API keys and SMTP credentials: create (the secret is shown once), revoke or delete, and
// when each was last used. Both need the manage scope: a viewer sees an explanation.
import { useState, type FormEvent } from 'react';
import { api, type Page } from '../api.ts';
import { usePages } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { useCan } from '../session.ts';
import type { ApiKey, Scope, SmtpCredential } from '../types.ts';
import { Pager, PageState, errorText } from '../components/page-state.tsx';
import { SecretOnce } from '../components/copy-button.tsx';

const SCOPES: Array<[Scope, string]> = [['send', 'send mail'], ['read', 'read messages, events, statistics'], ['manage', 'manage keys, domains, webhooks']];

function ApiKeys() {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Set<Scope>>(new Set(['send', 'read']));
  const [created, setCreated] = useState<ApiKey | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const pages = usePages<ApiKey>((cursor, signal) => api<Page<ApiKey>>('GET', `/api/v1/keys?limit=50${cursor ? `&cursor=${cursor}` : ''}`, undefined, { signal }), 'keys');
  const rows = pages.data?.data ?? [];

  async function create(e: FormEvent) {
    e.preventDefault();
    try {
      const k = await api<ApiKey>('POST', '/api/v1/keys', { name: name.trim(), scopes: [...scopes] });
      setCreated(k);
      setName('');
      setNotice(null);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  async function revoke(k: ApiKey) {
    if (!window.confirm(`Revoke the key "${k.name}"? Requests with it will be refused at once.`)) return;
    try {
      await api('DELETE', `/api/v1/keys/${k.id}`);
      setNotice(`Revoked ${k.name}.`);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }

  return (
    <section aria-labelledby="keys-h">
      <h2 id="keys-h">API keys</h2>
      <form className="card stack" onSubmit={create} aria-label="Create an API key">
        <label>Key name<input type="text" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} placeholder="backend" /></label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map(([s, what]) => (
            <label key={s} className="check">
              <input type="checkbox" checked={scopes.has(s)} onChange={(e) => {
                const n = new Set(scopes);
                if (e.target.checked) n.add(s);
                else n.delete(s);
                setScopes(n);
              }} /> {s} <span className="muted">({what})</span>
            </label>
          ))}
        </fieldset>
        <button type="submit" className="primary" disabled={scopes.size === 0}>Create API key</button>
      </form>
      {created?.key ? <SecretOnce label="API key" value={created.key} onDone={() => setCreated(null)} /> : null}
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="API keys" empty={<p>No API key yet: create one above to send with the HTTP API.</p>}>
        <table className="list">
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {rows.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td><td><code>{k.id}</code></td><td>{k.scopes.join(', ')}</td>
                <td>{formatTime(k.created_at)}</td><td>{k.last_used_at ? formatTime(k.last_used_at) : 'never'}</td>
                <td><button type="button" className="small danger" onClick={() => revoke(k)}>Revoke<span className="sr-only"> {k.name}</span></button></td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="API keys" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}

function SmtpCredentials() {
  const [username, setUsername] = useState('');
  const [created, setCreated] = useState<SmtpCredential | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const pages = usePages<SmtpCredential>((cursor, signal) => api<Page<SmtpCredential>>('GET', `/api/v1/smtp-credentials?limit=50${cursor ? `&cursor=${cursor}` : ''}`, undefined, { signal }), 'creds');
  const rows = pages.data?.data ?? [];

  async function create(e: FormEvent) {
    e.preventDefault();
    try {
      const c = await api<SmtpCredential>('POST', '/api/v1/smtp-credentials', username.trim() ? { username: username.trim() } : {});
      setCreated(c);
      setUsername('');
      setNotice(null);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  async function remove(c: SmtpCredential) {
    if (!window.confirm(`Delete the SMTP credential ${c.username}? AUTH with it will fail.`)) return;
    try {
      await api('DELETE', `/api/v1/smtp-credentials/${c.id}`);
      setNotice(`Deleted ${c.username}.`);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }

  return (
    <section aria-labelledby="smtp-h">
      <h2 id="smtp-h">SMTP credentials</h2>
      <form className="card inline" onSubmit={create} aria-label="Create SMTP credentials">
        <label>Username (optional)<input type="text" value={username} onChange={(e) => setUsername(e.target.value)} placeholder="generated from the tenant name" /></label>
        <button type="submit" className="primary">Create SMTP credentials</button>
      </form>
      {created?.password ? <SecretOnce label={`password for ${created.username}`} value={created.password} onDone={() => setCreated(null)} /> : null}
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="SMTP credentials" empty={<p>No SMTP credentials yet: create some to submit over SMTP (ports 587/465, AUTH PLAIN or LOGIN).</p>}>
        <table className="list">
          <thead><tr><th scope="col">Username</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id}>
                <td><code>{c.username}</code></td><td>{formatTime(c.created_at)}</td><td>{c.last_used_at ? formatTime(c.last_used_at) : 'never'}</td>
                <td><button type="button" className="small danger" onClick={() => remove(c)}>Delete<span className="sr-only"> {c.username}</span></button></td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="SMTP credentials" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}

export function Keys() {
  const canManage = useCan('manage');
  return (
    <section>
      <h1>Keys &amp; SMTP credentials</h1>
      {canManage ? <><ApiKeys /><SmtpCredentials /></> : <p className="empty">Only an owner of this tenant can see and create API keys and SMTP credentials.</p>}
    </section>
  );
}
