import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { VerpCodec } from '../../src/feedback/verp.ts';

describe('VERP return paths', () => {
  const key = randomBytes(32);
  const verp = new VerpCodec(key, 'pl-bounces');

  it('builds <prefix>+<token>@<prefix>.<domain> and reads the recipient back, whatever the case', () => {
    const address = verp.address(123_456, 'Acme.Test');
    assert.match(address, /^pl-bounces\+[0-9a-z]+-[0-9a-f]{16}@pl-bounces\.acme\.test$/);
    assert.deepEqual(verp.match(address), { recipientId: 123_456 });
    assert.deepEqual(verp.match(address.toUpperCase()), { recipientId: 123_456 });
  });

  it('calls a token with a wrong MAC, another recipient id or another instance key forged', () => {
    const address = verp.address(42, 'acme.test');
    const [local, domain] = address.split('@');
    const flipped = local.slice(0, -1) + (local.endsWith('0') ? '1' : '0');
    assert.equal(verp.match(`${flipped}@${domain}`), 'forged');
    const other = verp.address(43, 'acme.test').split('@')[0].split('-').pop();
    assert.equal(verp.match(`pl-bounces+${(42).toString(36)}-${other}@${domain}`), 'forged');
    assert.equal(new VerpCodec(randomBytes(32), 'pl-bounces').match(address), 'forged');
    assert.equal(verp.match(`pl-bounces+garbage@${domain}`), 'forged');
  });

  it('leaves addresses that are not in the VERP form alone', () => {
    assert.equal(verp.match('postmaster@acme.test'), null);
    assert.equal(verp.match('pl-bounces@pl-bounces.acme.test'), null);
    assert.equal(verp.match('pl-bounces+x@mail.acme.test'), null);
  });
});
