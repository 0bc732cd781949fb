import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { installFastDotStuffing, loadDataStream, stuffDots } from '../../src/delivery/dot-stuffing.ts';

async function run(DataStream: new () => import('node:stream').Transform, chunks: Buffer[]): Promise<Buffer> {
  const stream = new DataStream();
  const out: Buffer[] = [];
  stream.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => stream.on('end', resolve));
  for (const c of chunks) stream.write(c);
  stream.end();
  await done;
  return Buffer.concat(out);
}

const pieces = fc.constantFrom('a', 'line', '.', '..', '\r\n', '\r\n.', '\n', '\r', '.\r\n', 'x.y', '\r\n.\r\n');
// Mostly CRLF-only content (the fast path), sometimes with bare CR or LF (the fallback).
const crlfPieces = fc.constantFrom('a', 'line', '.', '..', '\r\n', '\r\n.', '.\r\n', 'x.y', '\r\n.\r\n');
const message = fc.oneof(
  { weight: 3, arbitrary: fc.array(crlfPieces, { maxLength: 60 }) },
  { weight: 1, arbitrary: fc.array(pieces, { maxLength: 60 }) },
).map((p) => Buffer.from(p.join('')));
const chunked = message.chain((buf) => fc.array(fc.integer({ min: 0, max: buf.length }), { maxLength: 6 }).map((cuts) => {
  const points = [...new Set(cuts)].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(buf.subarray(from, p));
    from = p;
  }
  chunks.push(buf.subarray(from));
  return chunks.filter((c) => c.length > 0);
}));

describe('RFC 5321 §4.5.2 dot-stuffing', () => {
  it('doubles dots that start a line, including at the very start', () => {
    assert.equal(stuffDots(Buffer.from('.a\r\n.b\r\nc.d\r\n..\r\n'), false).toString(), '..a\r\n..b\r\nc.d\r\n...\r\n');
    assert.equal(stuffDots(Buffer.from('.x'), 0x0a).toString(), '..x');
    assert.equal(stuffDots(Buffer.from('.x'), 0x41).toString(), '.x');
  });

  it('produces exactly what nodemailer\'s DataStream produces, for any content and chunking', async () => {
    const DataStream = await loadDataStream();
    const cases = fc.sample(chunked, { numRuns: 400, seed: 5321 });
    const expected: Buffer[] = [];
    for (const chunks of cases) expected.push(await run(DataStream, chunks));
    await installFastDotStuffing();
    for (let i = 0; i < cases.length; i++) {
      const got = await run(DataStream, cases[i]);
      assert.deepEqual(got, expected[i], `case ${i}: ${JSON.stringify(Buffer.concat(cases[i]).toString())}`);
    }
  });
});
