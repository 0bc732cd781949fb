// The dashboard shell: loads the session (GET /api/v1/session), shows the sign-in form
// without one, else the navigation for the user's kind (instance admin or tenant user)
// and the page of the current path.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, setCsrfToken, setUnauthorizedHandler } from './api.ts';
import { match, navigate, useLocation } from './router.ts';
import { SessionContext } from './session.ts';
import type { Session } from './types.ts';
import { ErrorBox, Loading } from './components/page-state.tsx';
import { Link } from './components/link.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { Overview } from './pages/overview.tsx';
import { Messages } from './pages/messages.tsx';
import { MessageView } from './pages/message-view.tsx';
import { Campaigns } from './pages/campaigns.tsx';
import { CampaignView } from './pages/campaign-view.tsx';
import { Inbox } from './pages/inbox.tsx';
import { Queue } from './pages/queue.tsx';
import { Domains } from './pages/domains.tsx';
import { Keys } from './pages/keys.tsx';
import { Webhooks } from './pages/webhooks.tsx';
import { Suppressions } from './pages/suppressions.tsx';
import { Tenants } from './pages/tenants.tsx';

interface NavItem {
  readonly path: string;
  readonly label: string;
}

const TENANT_NAV: NavItem[] = [
  { path: '/', label: 'Overview' },
  { path: '/messages', label: 'Messages' },
  { path: '/campaigns', label: 'Campaigns' },
  { path: '/inbox', label: 'Inbox' },
  { path: '/queue', label: 'Queue' },
  { path: '/domains', label: 'Domains' },
  { path: '/keys', label: 'Keys & SMTP' },
  { path: '/webhooks', label: 'Webhooks' },
  { path: '/suppressions', label: 'Suppressions' },
];

const ADMIN_NAV: NavItem[] = [{ path: '/', label: 'Tenants & users' }];

function route(path: string, session: Session): ReactNode {
  if (session.user.is_admin) return <Tenants />;
  let m: Record<string, string> | null;
  if (path === '/') return <Overview />;
  if (path === '/messages') return <Messages />;
  if ((m = match('/messages/:id', path))) return <MessageView id={m.id} back="/messages" backLabel="Messages" />;
  if (path === '/campaigns') return <Campaigns />;
  if ((m = match('/campaigns/:id', path))) return <CampaignView id={m.id} />;
  if (path === '/inbox') return <Inbox />;
  if ((m = match('/inbox/:id', path))) return <Inbox selected={m.id} />;
  if (path === '/queue') return <Queue />;
  if (path === '/domains') return <Domains />;
  if (path === '/keys') return <Keys />;
  if (path === '/webhooks') return <Webhooks />;
  if ((m = match('/webhooks/:id', path))) return <Webhooks selected={m.id} />;
  if (path === '/suppressions') return <Suppressions />;
  return <section><h1>Not found</h1><p>There is no page at {path}. <a href="/" onClick={(e) => { e.preventDefault(); navigate('/'); }}>Go to the overview</a>.</p></section>;
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const { path } = useLocation();
  const firstPath = useRef(path);

  // After a client-side navigation, move focus to the new page (a screen reader then reads
  // it, and Tab starts from the content), as a full page load would.
  useEffect(() => {
    if (path === firstPath.current) return;
    firstPath.current = path;
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [path]);

  const signedIn = useCallback((s: Session | null) => {
    setCsrfToken(s?.csrf_token ?? null);
    setSession(s);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => signedIn(null));
    api<Session>('GET', '/api/v1/session', undefined, { quiet401: true }).then(signedIn, (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) signedIn(null);
      else setError(err);
    });
    return () => setUnauthorizedHandler(null);
  }, [signedIn]);

  if (error) return <main id="main"><ErrorBox error={error} retry={() => window.location.reload()} /></main>;
  if (session === undefined) return <main id="main"><Loading what="your session" /></main>;
  if (session === null) return <SignIn onSignedIn={signedIn} />;

  const nav = session.user.is_admin ? ADMIN_NAV : TENANT_NAV;
  const section = '/' + path.split('/')[1];
  async function signOut() {
    await api('DELETE', '/api/v1/session').catch(() => undefined);
    signedIn(null);
    navigate('/');
  }

  return (
    <SessionContext.Provider value={session}>
      <a href="#main" className="skip">Skip to content</a>
      <header className="top">
        <span className="brand">Postline</span>
        <nav aria-label="Main">
          <ul>
            {nav.map((n) => <li key={n.path}><Link to={n.path} current={section === n.path}>{n.label}</Link></li>)}
          </ul>
        </nav>
        <div className="who">
          <span>{session.user.email}{session.tenant ? <> · {session.tenant.name}{session.tenant.sandbox ? ' (sandbox)' : ''} · {session.user.role}</> : ' · admin'}</span>
          <button type="button" className="small" onClick={signOut}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>{route(path, session)}</main>
    </SessionContext.Provider>
  );
}
