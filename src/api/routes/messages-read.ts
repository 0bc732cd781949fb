// Receipts, per message: what was sent (envelope, headers), what became of each recipient,
// every event and every delivery attempt; the raw bytes; and a filtered, paged list. A
// message of another tenant is a 404, like one that never existed.
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  getTenantMessage, listAttempts, listMessageEvents, listMessagesPage, listRecipients, recipientCounts,
  type MessageSummary, type Store,
} from '../../store/index.ts';
import { messageBodyReader } from '../message-body.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { idParams, isoTime, timestamp } from '../schemas.ts';
import { eventJson, eventSchema } from './events.ts';

const RECIPIENT_STATUSES = ['queued', 'inflight', 'delivered', 'deferred', 'bounced', 'expired', 'cancelled', 'received', 'suppressed'] as const;
/** Header fields returned at most; a header section is capped at smtp.max_header_bytes anyway. */
const MAX_HEADER_FIELDS = 1000;

const messageBase = {
  id: z.string(),
  stream: z.enum(['transactional', 'broadcast']),
  origin: z.string().describe('smtp, api, dsn, mx or cli'),
  mail_from: z.string().describe("Envelope sender (RFC 5321 MAIL FROM); '' for the null sender"),
  from: z.string().nullable().describe('The From: header'),
  subject: z.string().nullable(),
  message_id_header: z.string().nullable().describe('The Message-ID: header'),
  size: z.number().int().describe('Bytes; 0 for a campaign message made when sent, until its first attempt'),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  created_at: timestamp,
  send_at: timestamp.nullable().describe('When a scheduled message is due'),
  body_available: z.boolean().describe('False once retention removed the bytes (retention.bodies_days)'),
};

const messageListItem = z.object({
  ...messageBase,
  recipients: z.record(z.string(), z.number().int()).describe('Recipients per status, e.g. {"delivered": 2, "bounced": 1}'),
}).meta({ id: 'MessageListItem' });

const recipientSchema = z.object({
  id: z.number().int(),
  email: z.string(),
  status: z.enum(RECIPIENT_STATUSES),
  attempts: z.number().int(),
  next_attempt_at: timestamp.nullable().describe('Set while queued or deferred'),
  expires_at: timestamp,
  last_code: z.number().int().nullable().describe('SMTP reply code of the last attempt'),
  last_enhanced: z.string().nullable().describe('RFC 3463 enhanced status code of the last attempt'),
  last_response: z.string().nullable(),
  last_mx: z.string().nullable(),
  updated_at: timestamp,
}).meta({ id: 'MessageRecipient' });

const attemptSchema = z.object({
  id: z.number().int(),
  recipient_id: z.number().int(),
  started_at: timestamp,
  duration_ms: z.number().int(),
  outcome: z.enum(['delivered', 'deferred', 'bounced']),
  mx_host: z.string().nullable(),
  ip: z.string().nullable(),
  port: z.number().int().nullable(),
  code: z.number().int().nullable(),
  enhanced: z.string().nullable(),
  response: z.string().nullable(),
  tls: z.object({ version: z.string(), cipher: z.string().nullable() }).nullable(),
}).meta({ id: 'DeliveryAttempt' });

const messageDetail = z.object({
  ...messageBase,
  envelope: z.object({ mail_from: z.string(), rcpt_to: z.array(z.string()) }),
  headers: z.array(z.object({ name: z.string(), value: z.string() })).describe('The header section as stored, unfolded, in order; [] once the body is gone'),
  recipients: z.array(recipientSchema),
  events: z.array(eventSchema).describe('Every event of the message, oldest first'),
  attempts: z.array(attemptSchema).describe('Every delivery attempt, oldest first'),
}).meta({ id: 'Message' });

const listQuery = pageQuery.extend({
  status: z.enum(RECIPIENT_STATUSES).optional().describe('Messages with at least one recipient in this status'),
  recipient: z.string().min(1).max(320).optional().describe('Messages to this address (exact)'),
  sender: z.string().max(320).optional().describe('Messages with this envelope sender (exact)'),
  tag: z.string().min(1).max(128).optional(),
  stream: z.enum(['transactional', 'broadcast']).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('Created at or after this time (RFC 3339)'),
  to: z.iso.datetime({ offset: true }).optional().describe('Created before this time (RFC 3339)'),
  order: z.enum(['desc', 'asc']).default('desc').describe('desc: newest first (default)'),
});

function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function baseJson(m: MessageSummary) {
  return {
    id: m.id, stream: m.stream, origin: m.origin, mail_from: m.mail_from, from: m.from_header, subject: m.subject,
    message_id_header: m.message_id_header, size: Number(m.size), tags: parseJson<string[]>(m.tags, []),
    metadata: parseJson<Record<string, unknown> | null>(m.metadata, null), created_at: isoTime(m.created_at),
    send_at: isoTime(m.send_at), body_available: Number(m.has_body) === 1,
  };
}

