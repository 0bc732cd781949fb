// Tenants and users, for instance admins: create tenants (sandbox or live), and dashboard
// users (admins, or owners and viewers of a tenant); delete either.
import { useState, type FormEvent } from 'react';
import { api, query, type Page } from '../api.ts';
import { usePages } from '../hooks.ts';
import { formatTime } from '../format.ts';
import type { Tenant, User } from '../types.ts';
import { Pager, PageState, errorText } from '../components/page-state.tsx';

function TenantsSection({ onChanged }: { onChanged: () => void }) {
  const [name, setName] = useState('');
  const [sandbox, setSandbox] = useState(true);
  const [notice, setNotice] = useState<string | null>(null);
  const pages = usePages<Tenant>((cursor, signal) => api<Page<Tenant>>('GET', `/api/v1/tenants${query({ cursor, limit: 50 })}`, undefined, { signal }), 'tenants');
  const rows = pages.data?.data ?? [];
  async function create(e: FormEvent) {
    e.preventDefault();
    try {
      const t = await api<Tenant>('POST', '/api/v1/tenants', { name: name.trim(), sandbox });
      setNotice(`Created tenant ${t.name}${t.sandbox ? ' (sandbox: its mail is captured)' : ''}. Add a user for it below.`);
      setName('');
      pages.reload();
      onChanged();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  async function patch(t: Tenant, body: Record<string, unknown>, done: string) {
    try {
      await api('PATCH', `/api/v1/tenants/${t.id}`, body);
      setNotice(done);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  async function remove(t: Tenant) {
    if (!window.confirm(`Delete tenant ${t.name} with its domains, keys, messages and users?`)) return;
    try {
      await api('DELETE', `/api/v1/tenants/${t.id}`);
      setNotice(`Deleted ${t.name}.`);
      pages.reload();
      onChanged();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  return (
    <section aria-labelledby="tenants-h">
      <h2 id="tenants-h">Tenants</h2>
      <form className="card inline" onSubmit={create} aria-label="Create a tenant">
        <label>Tenant name<input type="text" required pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,62}" value={name} onChange={(e) => setName(e.target.value)} /></label>
        <label className="check"><input type="checkbox" checked={sandbox} onChange={(e) => setSandbox(e.target.checked)} /> Sandbox (capture mail, send nothing)</label>
        <button type="submit" className="primary">Create tenant</button>
      </form>
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="tenants" empty={<p>No tenant yet: create one above (an app, a shop, a newsletter).</p>}>
        <table className="list">
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Mode</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {rows.map((t) => (
              <tr key={t.id}>
                <th scope="row">{t.name}</th><td><code>{t.id}</code></td><td>{t.sandbox ? 'sandbox' : 'live'}</td><td>{formatTime(t.created_at)}</td>
                <td className="actions">
                  <button type="button" className="small" onClick={() => patch(t, { sandbox: !t.sandbox }, `${t.name} is now ${t.sandbox ? 'live' : 'a sandbox'}.`)}>{t.sandbox ? 'Go live' : 'Make sandbox'}<span className="sr-only"> {t.name}</span></button>
                  <button type="button" className="small danger" onClick={() => remove(t)}>Delete<span className="sr-only"> {t.name}</span></button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="Tenants" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}

function UsersSection({ tick }: { tick: number }) {
  const [form, setForm] = useState({ email: '', password: '', kind: 'owner', tenant: '' });
  const [notice, setNotice] = useState<string | null>(null);
  const pages = usePages<User>((cursor, signal) => api<Page<User>>('GET', `/api/v1/users${query({ cursor, limit: 50 })}`, undefined, { signal }), `users/${tick}`);
  const tenants = usePages<Tenant>((cursor, signal) => api<Page<Tenant>>('GET', `/api/v1/tenants${query({ cursor, limit: 100 })}`, undefined, { signal }), `tenants/${tick}`);
  const tenantList = tenants.data?.data ?? [];
  const names = new Map(tenantList.map((t) => [t.id, t.name]));
  const rows = pages.data?.data ?? [];
  async function create(e: FormEvent) {
    e.preventDefault();
    const admin = form.kind === 'admin';
    try {
      const u = await api<User>('POST', '/api/v1/users', admin
        ? { email: form.email.trim(), password: form.password, is_admin: true }
        : { email: form.email.trim(), password: form.password, tenant: form.tenant || tenantList[0]?.id, role: form.kind });
      setNotice(`Created ${u.email}.`);
      setForm({ ...form, email: '', password: '' });
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  async function remove(u: User) {
    if (!window.confirm(`Delete the user ${u.email}? They are signed out at once.`)) return;
    try {
      await api('DELETE', `/api/v1/users/${u.id}`);
      setNotice(`Deleted ${u.email}.`);
      pages.reload();
    } catch (err) {
      setNotice(errorText(err));
    }
  }
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      <form className="card inline" onSubmit={create} aria-label="Create a user">
        <label>User email<input type="email" required value={form.email} onChange={set('email')} /></label>
        <label>Initial password<input type="password" required minLength={10} autoComplete="new-password" value={form.password} onChange={set('password')} /></label>
        <label>Role<select value={form.kind} onChange={set('kind')}><option value="owner">tenant owner</option><option value="viewer">tenant viewer</option><option value="admin">instance admin</option></select></label>
        {form.kind !== 'admin' ? (
          <label>Tenant<select value={form.tenant} onChange={set('tenant')}>{tenantList.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}</select></label>
        ) : null}
        <button type="submit" className="primary" disabled={form.kind !== 'admin' && tenantList.length === 0}>Create user</button>
      </form>
      {notice ? <p role="status">{notice}</p> : null}
      <PageState loading={pages.loading} error={pages.error} isEmpty={rows.length === 0} what="users" empty={<p>No users yet.</p>}>
        <table className="list">
          <thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Tenant</th><th scope="col">Last sign-in</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {rows.map((u) => (
              <tr key={u.id}>
                <th scope="row">{u.email}</th><td>{u.is_admin ? 'instance admin' : u.role}</td><td>{u.tenant_id ? names.get(u.tenant_id) ?? u.tenant_id : '—'}</td>
                <td>{u.last_login_at ? formatTime(u.last_login_at) : 'never'}</td>
                <td><button type="button" className="small danger" onClick={() => remove(u)}>Delete<span className="sr-only"> {u.email}</span></button></td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager label="Users" pageNumber={pages.pageNumber} next={pages.next} previous={pages.previous} />
      </PageState>
    </section>
  );
}

export function Tenants() {
  const [tick, setTick] = useState(0);
  return (
    <section>
      <h1>Tenants &amp; users</h1>
      <TenantsSection onChanged={() => setTick((t) => t + 1)} />
      <UsersSection tick={tick} />
    </section>
  );
}
