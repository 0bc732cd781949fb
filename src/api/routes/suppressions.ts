// Suppression lists: the addresses a tenant must not send to, per stream, and why. List with
// filters, look up, add (one or many), remove, and CSV import and export. Addresses are
// matched in one normalised form (store/repos/suppressions.ts): trimmed, lower-cased, domain
// in A-labels; an expired entry counts nowhere. The `text/csv` parser is registered inside
// this plugin only, so no other route accepts CSV.
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  MAX_SUPPRESSION_DESCRIPTION_CHARS, SUPPRESSION_REASONS, SUPPRESSION_STREAMS, addSuppressions, getSuppression, listSuppressionsPage,
  normaliseSuppressionAddress, removeSuppression, type SuppressionTable,
} from '../../store/index.ts';
import { tenantIdOf } from '../auth.ts';
import { audit, auditActorOf } from '../audit.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { isoTime, noContent, timestamp } from '../schemas.ts';
import { CsvError } from '../csv.ts';
import { MAX_REJECTED_LISTED, SuppressionCsvError, exportSuppressionsCsv, importSuppressionsCsv } from '../suppression-csv.ts';

/** At most this many entries per POST. */
const MAX_ENTRIES = 1000;
/** Room for 1,000 entries with descriptions. */
const ADD_BODY_LIMIT_BYTES = 2 * 1024 * 1024;
/** A CSV upload: ~1 M addresses. Read as a stream, so the cap bounds time, not memory. */
export const IMPORT_BODY_LIMIT_BYTES = 32 * 1024 * 1024;
/** Addresses are listed in audit details up to this many entries; beyond, only counts. */
const AUDIT_ADDRESSES = 20;

const stream = z.enum(SUPPRESSION_STREAMS);
const reason = z.enum(SUPPRESSION_REASONS);

const address = z.string().max(320).transform((value, ctx) => {
  const normal = normaliseSuppressionAddress(value);
  if (normal === undefined) {
    ctx.addIssue({ code: 'custom', message: 'not a valid email address' });
    return z.NEVER;
  }
  return normal;
}).describe('Stored trimmed and lower-cased, with the domain in A-labels (IDNA)');

const futureTime = z.iso.datetime({ offset: true }).transform((value, ctx) => {
  const ms = Date.parse(value);
  if (ms <= Date.now()) {
    ctx.addIssue({ code: 'custom', message: 'must be in the future' });
    return z.NEVER;
  }
  return ms;
});

const entrySchema = z.strictObject({
  address,
  reason: reason.default('manual'),
  description: z.string().trim().max(MAX_SUPPRESSION_DESCRIPTION_CHARS).nullable().optional(),
  expires_at: futureTime.nullable().optional().describe('RFC 3339; absent or null: permanent'),
});

const addBody = z.strictObject({
  stream: stream.default('transactional'),
  entries: z.array(entrySchema).min(1).max(MAX_ENTRIES),
});

export const suppressionSchema = z.object({
  id: z.string(),
  stream,
  address: z.string(),
  reason: reason.describe('complaint > unsubscribe > hard_bounce > manual: adding an address again keeps the stronger reason'),
  description: z.string().nullable(),
  message_id: z.string().nullable().describe('The message that caused the entry, if any'),
  created_at: timestamp,
  expires_at: timestamp.nullable().describe('null: permanent'),
}).meta({ id: 'Suppression' });

const addedSchema = z.object({
  added: z.number().int().describe('Addresses newly suppressed'),
  updated: z.number().int().describe('Addresses already suppressed (merged: stronger reason, later expiry)'),
  data: z.array(suppressionSchema).describe('Each distinct address as now stored'),
});

const listQuery = pageQuery.extend({
  stream: stream.optional(),
  reason: reason.optional(),
  q: z.string().trim().min(1).max(320).optional().describe('Part of the address (case-insensitive)'),
  created_after: z.iso.datetime({ offset: true }).optional().describe('Entries created at or after this time'),
  created_before: z.iso.datetime({ offset: true }).optional().describe('Entries created before this time'),
});

