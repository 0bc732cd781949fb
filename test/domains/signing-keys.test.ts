import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { listDkimKeys } from '../../src/store/index.ts';
import { clearSigningKeyCache, createDomain, dkimSignatureHeaders, domainView, loadSigningKeys, rotateDkim, verifyDomain, SIGNING_KEY_CACHE_TTL_MS } from '../../src/domains/index.ts';
import { DnsResolver } from '../../src/delivery/dns-resolver.ts';
import { startDomainFixture, type DomainFixture } from './domain-fixture.ts';

describe('signing keys for delivery (loadSigningKeys)', () => {
  let f: DomainFixture;
  before(async () => {
    f = await startDomainFixture({ 'domains.dkim_ed25519': true });
  });
  after(() => f.close());

  it('gives the active RSA and Ed25519 keys of the owning domain, also for a subdomain (d= is the domain)', async () => {
    const { domain } = await createDomain(f.ctx, f.tenantId, 'keys.example');
    const keys = await loadSigningKeys(f.store.db, f.ctx.secretKey, 'news.keys.example', { now: f.clock });
    assert.deepEqual(keys.map((k) => [k.domain, k.selector, k.algorithm]), [['keys.example', 'pl20261127r', 'rsa-sha256'], ['keys.example', 'pl20261127e', 'ed25519-sha256']]);
    assert.match(keys[0].privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.deepEqual(await loadSigningKeys(f.store.db, f.ctx.secretKey, 'unknown.example'), []);
    assert.deepEqual(await loadSigningKeys(f.store.db, f.ctx.secretKey, 'keys.example', { tenantId: 'ten_other' }), []);
    assert.ok(domain.id);
  });

  it('never signs with pending keys; a rotation reaches signing after its record verifies and the cache TTL (~60 s)', async () => {
    const { domain } = await createDomain(f.ctx, f.tenantId, 'rotate.example');
    const before = await loadSigningKeys(f.store.db, f.ctx.secretKey, 'rotate.example', { now: f.clock });
    f.clock += 1000;
    await rotateDkim(f.ctx, domain);
    clearSigningKeyCache(f.store.db);
    assert.deepEqual((await loadSigningKeys(f.store.db, f.ctx.secretKey, 'rotate.example', { now: f.clock })).map((k) => k.selector), before.map((k) => k.selector));

    f.publish(domainView(domain, await listDkimKeys(f.store.db, domain.id), f.ctx.settings));
    await verifyDomain(f.ctx, domain);
    // Cached for the TTL: the old (now retiring, still published) keys keep signing meanwhile.
    assert.deepEqual((await loadSigningKeys(f.store.db, f.ctx.secretKey, 'rotate.example', { now: f.clock })).map((k) => k.selector), ['pl20261127r', 'pl20261127e']);
    const after = await loadSigningKeys(f.store.db, f.ctx.secretKey, 'rotate.example', { now: f.clock + SIGNING_KEY_CACHE_TTL_MS + 1 });
    assert.deepEqual(after.map((k) => k.selector), ['pl20261127r2', 'pl20261127e2']);

    // Mail signed before and after the switch verifies while both records are published.
    const resolver = new DnsResolver({ servers: [f.dns.address], timeoutMs: 1000, maxCacheTtlMs: 0 });
    const message = Buffer.from('From: a@rotate.example\r\nTo: b@example.net\r\nSubject: s\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\nbody\r\n');
    for (const keys of [before, after]) {
      const signed = Buffer.concat([Buffer.from(await dkimSignatureHeaders(message, keys)), message]);
      const result = await dkimVerify(signed, { resolver: (name: string, type: string) => resolver.resolve(name, type) as Promise<never> });
      assert.deepEqual(result.results.map((r) => r.status.result), ['pass', 'pass']);
    }
  });
});
