// A message's content as a reader sees it: the text and HTML bodies and the list of
// attachments (MIME parsed with postal-mime), and each attachment's bytes. The dashboard's
// message view and the capture inbox use these; any API client may.
import type { Readable } from 'node:stream';
import { z } from 'zod';
import PostalMime, { type Attachment, type Email } from 'postal-mime';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { getTenantMessage, type Store } from '../../store/index.ts';
import { messageBodyReader } from '../message-body.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem } from '../problem.ts';

/**
 * Messages up to this size are parsed: postal-mime works on the main thread at roughly
 * 50-100 MB/s, so this bounds one request's CPU to well under 100 ms. Larger ones: /raw.
 */
export const MAX_PARSE_BYTES = 8 * 1024 * 1024;
/** Inline images (cid:) up to this many bytes in all are embedded in `html` as data: URIs. */
const MAX_INLINE_BYTES = 2 * 1024 * 1024;

const attachmentSchema = z.object({
  index: z.number().int().describe('GET /api/v1/messages/{id}/attachments/{index} answers its bytes'),
  filename: z.string().nullable(),
  content_type: z.string(),
  disposition: z.string().nullable().describe('attachment, inline, or null'),
  content_id: z.string().nullable().describe('Without angle brackets; the HTML refers to it as cid:…'),
  size: z.number().int().describe('Bytes, decoded'),
});

const contentSchema = z.object({
  id: z.string(),
  subject: z.string().nullable().describe('Decoded (RFC 2047 encoded words)'),
  text: z.string().nullable(),
  html: z.string().nullable().describe('As sent, except that cid: references to inline images are data: URIs (up to 2 MiB in all); render it sandboxed'),
  attachments: z.array(attachmentSchema),
}).meta({ id: 'MessageContent' });

const attachmentParams = z.object({ id: z.string().min(1).max(200), index: z.coerce.number().int().min(0).max(10_000) });

function bytesOf(a: Attachment): Uint8Array {
  if (typeof a.content === 'string') return Buffer.from(a.content, a.encoding === 'base64' ? 'base64' : 'utf8');
  return a.content instanceof Uint8Array ? a.content : new Uint8Array(a.content);
}

function contentIdOf(a: Attachment): string | null {
  return a.contentId ? a.contentId.replace(/^<|>$/g, '') : null;
}

async function readAll(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function parsed(store: Store, openBody: (id: string) => Promise<Buffer | Readable>, tenantId: string, id: string): Promise<{ email: Email; messageId: string }> {
  const m = await getTenantMessage(store.db, tenantId, id);
  if (!m) throw new ApiProblem('not-found', `no message ${id}`);
  if (Number(m.has_body) !== 1) {
    throw new ApiProblem('not-found', `the bytes of message ${m.id} were removed by retention; its receipts remain`, { code: 'MESSAGE_BODY_EXPIRED' });
  }
  if (Number(m.size) > MAX_PARSE_BYTES) {
    throw new ApiProblem('unprocessable', `message ${m.id} is ${m.size} bytes, more than the ${MAX_PARSE_BYTES} parsed here: download it with GET /api/v1/messages/${m.id}/raw`, { code: 'MESSAGE_TOO_LARGE_TO_PARSE' });
  }
  const raw = await readAll(await openBody(m.id));
  return { email: await PostalMime.parse(raw, { attachmentEncoding: 'arraybuffer', maxNestingDepth: 50 }), messageId: m.id };
}

/** Replaces cid: references with data: URIs of the inline parts, within a total budget. */
function inlineImages(html: string, attachments: readonly Attachment[]): string {
  let budget = MAX_INLINE_BYTES;
  const byCid = new Map<string, string>();
  for (const a of attachments) {
    const cid = contentIdOf(a);
    if (!cid || !a.mimeType.startsWith('image/')) continue;
    const bytes = bytesOf(a);
    if (bytes.length > budget) continue;
    budget -= bytes.length;
    byCid.set(cid.toLowerCase(), `data:${a.mimeType};base64,${Buffer.from(bytes).toString('base64')}`);
  }
  if (byCid.size === 0) return html;
  return html.replace(/cid:([^"'\s)>]+)/gi, (whole, cid: string) => byCid.get(decodeURIComponent(cid).toLowerCase()) ?? whole);
}

const tags = ['messages'];

export const messageContentRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  const openBody = messageBodyReader(app.postline);

  app.route({
    method: 'GET', url: '/api/v1/messages/:id/content', config: { scope: 'read' },
    schema: {
      tags, summary: 'The text and HTML bodies and the attachments of a message',
      description: `MIME parsed. 404 MESSAGE_BODY_EXPIRED once retention removed the bytes; 422 MESSAGE_TOO_LARGE_TO_PARSE above ${MAX_PARSE_BYTES} bytes (use /raw).`,
      params: z.object({ id: z.string().min(1).max(200) }), response: { 200: contentSchema },
    },
    handler: async (request) => {
      const { email, messageId } = await parsed(store, openBody, tenantIdOf(request), request.params.id);
      return {
        id: messageId, subject: email.subject ?? null, text: email.text ?? null,
        html: email.html ? inlineImages(email.html, email.attachments) : null,
        attachments: email.attachments.map((a, index) => ({
          index, filename: a.filename, content_type: a.mimeType, disposition: a.disposition, content_id: contentIdOf(a), size: bytesOf(a).length,
        })),
      };
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/messages/:id/attachments/:index', config: { scope: 'read' },
    schema: { tags, summary: 'One attachment of a message, decoded', description: 'Served as a download (Content-Disposition: attachment).', params: attachmentParams },
    handler: async (request, reply) => {
      const { email } = await parsed(store, openBody, tenantIdOf(request), request.params.id);
      const a = email.attachments[request.params.index];
      if (!a) throw new ApiProblem('not-found', `message ${request.params.id} has no attachment ${request.params.index}`);
      // RFC 6266 §4.3: filename* carries any UTF-8 name; the plain filename is an ASCII fallback.
      const name = a.filename ?? `attachment-${request.params.index}`;
      const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
      return reply.type(a.mimeType || 'application/octet-stream').header('x-content-type-options', 'nosniff')
        .header('content-disposition', `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`)
        .send(Buffer.from(bytesOf(a)));
    },
  });
};
