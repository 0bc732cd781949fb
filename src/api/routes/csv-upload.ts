// Shared pieces of the CSV upload routes of contact lists: the media-type check before the
// body is read, a byte cap on the stream, and an abort signal for a client that goes away.
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiProblem } from '../problem.ts';

/** A contact import: ~5 M rows of a typical export. Read as a stream, so the cap bounds time, not memory. */
export const CONTACT_IMPORT_BODY_LIMIT_BYTES = 512 * 1024 * 1024;

/** RFC 9110 §8.3.1: `text/csv` (RFC 7111), UTF-8 or no charset; anything else is 415 before the body is read. */
export async function assertCsvUpload(request: FastifyRequest): Promise<void> {
  const [type = '', ...params] = String(request.headers['content-type'] ?? '').toLowerCase().split(';').map((s) => s.trim());
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (type !== 'text/csv' || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    throw new ApiProblem('unsupported-media-type', 'the request body must be text/csv (UTF-8)', { headers: { accept: 'text/csv' } });
  }
  const length = Number(request.headers['content-length']);
  if (length > CONTACT_IMPORT_BODY_LIMIT_BYTES) throw new ApiProblem('payload-too-large', `a CSV import is at most ${CONTACT_IMPORT_BODY_LIMIT_BYTES} bytes; split the file`);
}

/** The upload's chunks, refused with 413 past the cap (a chunked upload has no Content-Length to check first). */
export async function* capped(body: Readable, maxBytes: number): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > maxBytes) throw new ApiProblem('payload-too-large', `a CSV import is at most ${maxBytes} bytes; split the file`);
    yield chunk;
  }
}

/** Aborts when the client goes away before the response is written. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new ApiProblem('malformed-request', 'the client closed the connection', { code: 'API_CLIENT_GONE' }));
  });
  return ac.signal;
}
