// The dashboard end to end (issue 6, "What it must show"): headless Chromium driven by
// playwright-core against a real Postline (startPostline, capture mode), finding elements
// by role and label as a person with a screen reader would. The same run writes the
// screenshots of docs/screenshots/ that README.md shows.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { until } from '../helpers/until.ts';
import { signInPage } from '../helpers/dashboard-sign-in.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'docs/screenshots');
const PASSWORD = 'correct horse battery staple';

interface Hook {
  readonly type: string;
}

describe('dashboard in Chromium (issue 6)', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs the Debian package chromium)` }, () => {
  let proc: PostlineProcess;
  let browser: Browser;
  let owner: BrowserContext;
  let page: Page;
  let hookServer: Server;
  const hooks: Hook[] = [];
  let base = '';
  let apiKey = '';
  let otherMessageId = '';

  /** The HTTP API with a bearer token, as a program would call it. */
  async function call(token: string, method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${base}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  async function shot(p: Page, name: string): Promise<void> {
    await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }

  const signIn = (context: BrowserContext, email: string): Promise<Page> => signInPage(context, base, email, PASSWORD);

  async function openNav(p: Page, name: string): Promise<void> {
    await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
    await p.getByRole('heading', { level: 1 }).first().waitFor();
  }

  before(async () => {
    // The UI is served from web/dist: build it when missing or stale (npm test's pretest does the same).
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-ui-if-stale.ts')], { stdio: 'inherit' });
    mkdirSync(SHOTS, { recursive: true });
    hookServer = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => {
        try {
          hooks.push(JSON.parse(body) as Hook);
        } catch {
          // not JSON: ignore
        }
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    hookServer.listen(0, '127.0.0.1');
    await once(hookServer, 'listening');
    proc = await startPostline({
      env: {
        POSTLINE_DELIVERY_MODE: 'capture', POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'false', POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true',
        POSTLINE_SMTPS_LISTEN: 'off', POSTLINE_MX_LISTEN: 'off', POSTLINE_LOG_LEVEL: 'warn',
      },
    });
    base = `http://${proc.http!.host}:${proc.http!.port}`;
    await proc.cli('tenant', 'create', 'acme');
    await proc.cli('tenant', 'create', 'globex');
    await proc.cli('user', 'create', 'owner@acme.test', '--password', PASSWORD, '--tenant', 'acme', '--role', 'owner');
    await proc.cli('user', 'create', 'viewer@acme.test', '--password', PASSWORD, '--tenant', 'acme', '--role', 'viewer');
    await proc.cli('user', 'create', 'ops@postline.test', '--password', PASSWORD, '--admin');
    // Another tenant's data, which acme's users must never see.
    const globexKey = (await proc.cli('key', 'create', '--tenant', 'globex', '--scopes', 'send,read,manage')).key as string;
    assert.equal((await call(globexKey, 'POST', '/api/v1/domains', { name: 'globex.example' })).status, 201);
    const sent = await call(globexKey, 'POST', '/api/v1/messages', { from: 'hq@globex.example', to: 'someone@example.net', subject: 'Globex secret plans', text: 'x' });
    assert.equal(sent.status, 202);
    otherMessageId = sent.body.id;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    owner = await browser.newContext({ viewport: { width: 1280, height: 860 }, timezoneId: 'Europe/Paris', locale: 'en-GB' });
    owner.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await proc?.cleanup();
    hookServer?.close();
  });

  it('sign-in: a wrong password is refused with an alert; the labelled Email and Password fields sign the owner in', async () => {
    page = await owner.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(base);
    await page.getByLabel('Email').fill('owner@acme.test');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await page.getByRole('alert').textContent() ?? '', /Wrong email or password/);
    await shot(page, 'sign-in');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const cookies = await owner.cookies();
    const session = cookies.find((c) => c.name === 'postline_session');
    assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
    assert.equal(session?.sameSite, 'Lax');
  });

  it('Domains: adding a domain shows its DNS records, each with copy buttons and a status', async () => {
    await openNav(page, 'Domains');
    await page.getByLabel('Domain name').fill('acme.test');
    await page.getByRole('button', { name: 'Add domain' }).click();
    const records = page.getByRole('table', { name: 'DNS records to publish for acme.test' });
    await records.waitFor();
    const text = await records.textContent() ?? '';
    assert.match(text, /postline-verification=/);
    assert.match(text, /_domainkey\.acme\.test/);
    assert.match(text, /v=DKIM1; k=rsa; p=/);
    assert.ok(await records.getByRole('button', { name: 'Copy dkim record value' }).count() >= 1);
    assert.ok(await records.getByRole('button', { name: 'Copy ownership record name' }).count() === 1);
    await shot(page, 'domains');
  });

  it('Keys: creating an API key shows its secret once, and the list never shows it', async () => {
    await openNav(page, 'Keys & SMTP');
    await page.getByLabel('Key name').fill('backend');
    await page.getByRole('checkbox', { name: /manage/ }).check();
    await page.getByRole('button', { name: 'Create API key' }).click();
    const secret = page.getByRole('region', { name: 'New API key' });
    apiKey = (await secret.getByTestId('secret').textContent()) ?? '';
    assert.match(apiKey, /^pl_key_[0-9A-Z]{26}_[A-Za-z0-9_-]{43}$/);
    await shot(page, 'keys');
    await secret.getByRole('button', { name: 'I have copied it' }).click();
    await secret.waitFor({ state: 'detached' });
    const list = await page.getByRole('table').first().textContent() ?? '';
    assert.match(list, /backend/);
    assert.ok(!list.includes(apiKey.slice(-20)), 'the secret is not listed');
    assert.equal((await call(apiKey, 'GET', '/api/v1/keys')).status, 200, 'the key works with the API');
  });

  it('Webhooks: a created endpoint shows its deliveries, a test ping among them, answered 200', async () => {
    await openNav(page, 'Webhooks');
    const hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/postline`;
    await page.getByLabel('Endpoint URL').fill(hookUrl);
    await page.getByRole('button', { name: 'Create webhook' }).click();
    assert.match(await page.getByRole('region', { name: 'New signing secret' }).getByTestId('secret').textContent() ?? '', /^whsec_/);
    await page.getByRole('link', { name: 'See its deliveries' }).click();
    await page.getByRole('button', { name: 'Send test ping' }).click();
    const table = page.getByRole('table', { name: /Deliveries to/ });
    await until('the test ping delivered', async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      return /webhook\.test/.test(await page.locator('main').textContent() ?? '') && /succeeded/.test(await table.textContent().catch(() => '') ?? '');
    });
    assert.ok(hooks.some((h) => h.type === 'webhook.test'), 'the endpoint received the ping');
  });

  it('capture mode: a message sent with the API key is in the Inbox (HTML, text) and in Messages with its timeline', async () => {
    const sent = await call(apiKey, 'POST', '/api/v1/messages', {
      from: 'Acme <hello@acme.test>', to: 'ann@example.net', subject: 'Welcome to Acme', tags: ['welcome'],
      text: 'Hello Ann, welcome aboard.', html: '<h1>Hello Ann</h1><p>Welcome aboard.</p><img src="https://tracker.example/p.gif" alt="">',
      attachments: [{ filename: 'terms.txt', content: Buffer.from('The terms.').toString('base64'), content_type: 'text/plain' }],
    });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const id = sent.body.id as string;
    await until('the message captured', async () => (await call(apiKey, 'GET', '/api/v1/inbox')).body.data.some((m: { id: string }) => m.id === id));

    // Remote content (the tracking pixel) must not be fetched until the user asks for it.
    const remote: string[] = [];
    await owner.route('https://tracker.example/**', (route) => {
      remote.push(route.request().url());
      return route.fulfill({ status: 204 });
    });
    await openNav(page, 'Inbox');
    await page.getByRole('list', { name: 'Captured messages' }).getByRole('link', { name: /Welcome to Acme/ }).click();
    const frame = page.frameLocator('iframe[title^="HTML of message"]');
    await frame.getByRole('heading', { name: 'Hello Ann' }).waitFor();
    assert.equal(await page.locator('iframe[title^="HTML of message"]').getAttribute('sandbox'), '', 'the preview is sandboxed');
    assert.match(await page.getByText('Remote content is blocked.').textContent() ?? '', /blocked/);
    await page.getByRole('link', { name: 'terms.txt' }).waitFor();
    await shot(page, 'inbox');
    assert.deepEqual(remote, [], 'no remote request while remote content is blocked');
    await page.getByRole('button', { name: 'Load remote content' }).click();
    await until('the remote image requested once allowed', async () => remote.length > 0);
    await page.getByRole('button', { name: 'Block remote content' }).click();
    await page.getByRole('tab', { name: 'Text' }).click();
    await page.getByText('Hello Ann, welcome aboard.').waitFor();

    await openNav(page, 'Messages');
    await page.getByRole('link', { name: 'Welcome to Acme' }).waitFor();
    await shot(page, 'messages');
    await page.getByRole('link', { name: 'Welcome to Acme' }).click();
    const timeline = page.getByRole('list', { name: 'Events' });
    await timeline.waitFor();
    const events = await timeline.textContent() ?? '';
    assert.match(events, /message\.queued/);
    assert.match(events, /message\.delivered/);
    assert.match(events, /captured \(not sent\)/);
    assert.match(await page.getByRole('table').filter({ hasText: 'Last response' }).textContent() ?? '', /Captured/);
    await shot(page, 'message');
    await until('webhook deliveries of the message events', async () => hooks.some((h) => h.type === 'message.delivered'));
  });

  it('suppression: an address suppressed in the UI is marked suppressed when a message is sent to it', async () => {
    await openNav(page, 'Suppressions');
    await page.getByLabel('Address to suppress').fill('gone@example.net');
    await page.getByRole('button', { name: 'Suppress' }).click();
    await page.getByRole('cell', { name: 'gone@example.net', exact: true }).waitFor();
    await shot(page, 'suppressions');
    const sent = await call(apiKey, 'POST', '/api/v1/messages', { from: 'hello@acme.test', to: ['gone@example.net', 'kept@example.net'], subject: 'To a suppressed address', text: 'x' });
    assert.equal(sent.status, 202);
    const byEmail = Object.fromEntries(sent.body.recipients.map((r: { email: string; status: string }) => [r.email, r.status]));
    assert.equal(byEmail['gone@example.net'], 'suppressed');
    await page.goto(`${base}/messages/${sent.body.id}`);
    const recipients = page.getByRole('table').filter({ hasText: 'Last response' });
    await recipients.getByRole('row', { name: /gone@example\.net/ }).getByText('suppressed').waitFor();
    await page.getByRole('list', { name: 'Events' }).getByText('message.suppressed').waitFor();
  });

  it('Queue and Overview: scheduled mail waits in the queue by destination; the overview counts what was sent', async () => {
    const later = await call(apiKey, 'POST', '/api/v1/messages', { from: 'hello@acme.test', to: 'later@example.org', subject: 'Later', text: 'x', send_at: new Date(Date.now() + 3600_000).toISOString() });
    assert.equal(later.status, 202);
    await openNav(page, 'Queue');
    await page.getByRole('rowheader', { name: 'example.org' }).waitFor();
    await shot(page, 'queue');
    await until('statistics counted', async () => ((await call(apiKey, 'GET', '/api/v1/stats?interval=hour')).body.totals['message.delivered'] ?? 0) >= 1);
    await openNav(page, 'Overview');
    const day = page.getByRole('table', { name: 'Last 24 hours' });
    await day.waitFor();
    assert.match(await day.getByRole('row', { name: /Delivered/ }).textContent() ?? '', /[1-9]/);
    await page.locator('figure.chart canvas').first().waitFor();
    await shot(page, 'overview');
  });

  it("a tenant viewer sees only its tenant's data and cannot write (403 even when the form is forced)", async () => {
    const viewer = await browser.newContext({ viewport: { width: 390, height: 844 }, timezoneId: 'America/New_York' });
    viewer.setDefaultTimeout(10_000);
    const v = await signIn(viewer, 'viewer@acme.test');
    await openNav(v, 'Domains');
    await v.getByRole('table', { name: 'DNS records to publish for acme.test' }).waitFor();
    assert.ok(!(await v.locator('main').textContent() ?? '').includes('globex'), "another tenant's domain is not shown");
    assert.equal(await v.getByRole('button', { name: 'Add domain' }).count(), 0, 'no write controls for a viewer');
    assert.equal(await v.getByRole('button', { name: 'Verify DNS records' }).count(), 0);
    await openNav(v, 'Inbox');
    await v.getByRole('link', { name: /Welcome to Acme/ }).waitFor();
    assert.ok(!(await v.locator('main').textContent() ?? '').includes('Globex'), "another tenant's captured mail is not shown");
    await shot(v, 'viewer-phone');
    await v.goto(`${base}/messages/${otherMessageId}`);
    assert.match(await v.getByRole('alert').textContent() ?? '', /no message/);
    await openNav(v, 'Keys & SMTP');
    await v.getByText('Only an owner of this tenant').waitFor();
    const statuses = await v.evaluate(async (foreignId) => {
      const session = await (await fetch('/api/v1/session')).json() as { csrf_token: string };
      const post = (url: string, body: unknown, csrf = true) => fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json', ...(csrf ? { 'x-csrf-token': session.csrf_token } : {}) }, body: JSON.stringify(body),
      }).then((r) => r.status);
      return {
        domain: await post('/api/v1/domains', { name: 'viewer.example' }),
        suppress: await post('/api/v1/suppressions', { entries: [{ address: 'x@example.net' }] }),
        send: await post('/api/v1/messages', { from: 'hello@acme.test', to: 'x@example.net', text: 'x' }),
        noCsrf: await post('/api/v1/domains', { name: 'viewer.example' }, false),
        foreign: await fetch(`/api/v1/messages/${foreignId}`).then((r) => r.status),
      };
    }, otherMessageId);
    assert.deepEqual(statuses, { domain: 403, suppress: 403, send: 403, noCsrf: 403, foreign: 404 });
    await viewer.close();
  });

  it('an instance admin sees every tenant and its users on Tenants & users', async () => {
    const admin = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    admin.setDefaultTimeout(10_000);
    const a = await signIn(admin, 'ops@postline.test');
    await a.getByRole('heading', { name: 'Tenants & users' }).waitFor();
    await a.getByRole('rowheader', { name: 'globex' }).waitFor();
    await a.getByRole('rowheader', { name: 'viewer@acme.test' }).waitFor();
    await shot(a, 'tenants');
    await admin.close();
    for (const file of ['postline.db', 'postline.db-wal']) {
      const path = join(proc.dataDir, file);
      if (existsSync(path)) assert.ok(!readFileSync(path).includes(Buffer.from(PASSWORD)), `no password in the clear in ${file}`);
    }
  });
});
