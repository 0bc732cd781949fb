// Issue 8: nothing secret in logs. A real server runs at `trace` level while the test uses
// every kind of secret, well and badly: SMTP passwords (AUTH PLAIN, good and bad), API keys
// (good, wrong secret), the admin token (good and wrong), a webhook signing secret (created,
// then used to sign a test call). Then its stderr, every log-like file in the data dir and
// the database itself are searched for each secret, raw and base64-encoded: none may appear.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp } from '../helpers/smtp-talk.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../events/webhook-receiver.ts';
import { signWebhook } from '../../src/events/index.ts';

let proc: PostlineProcess;
let receiver: WebhookReceiver;
let base: string;

before(async () => {
  receiver = await startWebhookReceiver();
  proc = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    env: { POSTLINE_LOG_LEVEL: 'trace', POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  base = `http://${proc.http!.host}:${proc.http!.port}`;
});

after(async () => {
  await proc?.cleanup();
  await receiver?.close();
});

const call = async (method: string, path: string, token: string | null, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};

/** Files under `dir`, recursively. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...await walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('Issue 8: no secret reaches the logs or the database in clear', () => {
  it('after AUTH, API keys, the admin token and a webhook secret are used, none appears in stderr, log files or postline.db', async () => {
    const adminToken = (await readFile(join(proc.dataDir, 'admin-token'), 'utf8')).trim();
    const secrets = new Map<string, string>([['admin token', adminToken], ['SMTP password (CLI)', proc.credential!.password]]);

    // Admin token, good and wrong.
    assert.equal((await call('GET', '/api/v1/tenants', adminToken)).status, 200);
    const wrongAdmin = `${adminToken.slice(0, -4)}XXXX`;
    secrets.set('wrong admin token', wrongAdmin);
    assert.equal((await call('GET', '/api/v1/tenants', wrongAdmin)).status, 401);

    // API keys: minted by the admin, used, used with a wrong secret.
    const tenants = await call('GET', '/api/v1/tenants', adminToken);
    const tenantId = (tenants.body.data as Array<{ id: string; name: string }>).find((t) => t.name === 'acme')!.id;
    const key = await call('POST', `/api/v1/tenants/${tenantId}/keys`, adminToken, { name: 'app', scopes: ['send', 'read', 'manage'] });
    assert.equal(key.status, 201);
    secrets.set('API key', key.body.key);
    assert.equal((await call('GET', '/api/v1/keys', key.body.key)).status, 200);
    const wrongKey = `${(key.body.key as string).slice(0, -6)}ZZZZZZ`;
    secrets.set('wrong API key', wrongKey);
    assert.equal((await call('GET', '/api/v1/keys', wrongKey)).status, 401);

    // An SMTP credential made over the API, then AUTH with it and with a wrong password.
    const cred = await call('POST', '/api/v1/smtp-credentials', key.body.key, {});
    assert.equal(cred.status, 201);
    secrets.set('SMTP password (API)', cred.body.password);
    const wrongPassword = 'Not-The-Password-7f3a9c1e';
    secrets.set('wrong SMTP password', wrongPassword);
    const smtp = await connectSmtp({ host: proc.smtp.host, port: proc.smtp.port });
    try {
      await smtp.ehlo();
      await smtp.startTls();
      await smtp.ehlo();
      assert.equal((await smtp.authPlain(cred.body.username, wrongPassword)).code, 535);
      assert.equal((await smtp.authPlain(cred.body.username, cred.body.password)).code, 235);
    } finally {
      smtp.close();
    }

    // A webhook: its secret is answered once, then signs a test call (so it was stored and opened).
    const hook = await call('POST', '/api/v1/webhooks', key.body.key, { url: receiver.url });
    assert.equal(hook.status, 201);
    const whsec = hook.body.secret as string;
    assert.match(whsec, /^whsec_/);
    secrets.set('webhook secret', whsec);
    assert.equal((await call('POST', `/api/v1/webhooks/${hook.body.id}/test`, key.body.key)).status, 202);
    const [got] = await receiver.waitFor(1, 10_000);
    const ts = Number(got.headers['webhook-timestamp']);
    assert.equal(got.headers['webhook-signature'], signWebhook(whsec, String(got.headers['webhook-id']), ts, got.body)['webhook-signature']);

    const secretKey = (await readFile(join(proc.dataDir, 'secret.key'), 'utf8')).trim();
    await proc.stop();

    const haystacks: Array<[string, string]> = [['stderr', proc.logs()]];
    for (const file of await walk(proc.dataDir)) {
      // The files that are the secrets themselves, and the TLS key.
      if (/(admin-token|secret\.key|\.pem|\.key)$/.test(file)) continue;
      haystacks.push([file, (await readFile(file)).toString('latin1')]);
    }
    // On PostgreSQL the database is not a file of the data dir: search a dump of it (bytea
    // columns dump as hex, so the hex forms are searched too).
    const dbUrl = proc.env.POSTLINE_DATABASE_URL;
    if (dbUrl) haystacks.push(['pg_dump of the database', execFileSync('pg_dump', ['--data-only', dbUrl], { maxBuffer: 512 * 1024 * 1024 }).toString('latin1')]);
    secrets.set('secret key', secretKey);
    assert.ok(haystacks.some(([name]) => name.endsWith('postline.db') || name.startsWith('pg_dump')), 'the database was searched');
    for (const [what, secret] of secrets) {
      const forms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')];
      if (what.includes('SMTP password')) forms.push(Buffer.from(`\0${cred.body.username}\0${secret}`).toString('base64'));
      if (what === 'webhook secret') forms.push(secret.slice('whsec_'.length));
      for (const form of forms) {
        for (const [name, text] of haystacks) assert.ok(!text.includes(form), `${what} found in ${name}`);
      }
    }
  });
});
