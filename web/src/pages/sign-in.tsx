// The sign-in form: labelled Email and Password fields, errors announced to screen readers.
import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api.ts';
import type { Session } from '../types.ts';

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api<Session>('POST', '/api/v1/session', { email, password }, { quiet401: true }));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'WEB_SIGNIN_THROTTLED') setError(`Too many failed sign-ins. ${err.message}.`);
      else if (err instanceof ApiError && err.status === 401) setError('Wrong email or password.');
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="signin">
      <h1>Sign in to Postline</h1>
      <form onSubmit={submit} className="card stack">
        <label>Email<input type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} /></label>
        <label>Password<input type="password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} /></label>
        {error ? <p role="alert" className="error">{error}</p> : null}
        <button type="submit" className="primary" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      <p className="muted">No account yet? An operator creates one with <code>postline user create EMAIL --password … --admin</code> (or <code>--tenant NAME --role owner</code>).</p>
    </main>
  );
}
