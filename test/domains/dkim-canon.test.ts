import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { relaxedBodyHash, relaxedHeader, splitMessage } from '../../src/domains/dkim-canon.ts';
import { headAndRelaxedBodyHash } from '../../src/domains/dkim-body-stream.ts';

const sha256 = (text: string) => createHash('sha256').update(Buffer.from(text, 'latin1')).digest('base64');

async function* chunks(buf: Buffer, cuts: number[]): AsyncIterable<Buffer> {
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const end = Math.min(cut, buf.length);
    if (end > at) yield buf.subarray(at, end);
    at = Math.max(at, end);
  }
  if (at < buf.length) yield buf.subarray(at);
}

describe('RFC 6376 §3.4 relaxed canonicalization', () => {
  it('§3.4.5 example: headers "a:X" and "b:Y Z", body " C\\r\\nD E\\r\\n"', async () => {
    const { fields, body } = splitMessage(Buffer.from('A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n'));
    assert.deepEqual(fields.map((f) => relaxedHeader(f.raw)), ['a:X', 'b:Y Z']);
    assert.equal(await relaxedBodyHash(body), sha256(' C\r\nD E\r\n'));
  });

  it('§3.4.4 hashes an empty body as the empty string, and adds the final CRLF to a body without one', async () => {
    assert.equal(await relaxedBodyHash(Buffer.alloc(0)), sha256(''));
    assert.equal(await relaxedBodyHash(Buffer.from('\r\n\r\n')), sha256(''));
    assert.equal(await relaxedBodyHash(Buffer.from('x  ')), sha256('x\r\n'));
  });

  it('RFC 5322 §2.1: the header section ends at the first empty line; without one the body is empty', () => {
    assert.equal(splitMessage(Buffer.from('From: a\r\n\r\nFrom: b\r\n')).fields.length, 1);
    const noBody = splitMessage(Buffer.from('From: a\r\nTo: b\r\n'));
    assert.deepEqual(noBody.fields.map((f) => f.name), ['from', 'to']);
    assert.equal(noBody.body.length, 0);
  });

  it('the streamed body hash of a spooled message (dkim-body-stream.ts) equals relaxedBodyHash, however the stream is cut', async () => {
    const line = fc.stringMatching(/^[ \ta-z.]{0,12}$/);
    await fc.assert(fc.asyncProperty(fc.array(line, { maxLength: 12 }), fc.boolean(), fc.array(fc.nat(200), { maxLength: 6 }), async (lines, finalCrlf, cuts) => {
      const head = 'From: a@b.example\r\nSubject: s\r\n';
      const body = lines.join('\r\n') + (finalCrlf ? '\r\n' : '');
      const raw = Buffer.from(`${head}\r\n${body}`, 'latin1');
      const streamed = await headAndRelaxedBodyHash(chunks(raw, cuts));
      assert.equal(streamed.bodyHash, await relaxedBodyHash(Buffer.from(body, 'latin1')));
      assert.equal(streamed.head.toString('latin1'), head);
    }), { numRuns: 300, seed: 4 });
  });
});
