import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { newWebhookSecret, signWebhook, webhookSecretKey, WebhookSecretError } from '../../src/events/index.ts';

const body = JSON.stringify({ type: 'message.delivered', timestamp: '2026-01-01T00:00:00.000Z', data: { message_id: 'm1', recipient: 'ünïcode@example.com' } });

describe('Standard Webhooks signature scheme', () => {
  it('mints secrets as whsec_ + base64 of 32 random bytes', () => {
    const secret = newWebhookSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(webhookSecretKey(secret).length, 32);
    assert.notEqual(newWebhookSecret(), secret);
  });

  it('signs "id.timestamp.body" so that the standardwebhooks package verifies it', () => {
    const secret = newWebhookSecret();
    const now = Math.floor(Date.now() / 1000);
    const headers = signWebhook(secret, 'evt_01TEST', now, body);
    assert.equal(headers['webhook-id'], 'evt_01TEST');
    assert.equal(headers['webhook-timestamp'], String(now));
    assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/);
    const payload = new Webhook(secret).verify(body, { ...headers }) as { data: { recipient: string } };
    assert.equal(payload.data.recipient, 'ünïcode@example.com');
  });

  it('matches the signature the reference implementation computes for the same input', () => {
    const secret = newWebhookSecret();
    const ts = 1_700_000_000;
    assert.equal(signWebhook(secret, 'evt_X', ts, body)['webhook-signature'], new Webhook(secret).sign('evt_X', new Date(ts * 1000), body));
  });

  it('fails verification when the body, the id or the secret differ', () => {
    const secret = newWebhookSecret();
    const headers = signWebhook(secret, 'evt_1', Math.floor(Date.now() / 1000), body);
    assert.throws(() => new Webhook(secret).verify(`${body} `, { ...headers }));
    assert.throws(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'evt_2' }));
    assert.throws(() => new Webhook(newWebhookSecret()).verify(body, { ...headers }));
  });

  it('refuses secrets that are not whsec_ + base64 of 24-64 bytes with WEBHOOK_SECRET_INVALID', () => {
    for (const bad of ['abc', 'whsec_', 'whsec_!!!!', `whsec_${Buffer.alloc(8).toString('base64')}`, `whsec_${Buffer.alloc(65).toString('base64')}`]) {
      assert.throws(() => webhookSecretKey(bad), (err: unknown) => err instanceof WebhookSecretError && err.code === 'WEBHOOK_SECRET_INVALID');
    }
  });
});

describe('docs/api.md: the verification snippets', () => {
  const docs = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const snippet = (lang: string) => {
    const m = new RegExp('```' + lang + ' webhook-verify\\n([\\s\\S]*?)```').exec(docs);
    assert.ok(m, `docs/api.md has no ${lang} webhook-verify block`);
    return m[1];
  };
  const secret = newWebhookSecret();
  const headers = signWebhook(secret, 'evt_DOCS', Math.floor(Date.now() / 1000), body);

  it('the Node snippet accepts a Postline signature and refuses a changed body', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postline-docs-'));
    try {
      const file = join(dir, 'verify.mjs');
      writeFileSync(file, snippet('js'));
      const { verifyWebhook } = await import(pathToFileURL(file).href) as { verifyWebhook: (s: string, h: object, b: string) => boolean };
      assert.equal(verifyWebhook(secret, headers, body), true);
      assert.equal(verifyWebhook(secret, headers, `${body}x`), false);
      assert.equal(verifyWebhook(secret, { ...headers, 'webhook-timestamp': '1000' }, body), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Python snippet (hmac) accepts a Postline signature and refuses a changed body', async () => {
    const program = `${snippet('python')}\nimport json, sys\nh = json.loads(sys.argv[1])\nb = sys.argv[2].encode()\nprint(json.dumps([verify_webhook(sys.argv[3], h, b), verify_webhook(sys.argv[3], h, b + b"x")]))\n`;
    const { stdout } = await promisify(execFile)('python3', ['-c', program, JSON.stringify(headers), body, secret]);
    assert.deepEqual(JSON.parse(stdout), [true, false]);
  });
});