/** RFC 5322 §2.2.3: unfold, then split each field at its first colon. */
export function parseHeaderSection(bytes: Buffer): Array<{ name: string; value: string }> {
  const text = bytes.toString('utf8').replace(/\r?\n$/, '');
  const fields: Array<{ name: string; value: string }> = [];
  for (const raw of text.split(/\r?\n(?![ \t])/)) {
    if (fields.length >= MAX_HEADER_FIELDS) break;
    const colon = raw.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ name: raw.slice(0, colon).trim(), value: raw.slice(colon + 1).replace(/\r?\n[ \t]/g, ' ').trim() });
  }
  return fields;
}

/** The header section; `bytes` 0 (a message made when sent, before its first attempt): up to the blank line. None when it cannot be read. */
async function readHead(openBody: (id: string) => Promise<Buffer | Readable>, id: string, bytes: number): Promise<Buffer> {
  const body = await openBody(id).catch((err: unknown) => {
    if (err instanceof ApiProblem) return Buffer.alloc(0);
    throw err;
  });
  if (Buffer.isBuffer(body)) {
    const blank = body.indexOf('\r\n\r\n');
    return body.subarray(0, bytes > 0 ? bytes : blank < 0 ? body.length : blank + 4);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as Readable) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= bytes) break;
  }
  (body as Readable).destroy();
  return Buffer.concat(chunks).subarray(0, bytes);
}

async function messageOr404(store: Store, tenantId: string, id: string): Promise<MessageSummary> {
  const m = await getTenantMessage(store.db, tenantId, id);
  if (!m) throw new ApiProblem('not-found', `no message ${id}`);
  return m;
}

const tags = ['messages'];

export const messageReadRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  const openBody = messageBodyReader(app.postline);

  app.route({
    method: 'GET', url: '/api/v1/messages', config: { scope: 'read' },
    schema: {
      tags, summary: 'List messages',
      description: 'Newest first unless order=asc. Filters combine (AND). Each item counts its recipients per status; GET the message for details.',
      querystring: listQuery, response: { 200: pageOf(messageListItem) },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const q = request.query;
      const filter = {
        status: q.status, recipient: q.recipient, sender: q.sender, tag: q.tag, stream: q.stream, order: q.order,
        from: q.from === undefined ? undefined : Date.parse(q.from), to: q.to === undefined ? undefined : Date.parse(q.to),
      };
      const page = await paginate(q, (p) => listMessagesPage(store.db, tenantId, filter, p), (m) => m.id);
      const counts = await recipientCounts(store.db, page.data.map((m) => m.id));
      return { data: page.data.map((m) => ({ ...baseJson(m), recipients: counts.get(m.id) ?? {} })), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/messages/:id', config: { scope: 'read' },
    schema: { tags, summary: 'Get a message: envelope, headers, recipients, events and attempts', params: idParams, response: { 200: messageDetail } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const m = await messageOr404(store, tenantId, request.params.id);
      const [recipients, events, attempts] = await Promise.all([
        listRecipients(store.db, m.id), listMessageEvents(store.db, tenantId, m.id), listAttempts(store.db, m.id),
      ]);
      const headers = Number(m.has_body) === 1 ? parseHeaderSection(await readHead(openBody, m.id, Number(m.header_size))) : [];
      return {
        ...baseJson(m),
        envelope: { mail_from: m.mail_from, rcpt_to: recipients.map((r) => r.rcpt) },
        headers,
        recipients: recipients.map((r) => ({
          id: Number(r.id), email: r.rcpt, status: r.status, attempts: Number(r.attempts),
          next_attempt_at: r.status === 'queued' || r.status === 'deferred' ? isoTime(r.next_attempt_at) : null,
          expires_at: isoTime(r.expires_at), last_code: r.last_code, last_enhanced: r.last_enhanced, last_response: r.last_response,
          last_mx: r.last_mx, updated_at: isoTime(r.updated_at),
        })),
        events: events.map(eventJson),
        attempts: attempts.map((a) => ({
          id: Number(a.id), recipient_id: Number(a.recipient_id), started_at: isoTime(a.started_at), duration_ms: Number(a.duration_ms),
          outcome: a.outcome, mx_host: a.mx_host, ip: a.ip, port: a.port, code: a.code, enhanced: a.enhanced, response: a.response,
          tls: a.tls_version ? { version: a.tls_version, cipher: a.tls_cipher } : null,
        })),
      };
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/messages/:id/raw', config: { scope: 'read' },
    schema: {
      tags, summary: 'Get the message as sent (message/rfc822)',
      description: 'The stored bytes, headers and body. 404 with code MESSAGE_BODY_EXPIRED once retention (retention.bodies_days) removed them.',
      params: idParams,
    },
    handler: async (request, reply) => {
      const m = await messageOr404(store, tenantIdOf(request), request.params.id);
      if (Number(m.has_body) !== 1) {
        throw new ApiProblem('not-found', `the bytes of message ${m.id} were removed by retention; its receipts remain`, { code: 'MESSAGE_BODY_EXPIRED' });
      }
      // RFC 2046 §5.2.1: message/rfc822 is 7bit, 8bit or binary; SMTPUTF8 mail may hold UTF-8.
      return reply.type('message/rfc822').header('content-disposition', `attachment; filename="${m.id}.eml"`).send(await openBody(m.id));
    },
  });
};
