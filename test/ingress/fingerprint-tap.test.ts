import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FingerprintTap } from '../../src/ingress/idempotency.ts';

async function tap(chunks: string[], rcpt = ['b@x.test']): Promise<FingerprintTap> {
  const t = new FingerprintTap('a@acme.test', rcpt);
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), t, new Writable({ write: (_c, _e, cb) => cb() }));
  return t;
}

const MESSAGE = 'Subject: hi\r\nx-postline-IDEMPOTENCY-key: order-17\r\n\r\nbody line\r\n';

describe('X-Postline-Idempotency-Key fingerprint', () => {
  it('is the same however the DATA bytes are split into chunks', async () => {
    const whole = (await tap([MESSAGE])).fingerprint();
    for (let cut = 1; cut < MESSAGE.length; cut += 3) {
      assert.equal((await tap([MESSAGE.slice(0, cut), MESSAGE.slice(cut)])).fingerprint(), whole, `cut at ${cut}`);
    }
  });

  it('differs when the envelope or the body differs', async () => {
    const base = (await tap([MESSAGE])).fingerprint();
    assert.notEqual((await tap([MESSAGE], ['c@x.test'])).fingerprint(), base);
    assert.notEqual((await tap([MESSAGE.replace('body', 'Body')])).fingerprint(), base);
  });

  it('hashes nothing for a message without the header', async () => {
    const t = await tap(['Subject: hi\r\nX-Other: x-postline-idempotency-key: no\r\n\r\nbody\r\n']);
    assert.throws(() => t.fingerprint(), /no fingerprint/);
  });

  it('finds the header in a message that is all header section', async () => {
    const t = await tap(['Subject: hi\r\nX-Postline-Idempotency-Key: k1\r\n']);
    assert.match(t.fingerprint(), /^[A-Za-z0-9_-]{43}$/);
  });
});
