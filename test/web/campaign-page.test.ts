// Issue 9, "a campaign page in the dashboard": headless Chromium (playwright-core) against a
// real Postline delivering to an SMTP sink through the test DNS. A campaign created and sent
// with the API reaches the sink (one address refused 550, one deferred 452); opens, clicks
// and a one-click unsubscribe come in through its real links; the Campaigns list and the
// campaign page then show exactly what GET /api/v1/campaigns/{id}/report answers. Pause,
// Resume and Cancel (confirmed) work from the page with the keyboard, and a user of another
// tenant sees none of it. Writes docs/screenshots/campaign.png.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import PostalMime from 'postal-mime';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDeliveryRig, type DeliveryRig } from '../queue/delivery-harness.ts';
import { until as untilDone } from '../helpers/until.ts';
import { apiCall } from '../helpers/api-call.ts';
import { signInPage } from '../helpers/dashboard-sign-in.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'docs/screenshots');
const PASSWORD = 'correct horse battery staple';
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const SINK = '127.0.0.2';
const RCPT_DOMAIN = 'rcpt.test';
const LINKS = 'http://links.acme.test';
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36';

type Reply = { status: number; body: any; text: string };

/** The cells of each body row of the table captioned `caption`, as the page shows them. */
async function tableRows(page: Page, caption: string): Promise<string[][]> {
  const table = page.getByRole('table', { name: caption, exact: true });
  await table.waitFor();
  const rows: string[][] = [];
  for (const row of await table.locator('tbody > tr').all()) rows.push((await row.locator('th, td').allTextContents()).map((t) => t.trim()));
  return rows;
}

function rate(n: number, of: number): string {
  return of ? `${((n / of) * 100).toFixed(1)} %` : '—';
}