const entryParams = z.object({ stream, address: z.string().min(1).max(400) });
const csvQuery = z.object({ stream: stream.default('transactional') });

const importSchema = z.object({
  imported: z.number().int().describe('Addresses newly suppressed'),
  updated: z.number().int().describe('Addresses already suppressed (merged)'),
  rejected: z.array(z.object({ line: z.number().int(), address: z.string(), error: z.string() }))
    .describe(`Rows not imported, by the line they start on (the header is line 1); the first ${MAX_REJECTED_LISTED}`),
  rejected_count: z.number().int(),
}).meta({ id: 'SuppressionImport' });

export function suppressionJson(s: SuppressionTable): z.output<typeof suppressionSchema> {
  return {
    id: s.id, stream: s.stream, address: s.address, reason: s.reason, description: s.description, message_id: s.message_id,
    created_at: isoTime(s.created_at), expires_at: isoTime(s.expires_at),
  };
}

function notFound(stream: string, addr: string): ApiProblem {
  return new ApiProblem('not-found', `${addr.slice(0, 320)} is not on the ${stream} suppression list`);
}

/** RFC 9110 §8.3.1: `text/csv` (RFC 7111), UTF-8 or no charset; anything else is 415 before the body is read. */
async function assertCsvUpload(request: FastifyRequest): Promise<void> {
  const [type = '', ...params] = String(request.headers['content-type'] ?? '').toLowerCase().split(';').map((s) => s.trim());
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (type !== 'text/csv' || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    throw new ApiProblem('unsupported-media-type', 'the request body must be text/csv (UTF-8)', { headers: { accept: 'text/csv' } });
  }
  const length = Number(request.headers['content-length']);
  if (length > IMPORT_BODY_LIMIT_BYTES) throw new ApiProblem('payload-too-large', `a CSV import is at most ${IMPORT_BODY_LIMIT_BYTES} bytes; split the file`);
}

/** The upload's chunks, refused with 413 past the cap (a chunked upload has no Content-Length to check first). */
async function* capped(body: Readable, maxBytes: number): AsyncGenerator<Buffer> {
  let n = 0;
  // Not destroyed on an early stop: the 413 still has to reach the client.
  for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > maxBytes) throw new ApiProblem('payload-too-large', `a CSV import is at most ${maxBytes} bytes; split the file`);
    yield chunk;
  }
}

/** Aborts when the client goes away before the response is written. */
function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new ApiProblem('malformed-request', 'the client closed the connection', { code: 'API_CLIENT_GONE' }));
  });
  return ac.signal;
}

const tags = ['suppressions'];

