// The sending payloads (POST /api/v1/messages, /batch, /raw) as zod schemas: the one source
// of validation, handler types and OpenAPI. Limits that depend on configuration (size,
// recipient count) are checked when the message is composed.
import { z } from 'zod';
import { HEADER_INJECTION, headerText, mailboxList, mailboxSchema } from './mailbox-schema.ts';

/** Batch size limit of POST /api/v1/messages/batch. */
export const MAX_BATCH_MESSAGES = 500;
/** How far ahead `send_at` may lie. */
export const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 3600 * 1000;
const MAX_METADATA_BYTES = 8 * 1024;
const MAX_LIST = 100_000;

/**
 * Headers the composer writes itself (RFC 5322 §3.6 origination, destination and identity
 * fields; MIME structure, RFC 2045 §3-6) or that belong to transport (trace fields, DKIM,
 * our X-Postline-* control headers): set through their own fields or not at all.
 */
const RESERVED_HEADERS = new Set([
  'from', 'sender', 'to', 'cc', 'bcc', 'reply-to', 'subject', 'date', 'message-id', 'mime-version', 'content-type',
  'content-transfer-encoding', 'content-disposition', 'return-path', 'received', 'dkim-signature',
]);
// RFC 5322 §3.6.8: field-name = 1*ftext, printable US-ASCII except colon.
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}$/;
// RFC 2045 §5.1 type "/" subtype, tokens only (parameters are the composer's business).
const MIME_TYPE = /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}$/;

const headersSchema = z.record(z.string(), headerText(2000)).superRefine((headers, ctx) => {
  const names = Object.keys(headers);
  if (names.length > 100) ctx.addIssue({ code: 'custom', message: 'at most 100 headers' });
  for (const name of names) {
    if (/[\r\n]/.test(name)) ctx.addIssue({ code: 'custom', message: `header name ${HEADER_INJECTION}`, path: [name] });
    else if (!FIELD_NAME.test(name)) ctx.addIssue({ code: 'custom', message: 'a header name is 1-76 printable ASCII characters without ":" (RFC 5322 §3.6.8)', path: [name] });
    else if (RESERVED_HEADERS.has(name.toLowerCase()) || name.toLowerCase().startsWith('x-postline-')) {
      ctx.addIssue({ code: 'custom', message: `header ${name} is set by its own field or by Postline, not in "headers"`, path: [name] });
    }
  }
}).describe('Extra header fields, name → value (no CR or LF). Structural and trace headers are refused.');

export const attachmentSchema = z.strictObject({
  filename: headerText(255).min(1),
  content: z.base64().describe('The file, base64 (RFC 4648 §4)'),
  content_type: z.string().regex(MIME_TYPE, 'expected type/subtype, e.g. application/pdf').optional()
    .describe('MIME type; guessed from the file name when absent'),
  content_id: headerText(255).regex(/^[^\s<>"]+$/, 'expected an id without spaces, quotes or angle brackets').optional()
    .describe('Makes the attachment inline: refer to it as cid:<content_id> in html'),
}).meta({ id: 'Attachment' });

const tagsSchema = z.array(headerText(128).min(1)).max(20).describe('Labels for filtering; echoed in events');
const metadataSchema = z.record(z.string().max(128), z.json()).superRefine((value, ctx) => {
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_METADATA_BYTES) ctx.addIssue({ code: 'custom', message: `at most ${MAX_METADATA_BYTES} bytes as JSON` });
}).describe('Your own key → value pairs, stored with the message and echoed in every event');
const streamSchema = z.enum(['transactional', 'broadcast']).default('transactional');
const sendAtSchema = z.iso.datetime({ offset: true })
  .describe('RFC 3339 time to send at, up to 30 days ahead; a past time sends at once');

/** Fields that every send endpoint takes besides the message itself. */
const deliveryFields = {
  tags: tagsSchema.optional(),
  metadata: metadataSchema.optional(),
  stream: streamSchema,
  send_at: sendAtSchema.optional(),
};

export const sendMessageSchema = z.strictObject({
  from: mailboxSchema,
  to: mailboxList(MAX_LIST).optional(),
  cc: mailboxList(MAX_LIST).optional(),
  bcc: mailboxList(MAX_LIST).optional().describe('Envelope recipients not shown in the message'),
  reply_to: mailboxList(50).optional(),
  subject: headerText(998).optional(),
  text: z.string().optional().describe('Plain-text body'),
  html: z.string().optional().describe('HTML body'),
  headers: headersSchema.optional(),
  attachments: z.array(attachmentSchema).max(100).optional(),
  template: z.string().min(1).max(200).optional().describe('A template id (tpl_…) or name; it supplies subject, html and text'),
  data: z.record(z.string(), z.json()).optional().describe('Values for the template'),
  ...deliveryFields,
}).superRefine((m, ctx) => {
  if (!m.to?.length && !m.cc?.length && !m.bcc?.length) ctx.addIssue({ code: 'custom', message: 'give at least one recipient in to, cc or bcc', path: ['to'] });
  if (m.template !== undefined) {
    for (const field of ['subject', 'html', 'text'] as const) {
      if (m[field] !== undefined) ctx.addIssue({ code: 'custom', message: `${field} comes from the template: give either template or ${field}`, path: [field] });
    }
  } else {
    if (m.text === undefined && m.html === undefined) ctx.addIssue({ code: 'custom', message: 'give text, html or template', path: ['text'] });
    if (m.data !== undefined) ctx.addIssue({ code: 'custom', message: 'data is for a template: give template too', path: ['data'] });
  }
}).meta({ id: 'SendMessage' });

export type SendMessageInput = z.output<typeof sendMessageSchema>;

export const rawMessageSchema = z.strictObject({
  mail_from: z.string().min(3).max(320).describe('Envelope sender (RFC 5321 MAIL FROM), in one of your domains'),
  rcpt_to: z.array(z.string().min(3).max(320)).min(1).max(MAX_LIST).describe('Envelope recipients (RFC 5321 RCPT TO)'),
  data: z.base64().describe('The RFC 5322 message, base64; lines must end with CRLF'),
  ...deliveryFields,
}).meta({ id: 'SendRawMessage' });

export type RawMessageInput = z.output<typeof rawMessageSchema>;

export const batchSchema = z.strictObject({
  messages: z.array(z.unknown().describe('A message as for POST /api/v1/messages')).min(1).max(MAX_BATCH_MESSAGES),
}).meta({ id: 'SendBatch' });
