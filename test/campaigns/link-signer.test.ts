import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LinkSigner } from '../../src/campaigns/index.ts';
import { newId } from '../../src/store/index.ts';

describe('signed campaign links (HMAC under an HKDF subkey of the instance secret)', () => {
  const key = randomBytes(32);
  const signer = new LinkSigner(key, 'https://links.example/');
  const id = newId();

  it('verifies its own unsubscribe, open and click tokens and answers the message (and URL)', () => {
    const u = signer.unsubscribeUrl(id);
    assert.ok(u.startsWith('https://links.example/u/'));
    assert.equal(signer.verifyUnsubscribe(u.split('/u/')[1]), id);
    assert.equal(signer.verifyOpen(signer.openUrl(id).split('/t/o/')[1]), id);
    const click = new URL(signer.clickUrl(id, 'https://shop.example/x?y=1'));
    assert.deepEqual(signer.verifyClick(click.pathname.split('/t/c/')[1], click.searchParams.get('u')!), { messageId: id, url: 'https://shop.example/x?y=1' });
  });

  it('refuses tokens of another key, of another message, of another purpose, and click links to another URL', () => {
    const other = new LinkSigner(randomBytes(32), 'https://links.example');
    const token = signer.unsubscribeToken(id);
    assert.equal(other.verifyUnsubscribe(token), null);
    assert.equal(signer.verifyUnsubscribe(`${newId()}.${token.split('.')[1]}`), null);
    assert.equal(signer.verifyOpen(`${token}.gif`), null, 'an unsubscribe MAC is not an open MAC');
    const click = new URL(signer.clickUrl(id, 'https://shop.example/'));
    assert.equal(signer.verifyClick(click.pathname.split('/t/c/')[1], Buffer.from('https://evil.example/').toString('base64url')), null);
    assert.equal(signer.verifyUnsubscribe(''), null);
    assert.equal(signer.verifyUnsubscribe('../../etc.passwd'), null);
  });
});

describe('the MAC is HMAC-SHA-256 (RFC 2104), checked against node:crypto createHmac', () => {
  it('matches createHmac over the same subkey and text', async () => {
    const { createHmac, hkdfSync } = await import('node:crypto');
    const key = randomBytes(32);
    const id = newId();
    const sub = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'postline campaign links v1', 32));
    const expected = createHmac('sha256', sub).update(`unsubscribe\0${id}\0`).digest().subarray(0, 16).toString('base64url');
    assert.equal(new LinkSigner(key, 'https://l.example').unsubscribeToken(id), `${id}.${expected}`);
  });
});
