import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertWebhookUrlAllowed, guardedLookup, parseWebhookUrl, WebhookUrlError } from '../../src/events/index.ts';

const refusedWith = (code: string) => (err: unknown) => err instanceof WebhookUrlError && err.code === code;

describe('webhook URL SSRF guard', () => {
  it('takes http and https URLs only, without credentials (WEBHOOK_URL_INVALID)', () => {
    assert.equal(parseWebhookUrl('https://hooks.example.com/x?y=1').href, 'https://hooks.example.com/x?y=1');
    for (const bad of ['ftp://example.com/', 'file:///etc/passwd', 'gopher://example.com', 'javascript:alert(1)', 'not a url', 'https://user:pw@example.com/', `https://example.com/${'a'.repeat(3000)}`]) {
      assert.throws(() => parseWebhookUrl(bad), refusedWith('WEBHOOK_URL_INVALID'), bad);
    }
  });

  it('refuses loopback, private, link-local and unspecified addresses (WEBHOOK_URL_PRIVATE)', async () => {
    for (const u of ['http://127.0.0.1/', 'http://10.1.2.3/', 'http://192.168.0.1/', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/', 'http://[fe80::1]/', 'http://0.0.0.0/', 'http://[::ffff:127.0.0.1]/', 'http://localhost:8080/']) {
      await assert.rejects(assertWebhookUrlAllowed(parseWebhookUrl(u), { allowPrivate: false }), refusedWith('WEBHOOK_URL_PRIVATE'), u);
    }
  });

  it('accepts a public address, and a private one when webhooks.allow_private is set', async () => {
    assert.deepEqual(await assertWebhookUrlAllowed(parseWebhookUrl('https://1.1.1.1/hook'), { allowPrivate: false }), ['1.1.1.1']);
    assert.deepEqual(await assertWebhookUrlAllowed(parseWebhookUrl('http://127.0.0.1:9/hook'), { allowPrivate: true }), ['127.0.0.1']);
  });

  it('refuses a host that does not resolve (WEBHOOK_URL_UNRESOLVABLE)', async () => {
    await assert.rejects(assertWebhookUrlAllowed(parseWebhookUrl('https://no-such-host.invalid/'), { allowPrivate: false }), refusedWith('WEBHOOK_URL_UNRESOLVABLE'));
  });

  it('makes the socket lookup itself refuse a name that resolves to loopback (no DNS rebinding window)', async () => {
    const lookup = guardedLookup(false);
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => lookup('localhost', { all: true }, (e) => resolve(e)));
    assert.equal(err?.code, 'WEBHOOK_URL_PRIVATE');
    const ok = await new Promise<unknown>((resolve) => guardedLookup(true)('localhost', { all: false }, (e, address) => resolve(e ?? address)));
    assert.match(String(ok), /^(127\.0\.0\.1|::1)$/);
  });
});
