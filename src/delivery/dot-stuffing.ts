// RFC 5321 §4.5.2 dot-stuffing for outbound DATA, fast. nodemailer's DataStream inspects
// every byte in JavaScript (a fifth of the delivery thread's CPU on 100 KB messages). Our
// stored messages already use CRLF only (intake refuses bare CR/LF, DSNs and composed mail
// are built with CRLF), so a chunk without bare CR or LF needs only its line-leading dots
// doubled, which Buffer.indexOf finds in native code. A chunk with a bare CR or LF falls
// back to nodemailer's own byte loop, so the output is the same in every case.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Transform, TransformCallback } from 'node:stream';

type DataStreamLike = Transform & { inByteCount: number; outByteCount: number; lastByte: number | false };
type TransformFn = (this: DataStreamLike, chunk: Buffer | string, encoding: BufferEncoding, done: TransformCallback) => void;

const DOT = Buffer.from('.');

/** True when every CR in `chunk` is followed by LF and every LF preceded by CR (given the byte before). */
function onlyCrlf(chunk: Buffer, prev: number | false): boolean {
  if (prev === 0x0d && chunk[0] !== 0x0a) return false;
  for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) {
    if ((i > 0 ? chunk[i - 1] : prev) !== 0x0d) return false;
  }
  for (let i = chunk.indexOf(0x0d); i >= 0 && i < chunk.length - 1; i = chunk.indexOf(0x0d, i + 1)) {
    if (chunk[i + 1] !== 0x0a) return false;
  }
  return true;
}

/** Doubles each dot that starts a line; `prev` is the byte before the chunk (false at the start). */
export function stuffDots(chunk: Buffer, prev: number | false): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  if (chunk[0] === 0x2e && (prev === 0x0a || prev === false)) {
    parts.push(DOT);
  }
  for (let i = chunk.indexOf('\n.'); i >= 0; i = chunk.indexOf('\n.', i + 1)) {
    parts.push(chunk.subarray(from, i + 1), DOT);
    from = i + 1;
  }
  if (parts.length === 0) return chunk;
  parts.push(chunk.subarray(from));
  return Buffer.concat(parts);
}

let installed = false;

/** Replaces nodemailer's DataStream transform with the fast path above, once per process. */
export async function installFastDotStuffing(): Promise<void> {
  if (installed) return;
  installed = true;
  // data-stream is not in nodemailer's export map; load the very module its SMTP client uses.
  const entry = createRequire(import.meta.url).resolve('nodemailer/lib/smtp-connection');
  const file = join(dirname(entry), 'data-stream.js').replace(`${join('dist', 'cjs')}`, join('dist', 'esm'));
  const mod = (await import(pathToFileURL(file).href)) as { default: { prototype: { _transform: TransformFn } } };
  const proto = mod.default.prototype;
  const original = proto._transform;
  proto._transform = function fastTransform(chunk, encoding, done) {
    if (typeof chunk === 'string' || chunk.length === 0 || !onlyCrlf(chunk, this.lastByte)) {
      return original.call(this, chunk, encoding, done);
    }
    this.inByteCount += chunk.length;
    const out = stuffDots(chunk, this.lastByte);
    this.outByteCount += out.length;
    this.lastByte = chunk[chunk.length - 1];
    this.push(out);
    done();
  };
}

/** For tests: nodemailer's own transform, to compare against. */
export async function loadDataStream(): Promise<new () => DataStreamLike> {
  const entry = createRequire(import.meta.url).resolve('nodemailer/lib/smtp-connection');
  const file = join(dirname(entry), 'data-stream.js').replace(`${join('dist', 'cjs')}`, join('dist', 'esm'));
  return ((await import(pathToFileURL(file).href)) as { default: new () => DataStreamLike }).default;
}