describe('Issue 9: the campaign pages in Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs the Debian package chromium)` }, () => {
  let rig: DeliveryRig;
  let browser: Browser;
  let owner: BrowserContext;
  let base = '';
  let acmeKey = '';
  let globexKey = '';
  let listId = '';
  let reportedId = '';
  let globexCampaign = '';
  let configDir = '';

  const call = (key: string, method: string, path: string, body?: unknown, type?: string): Promise<Reply> => apiCall(base, key, method, path, body, type);
  const acme = (method: string, path: string, body?: unknown, type?: string) => call(acmeKey, method, path, body, type);

  const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 20_000) => untilDone(what, probe, timeoutMs, 150);
  const signIn = (context: BrowserContext, email: string): Promise<Page> => signInPage(context, base, email, PASSWORD);

  async function newCampaign(key: string, name: string, list: string, from: string, rate: number): Promise<string> {
    const c = await call(key, 'POST', '/api/v1/campaigns', {
      name, from, subject: `${name} for {{contact.name}}`, text: 'Hello {{contact.name}}', rate_per_minute: rate, lists: [list],
      html: '<p>Hello {{contact.name}}</p><p><a href="https://shop.example/sale">Sale</a> · <a href="https://shop.example/blog">Blog</a></p>',
    });
    assert.equal(c.status, 201, c.text);
    return c.body.id;
  }

  async function stateShown(p: Page): Promise<string> {
    return (await p.locator('main p.state .badge').textContent() ?? '').trim();
  }

  before(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-ui-if-stale.ts')], { stdio: 'inherit' });
    mkdirSync(SHOTS, { recursive: true });
    // Opens and clicks right after delivery would otherwise count as a scanner's (no POSTLINE_* variable sets this).
    configDir = mkdtempSync(join(tmpdir(), 'postline-campaign-page-'));
    const configFile = join(configDir, 'postline.yaml');
    writeFileSync(configFile, 'campaigns:\n  scanner_click_window: 1ms\n');
    rig = await startDeliveryRig({
      sinks: [{ host: SINK, rcptRules: { [`c3@${RCPT_DOMAIN}`]: '550 5.1.1 No such user', [`c4@${RCPT_DOMAIN}`]: '452 4.2.2 Mailbox full' } }],
      domains: ['acme.test'],
      env: {
        POSTLINE_API_KEY_RATE: '0', POSTLINE_CAMPAIGNS_TICK_INTERVAL: '100ms', POSTLINE_CAMPAIGNS_PUBLIC_URL: LINKS, POSTLINE_LOG_LEVEL: 'warn',
        POSTLINE_CONFIG: configFile, POSTLINE_ADMIN_TOKEN: ADMIN_TOKEN, POSTLINE_SMTPS_LISTEN: 'off', POSTLINE_MX_LISTEN: 'off',
      },
    });
    rig.dns.mx(RCPT_DOMAIN, [`mx.${RCPT_DOMAIN}`]);
    rig.dns.a(`mx.${RCPT_DOMAIN}`, SINK);
    base = `http://${rig.postline.http!.host}:${rig.postline.http!.port}`;
    // Set-up through the admin API: each `postline` CLI call would start a Node process.
    const admin = (method: string, path: string, body?: unknown) => call(ADMIN_TOKEN, method, path, body);
    const keyOf = async (tenant: string) => {
      const k = await admin('POST', `/api/v1/tenants/${tenant}/keys`, { name: 'campaign page test', scopes: ['send', 'read', 'manage'] });
      assert.equal(k.status, 201, k.text);
      return k.body.key as string;
    };
    assert.equal((await admin('POST', '/api/v1/tenants', { name: 'globex' })).status, 201);
    acmeKey = await keyOf('acme');
    globexKey = await keyOf('globex');
    for (const [email, tenant, role] of [['owner@acme.test', 'acme', 'owner'], ['viewer@acme.test', 'acme', 'viewer'], ['owner@globex.test', 'globex', 'owner']]) {
      const u = await admin('POST', '/api/v1/users', { email, password: PASSWORD, tenant, role });
      assert.equal(u.status, 201, u.text);
    }

    const l = await acme('POST', '/api/v1/lists', { name: 'Customers' });
    assert.equal(l.status, 201, l.text);
    listId = l.body.id;
    const csv = `email,name\n${[0, 1, 2, 3, 4].map((i) => `c${i}@${RCPT_DOMAIN},Customer ${i}`).join('\n')}\n`;
    const imported = await acme('POST', `/api/v1/lists/${listId}/import`, csv, 'text/csv');
    assert.equal(imported.status, 200, imported.text);
    // Another tenant's campaign (a draft), which acme must never see.
    assert.equal((await call(globexKey, 'POST', '/api/v1/domains', { name: 'globex.example' })).status, 201);
    const gl = await call(globexKey, 'POST', '/api/v1/lists', { name: 'Globex list' });
    await call(globexKey, 'POST', `/api/v1/lists/${gl.body.id}/import`, `email,name\nx@${RCPT_DOMAIN},X\n`, 'text/csv');
    globexCampaign = await newCampaign(globexKey, 'Globex secret launch', gl.body.id, 'hq@globex.example', 60);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    owner = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Paris', locale: 'en-GB' });
    owner.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await rig?.close();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  it('the campaign page shows the figures of GET /api/v1/campaigns/{id}/report: delivered, bounced hard/soft, unsubscribed, opens and clicks (people, total, machine), per link', async () => {
    reportedId = await newCampaign(acmeKey, 'Spring sale', listId, 'Acme News <news@acme.test>', 6000);
    const sent = await acme('POST', `/api/v1/campaigns/${reportedId}/send`);
    assert.equal(sent.status, 200, sent.text);
    const sink = rig.sink(SINK);
    await sink.waitFor((ms) => ms.filter((m) => m.raw.includes('Spring sale')).length >= 3, 20_000);
    await until('the campaign sent, 3 delivered, 1 refused, 1 deferred', async () => {
      const r = (await acme('GET', `/api/v1/campaigns/${reportedId}/report`)).body;
      return r.status === 'sent' && r.delivered === 3 && r.bounced.hard === 1 && r.bounced.soft >= 1;
    });

    // The recipients act through the links of the message they got.
    const links = new Map<string, { pixel: string; clicks: Map<string, string>; unsubscribe: string }>();
    for (const m of sink.messages.filter((x) => x.raw.includes('Spring sale'))) {
      const mail = await PostalMime.parse(m.raw);
      const html = (mail.html ?? '').replaceAll('&amp;', '&');
      const clicks = new Map<string, string>();
      for (const [, path] of html.matchAll(/http:\/\/links\.acme\.test(\/t\/c\/[^"'\s>]+)/g)) {
        clicks.set(Buffer.from(new URL(path, base).searchParams.get('u')!, 'base64url').toString(), path);
      }
      const unsubscribe = new RegExp(`<${LINKS.replaceAll('.', '\\.')}(/u/[^>]+)>`).exec(mail.headers.find((h) => h.key === 'list-unsubscribe')?.value ?? '')![1];
      links.set(m.rcptTo[0], { pixel: /http:\/\/links\.acme\.test(\/t\/o\/[^"'\s>]+)/.exec(html)![1], clicks, unsubscribe });
    }
    const c0 = links.get(`c0@${RCPT_DOMAIN}`)!;
    const c1 = links.get(`c1@${RCPT_DOMAIN}`)!;
    const c2 = links.get(`c2@${RCPT_DOMAIN}`)!;
    const get = (path: string, ua: string) => fetch(`${base}${path}`, { headers: { 'user-agent': ua }, redirect: 'manual' }).then((r) => r.status);
    assert.equal(await get(c0.pixel, BROWSER_UA), 200);
    assert.equal(await get(c0.pixel, BROWSER_UA), 200);
    assert.equal(await get(c1.pixel, 'Mozilla/5.0'), 200, 'an Apple MPP-style prefetch');
    assert.equal(await get(c0.clicks.get('https://shop.example/sale')!, BROWSER_UA), 302);
    assert.equal(await get(c1.clicks.get('https://shop.example/sale')!, BROWSER_UA), 302);
    assert.equal(await get(c1.clicks.get('https://shop.example/blog')!, 'curl/8.5.0'), 302, 'a scanner');
    const unsub = await fetch(`${base}${c2.unsubscribe}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    assert.equal(unsub.status, 200);

    const page = await signIn(owner, 'owner@acme.test');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Campaigns' }).click();
    await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    const row = page.getByRole('row', { name: /Spring sale/ });
    await row.waitFor();
    assert.match(await row.textContent() ?? '', /sent/);
    assert.equal(await page.getByText('Globex secret launch').count(), 0, "another tenant's campaign is not listed");
    await row.getByRole('link', { name: 'Spring sale' }).click();
    await page.getByRole('heading', { name: 'Campaign Spring sale', level: 1 }).waitFor();

    // A deferred recipient may be retried meanwhile: compare one report with one page load.
    let mismatch = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await page.reload();
      const before = (await acme('GET', `/api/v1/campaigns/${reportedId}/report`)).body;
      const shown = {
        sending: await tableRows(page, 'Sending'), outcomes: await tableRows(page, 'Outcomes'),
        engagement: await tableRows(page, 'Opens and clicks'), links: await tableRows(page, 'Clicks per link'),
      };
      const r = (await acme('GET', `/api/v1/campaigns/${reportedId}/report`)).body;
      if (JSON.stringify(before) !== JSON.stringify(r)) continue;
      const expected = {
        sending: [
          ['Audience now', `${r.audience.total} (${r.audience.subscribed} subscribed)`], ['Sent', String(r.queued)],
          ['Skipped, suppressed', String(r.skipped.suppressed)], ['Skipped, unsubscribed', String(r.skipped.unsubscribed)], ['Pending', String(r.pending)],
        ],
        outcomes: [
          ['Delivered', String(r.delivered)], ['Bounced, hard', String(r.bounced.hard)], ['Bounced, soft (deferrals)', String(r.bounced.soft)],
          ['Complained', String(r.complained)], ['Unsubscribed', String(r.unsubscribed)], ['Bounce rate', rate(r.bounced.hard, r.queued)],
        ],
        engagement: [
          ['Opened', String(r.opened.unique), String(r.opened.total), String(r.opened.machine)],
          ['Clicked', String(r.clicked.unique), String(r.clicked.total), String(r.clicked.machine)],
        ],
        links: r.clicked.links.map((l: { url: string; unique: number; total: number }) => [l.url, String(l.unique), String(l.total)]),
      };
      try {
        assert.deepEqual(shown, expected);
        mismatch = '';
        // What the recipients did, as the report counts it.
        assert.equal(r.queued, 5);
        assert.equal(r.delivered, 3);
        assert.equal(r.bounced.hard, 1);
        assert.equal(r.unsubscribed, 1);
        assert.deepEqual(r.opened, { total: 2, unique: 1, machine: 1 });
        assert.deepEqual(r.clicked.links, [{ url: 'https://shop.example/sale', total: 2, unique: 2 }]);
        assert.equal(r.clicked.machine, 1);
        break;
      } catch (err) {
        mismatch = (err as Error).message;
      }
    }
    assert.equal(mismatch, '', 'the page shows the report');
    assert.equal(await stateShown(page), 'sent');
    assert.equal(await page.getByRole('button', { name: 'Pause' }).count(), 0, 'a sent campaign has no actions');
    await page.locator('figure.chart canvas').waitFor();
    await page.screenshot({ path: join(SHOTS, 'campaign.png'), fullPage: true });
  });

  it('Pause and Resume (keyboard, focus kept) and Cancel after confirmation change the state shown, as the API says', async () => {
    // One message a minute: the first is due a minute after the start, so it stays "sending".
    const id = await newCampaign(acmeKey, 'Slow drip', listId, 'news@acme.test', 1);
    assert.equal((await acme('POST', `/api/v1/campaigns/${id}/send`)).status, 200);
    const page = await owner.newPage();
    await page.goto(`${base}/campaigns/${id}`);
    await page.getByRole('heading', { name: 'Campaign Slow drip', level: 1 }).waitFor();
    assert.equal(await stateShown(page), 'sending');
    const actions = page.getByRole('group', { name: 'Campaign actions' });

    await actions.getByRole('button', { name: 'Pause' }).focus();
    await page.keyboard.press('Enter');
    await actions.getByRole('button', { name: 'Resume' }).waitFor();
    assert.equal(await stateShown(page), 'paused');
    assert.equal((await acme('GET', `/api/v1/campaigns/${id}`)).body.status, 'paused');
    assert.match(await page.getByRole('status').filter({ hasText: 'Paused' }).textContent() ?? '', /no further message/);
    assert.equal(await page.locator(':focus').textContent(), 'Resume', 'focus stays on the button');

    await page.keyboard.press('Enter');
    await actions.getByRole('button', { name: 'Pause' }).waitFor();
    await until('the page shows sending', async () => (await stateShown(page)) === 'sending');
    assert.equal((await acme('GET', `/api/v1/campaigns/${id}`)).body.status, 'sending');

    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); void d.dismiss(); });
    await actions.getByRole('button', { name: 'Cancel campaign' }).click();
    await until('the confirmation asked', async () => asked);
    assert.match(asked, /Cancel the campaign “Slow drip”/);
    assert.equal((await acme('GET', `/api/v1/campaigns/${id}`)).body.status, 'sending', 'dismissed: nothing changed');

    page.once('dialog', (d) => void d.accept());
    await actions.getByRole('button', { name: 'Cancel campaign' }).click();
    await until('the page shows cancelled', async () => (await stateShown(page)) === 'cancelled');
    assert.equal((await acme('GET', `/api/v1/campaigns/${id}`)).body.status, 'cancelled');
    assert.equal(await actions.count(), 0, 'a cancelled campaign has no actions');
    await page.getByRole('link', { name: '← Campaigns' }).click();
    assert.match(await page.getByRole('row', { name: /Slow drip/ }).textContent() ?? '', /cancelled/);
    await page.close();
  });

  it("a viewer gets no action buttons, and a user of another tenant can neither list, open nor act on acme's campaign (404)", async () => {
    const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    viewerContext.setDefaultTimeout(10_000);
    const v = await signIn(viewerContext, 'viewer@acme.test');
    await v.goto(`${base}/campaigns/${reportedId}`);
    await v.getByRole('table', { name: 'Outcomes' }).waitFor();
    assert.equal(await v.getByRole('group', { name: 'Campaign actions' }).count(), 0);
    await viewerContext.close();

    const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    other.setDefaultTimeout(10_000);
    const g = await signIn(other, 'owner@globex.test');
    await g.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Campaigns' }).click();
    await g.getByRole('row', { name: /Globex secret launch/ }).waitFor();
    assert.ok(!(await g.locator('main').textContent() ?? '').includes('Spring sale'), "acme's campaigns are not listed");
    await g.goto(`${base}/campaigns/${reportedId}`);
    assert.match(await g.getByRole('alert').textContent() ?? '', /no campaign/);
    const statuses = await g.evaluate(async (id) => {
      const { csrf_token: csrf } = await (await fetch('/api/v1/session')).json() as { csrf_token: string };
      return {
        get: await fetch(`/api/v1/campaigns/${id}`).then((r) => r.status),
        report: await fetch(`/api/v1/campaigns/${id}/report`).then((r) => r.status),
        cancel: await fetch(`/api/v1/campaigns/${id}/cancel`, { method: 'POST', headers: { 'x-csrf-token': csrf } }).then((r) => r.status),
      };
    }, reportedId);
    assert.deepEqual(statuses, { get: 404, report: 404, cancel: 404 });
    assert.equal((await call(globexKey, 'GET', `/api/v1/campaigns/${globexCampaign}`)).body.status, 'draft');
    await other.close();
  });
});
