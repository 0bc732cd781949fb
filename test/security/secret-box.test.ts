// Secrets at rest (issue 8): AES-256-GCM, versioned `v1:<iv>:<tag>:<ciphertext>`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isSealed, openSecret, openSecretOrPlain, sealSecret } from '../../src/security/index.ts';

const key = randomBytes(32);

describe('security/secret-box: sealSecret and openSecret', () => {
  it('round-trips a value in the v1 format, with a fresh IV each time', () => {
    const a = sealSecret(key, 'whsec_abc', 'ctx');
    const b = sealSecret(key, 'whsec_abc', 'ctx');
    assert.match(a, /^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    assert.notEqual(a, b);
    assert.ok(!a.includes('whsec_abc'));
    assert.equal(openSecret(key, a, 'ctx'), 'whsec_abc');
    assert.ok(isSealed(a));
  });

  it('refuses another key, another context and an altered value with SECRET_UNREADABLE', () => {
    const sealed = sealSecret(key, 'secret', 'webhook:a');
    assert.throws(() => openSecret(randomBytes(32), sealed, 'webhook:a'), { code: 'SECRET_UNREADABLE' });
    assert.throws(() => openSecret(key, sealed, 'webhook:b'), { code: 'SECRET_UNREADABLE' });
    const [v, iv, tag, ct] = sealed.split(':');
    const flipped = Buffer.from(ct, 'base64');
    flipped[0] ^= 1;
    assert.throws(() => openSecret(key, [v, iv, tag, flipped.toString('base64')].join(':'), 'webhook:a'), { code: 'SECRET_UNREADABLE' });
    assert.throws(() => openSecret(key, 'v1:zz', 'webhook:a'), { code: 'SECRET_UNREADABLE' });
  });

  it('refuses a key that is not 32 bytes with SECRET_KEY_INVALID', () => {
    assert.throws(() => sealSecret(randomBytes(16), 'x'), { code: 'SECRET_KEY_INVALID' });
  });

  it('reads legacy plaintext rows as they are (openSecretOrPlain)', () => {
    assert.equal(openSecretOrPlain(key, 'whsec_legacy'), 'whsec_legacy');
    assert.equal(openSecretOrPlain(key, sealSecret(key, 'whsec_new')), 'whsec_new');
  });
});
