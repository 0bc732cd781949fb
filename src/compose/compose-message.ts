// Builds the RFC 5322 message for a JSON send request: simple-mime.ts for text and/or html
// without attachments or custom headers (the common case, and much cheaper), else nodemailer's MailComposer:
// multipart/alternative for text + html, multipart/related for inline images (Content-ID),
// multipart/mixed for attachments (RFC 2046 §5.1). We add Message-ID and Date (RFC 5322
// §3.6.1, §3.6.4) and decide the envelope: MAIL FROM is the From address, RCPT TO every
// address of to, cc and bcc (Bcc itself is not written, RFC 5322 §3.6.3).
import MailComposer from 'nodemailer/lib/mail-composer';
import type Mail from 'nodemailer/lib/mailer';
import { ComposeError } from './compose-error.ts';
import { isSimpleContent, simpleMime } from './simple-mime.ts';
import type { Mailbox } from './mailbox-schema.ts';

export interface ComposeAttachment {
  readonly filename: string;
  /** base64, as received. */
  readonly content: string;
  readonly content_type?: string | undefined;
  readonly content_id?: string | undefined;
}

/** The message part of a validated send request, with template output already filled in. */
export interface MessageContent {
  readonly from: Mailbox;
  readonly to?: readonly Mailbox[] | undefined;
  readonly cc?: readonly Mailbox[] | undefined;
  readonly bcc?: readonly Mailbox[] | undefined;
  readonly reply_to?: readonly Mailbox[] | undefined;
  readonly subject?: string | null | undefined;
  readonly text?: string | null | undefined;
  readonly html?: string | null | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly attachments?: readonly ComposeAttachment[] | undefined;
}

export interface ComposeOptions {
  /** The queue id; the Message-ID is `<id@hostname>`. */
  readonly id: string;
  readonly hostname: string;
  readonly date: Date;
  /** RFC 1870 SIZE of the SMTP side: the built message must not be larger. */
  readonly maxMessageBytes: number;
  readonly maxRecipients: number;
  /**
   * The same bytes for the same content, id and date (the multipart boundary derived from the
   * id): for messages made again whenever they are read (campaigns/campaign-body.ts). Holds
   * when isSimpleContent(); MailComposer's boundaries stay random.
   */
  readonly repeatable?: boolean;
}

export interface ComposedMessage {
  readonly raw: Buffer;
  /** Offset of the first body byte: after the blank line that ends the header section. */
  readonly headerSize: number;
  readonly mailFrom: string;
  /** Envelope recipients, each once, in request order. */
  readonly recipients: readonly string[];
  readonly messageIdHeader: string;
  readonly subject: string | null;
  readonly fromHeader: string;
  /** An address has a UTF-8 local part: relay only over SMTPUTF8 (RFC 6531). */
  readonly smtputf8: boolean;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** RFC 5322 §2.3: CR and LF only together. A body's lone \n or \r becomes CRLF. */
export function toCrlf(text: string): string {
  return /\r(?!\n)|(?<!\r)\n/.test(text) ? text.replace(/\r\n|\r|\n/g, '\r\n') : text;
}

function mailAddress(m: Mailbox): Mail.Address {
  return { name: m.name ?? '', address: m.address };
}

/** Approximate decoded size of base64 text (RFC 4648 §4: 4 characters carry 3 bytes). */
function base64Bytes(b64: string): number {
  return Math.floor(b64.length / 4) * 3;
}

/** The envelope recipients: to, cc, bcc, each address once. Throws ComposeError for none or too many. */
export function envelopeRecipients(content: MessageContent, maxRecipients: number): string[] {
  const seen = new Set<string>();
  for (const list of [content.to, content.cc, content.bcc]) for (const m of list ?? []) seen.add(m.address);
  if (seen.size === 0) throw new ComposeError('MESSAGE_NO_RECIPIENTS', 'invalid', '/to', 'give at least one recipient in to, cc or bcc');
  if (seen.size > maxRecipients) {
    throw new ComposeError('MESSAGE_TOO_MANY_RECIPIENTS', 'invalid', '/to', `at most ${maxRecipients} recipients per message (to, cc and bcc together); this one has ${seen.size}`);
  }
  return [...seen];
}

/** The general case: MailComposer, for attachments, custom headers and UTF-8 local parts. */
async function buildWithMailComposer(content: MessageContent, text: string | undefined, html: string | undefined, messageId: string, date: Date): Promise<Buffer> {
  const mail: Mail.Options = {
    from: mailAddress(content.from),
    to: content.to?.map(mailAddress),
    cc: content.cc?.map(mailAddress),
    bcc: content.bcc?.map(mailAddress),
    replyTo: content.reply_to?.map(mailAddress),
    subject: content.subject ?? undefined,
    text,
    html,
    headers: content.headers ? { ...content.headers } : undefined,
    attachments: (content.attachments ?? []).map((a) => ({
      filename: a.filename,
      content: Buffer.from(a.content, 'base64'),
      contentType: a.content_type,
      ...(a.content_id ? { cid: a.content_id, contentDisposition: 'inline' as const } : {}),
    })),
    messageId,
    date,
    // Our input is data only: never let a field be read as a file path or URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  try {
    return await new MailComposer(mail).compile().build();
  } catch (err) {
    throw new ComposeError('MESSAGE_COMPOSE_FAILED', 'unprocessable', '', `the message could not be built: ${(err as Error).message}`, { cause: err });
  }
}

/** Builds the message; throws ComposeError (`too-large` when it would exceed the SMTP size limit). */
export async function composeMessage(content: MessageContent, options: ComposeOptions): Promise<ComposedMessage> {
  const recipients = envelopeRecipients(content, options.maxRecipients);
  const attachments = content.attachments ?? [];
  // Refuse before decoding: base64 is 4/3 of the bytes, and the message holds them again.
  let attachmentBytes = 0;
  for (const a of attachments) attachmentBytes += base64Bytes(a.content);
  if (attachmentBytes > options.maxMessageBytes) {
    throw new ComposeError('MESSAGE_TOO_LARGE', 'too-large', '/attachments', `the attachments hold ${attachmentBytes} bytes; a message may hold at most ${options.maxMessageBytes}`);
  }
  const messageId = `<${options.id}@${options.hostname}>`;
  const text = content.text == null ? undefined : toCrlf(content.text);
  const html = content.html == null ? undefined : toCrlf(content.html);
  const raw = isSimpleContent(content)
    ? simpleMime({ ...content, text, html }, messageId, options.date, options.repeatable ? messageId : undefined)
    : await buildWithMailComposer(content, text, html, messageId, options.date);
  if (raw.length > options.maxMessageBytes) {
    throw new ComposeError('MESSAGE_TOO_LARGE', 'too-large', '', `the message is ${raw.length} bytes; the limit is ${options.maxMessageBytes}`);
  }
  const blank = raw.indexOf(CRLFCRLF);
  const all = [content.from, ...(content.to ?? []), ...(content.cc ?? []), ...(content.bcc ?? [])];
  return {
    raw,
    headerSize: blank < 0 ? raw.length : blank + 4,
    mailFrom: content.from.address,
    recipients,
    messageIdHeader: messageId,
    subject: content.subject ?? null,
    fromHeader: content.from.name ? `${content.from.name} <${content.from.address}>` : content.from.address,
    smtputf8: all.some((m) => m.utf8),
  };
}