export const suppressionRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;

  // The parser hands the request stream to the import handler as it arrives (no buffering).
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));

  app.route({
    method: 'GET', url: '/api/v1/suppressions', config: { scope: 'read' },
    schema: { tags, summary: 'List suppressed addresses', description: 'Oldest first; expired entries are not listed.', querystring: listQuery, response: { 200: pageOf(suppressionSchema) } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const q = request.query;
      const filter = {
        stream: q.stream, reason: q.reason, address_contains: q.q,
        created_after: q.created_after === undefined ? undefined : Date.parse(q.created_after),
        created_before: q.created_before === undefined ? undefined : Date.parse(q.created_before),
      };
      const page = await paginate(q, (p) => listSuppressionsPage(store.db, tenantId, filter, p), (s) => s.id);
      return { data: page.data.map(suppressionJson), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/suppressions', config: { scope: 'manage' }, bodyLimit: ADD_BODY_LIMIT_BYTES,
    schema: {
      tags, summary: 'Suppress addresses (one or many)',
      description: `1-${MAX_ENTRIES} entries. An address already suppressed on the stream keeps the stronger reason (complaint > unsubscribe > hard_bounce > manual) and the later expiry; a permanent entry stays permanent. An invalid address answers 400 with a pointer such as /entries/3/address, and nothing is stored.`,
      body: addBody, response: { 200: addedSchema },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const b = request.body;
      const entries = b.entries.map((e) => ({ stream: b.stream, address: e.address, reason: e.reason, description: e.description || null, expiresAt: e.expires_at ?? null }));
      const result = await store.write(async (trx) => {
        const r = await addSuppressions(trx, tenantId, entries);
        await audit(trx, request, 'suppression.added', { tenantId, id: r.rows.length === 1 ? r.rows[0].id : null }, {
          stream: b.stream, added: r.added, updated: r.updated,
          ...(r.rows.length <= AUDIT_ADDRESSES ? { addresses: r.rows.map((row) => row.address) } : {}),
        });
        return r;
      });
      return { added: result.added, updated: result.updated, data: result.rows.map(suppressionJson) };
    },
  });

  app.route({
    // The handler runs while the CSV uploads: a large file over a slow link needs longer than http.handler_timeout.
    method: 'POST', url: '/api/v1/suppressions/import', config: { scope: 'manage', handlerTimeoutMs: 30 * 60_000 }, bodyLimit: IMPORT_BODY_LIMIT_BYTES,
    onRequest: assertCsvUpload,
    schema: {
      tags, summary: 'Import suppressed addresses from CSV',
      description: `Content-Type: text/csv (RFC 4180, UTF-8), at most ${IMPORT_BODY_LIMIT_BYTES / 1024 / 1024} MiB. The header row names the columns: address (or email) is required; reason, description and expires_at (RFC 3339) are optional; others (such as an export's created_at) are ignored. Rows are written in batches as they arrive; invalid rows are reported by line and skipped. Addresses merge as in POST /api/v1/suppressions.`,
      consumes: ['text/csv'],
      querystring: csvQuery,
      body: z.any().describe('CSV text, header row first: address,reason,description,expires_at'),
      response: { 200: importSchema },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const body = request.body;
      if (!(body instanceof Readable)) throw new ApiProblem('unsupported-media-type', 'the request body must be text/csv (UTF-8)', { headers: { accept: 'text/csv' } });
      try {
        return await importSuppressionsCsv(store, tenantId, capped(body, IMPORT_BODY_LIMIT_BYTES), {
          stream: request.query.stream, actor: auditActorOf(request), signal: clientGone(reply),
        });
      } catch (err) {
        // The rest of the upload is never read: close the connection after the answer rather
        // than leave it waiting for a body no one reads (RFC 9112 §9.6).
        if (!body.readableEnded) reply.header('connection', 'close');
        if (err instanceof SuppressionCsvError || err instanceof CsvError) {
          throw new ApiProblem('validation', err.message, { code: err.code, errors: [{ in: 'body', pointer: '', detail: err.message }] });
        }
        throw err;
      }
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/suppressions/export', config: { scope: 'read' },
    schema: {
      tags, summary: 'Export suppressed addresses as CSV',
      description: 'text/csv (RFC 4180, CRLF line ends), streamed: address,reason,description,created_at,expires_at; one stream per file (default transactional). POST it back to /api/v1/suppressions/import to copy a list.',
      querystring: csvQuery,
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const s = request.query.stream;
      // Readable.from pauses the generator while the client is slow, and stops it if the client goes away.
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="suppressions-${s}.csv"`)
        .send(Readable.from(exportSuppressionsCsv(store, tenantId, s)));
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/suppressions/:stream/:address', config: { scope: 'read' },
    schema: { tags, summary: 'Look up one address', description: 'Any form of the address (case, IDN); 404 when it is not suppressed on the stream.', params: entryParams, response: { 200: suppressionSchema } },
    handler: async (request) => {
      const { stream: s, address: a } = request.params;
      const row = await getSuppression(store.db, tenantIdOf(request), s, a);
      if (!row) throw notFound(s, a);
      return suppressionJson(row);
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/suppressions/:stream/:address', config: { scope: 'manage' },
    schema: { tags, summary: 'Remove an address (it may be sent to again)', params: entryParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const { stream: s, address: a } = request.params;
      const removed = await store.write(async (trx) => {
        const row = await removeSuppression(trx, tenantId, s, a);
        if (row) await audit(trx, request, 'suppression.removed', { tenantId, id: row.id }, { stream: s, address: row.address, reason: row.reason });
        return row;
      });
      if (!removed) throw notFound(s, a);
      return reply.code(204).send();
    },
  });
};
