import type { Kysely } from 'kysely';
import type { Database, MessageOrigin, RecipientStatus, Stream } from '../database.ts';
import type { StoredBody } from '../spool.ts';
import { insertEvents, type NewEvent } from './events.ts';
import type { ClaimedRecipient } from './queue.ts';
import { domainOf } from '../../smtp/index.ts';
import { insertRows } from '../compiled-queries.ts';
import { notifyQueueOnCommit } from './queue.ts';

export interface NewRecipient {
  readonly rcpt: string;
  /** Kept here (mail for a hosted domain taken in on the MX side), not relayed. */
  readonly received?: boolean;
  readonly notify?: string | null;
  readonly orcpt?: string | null;
  /** On the tenant's suppression list: stored as `suppressed` (final, never sent) with a `message.suppressed` event. */
  readonly suppressed?: { readonly id: string; readonly reason: string } | null;
}

/** What insertMessages stored of one message. */
export interface InsertedMessage {
  /** The recipients to deliver (not kept here, not suppressed), claimed when `leaseTo` was given. */
  readonly claimed: ClaimedRecipient[];
  /** Every recipient's row id, in the order given. */
  readonly recipientIds: number[];
}

export interface NewMessage {
  readonly id: string;
  readonly tenantId: string | null;
  readonly origin: MessageOrigin;
  readonly stream?: Stream;
  readonly mailFrom: string;
  /** The bytes (inline or spooled); or, with `render`, none yet: size 0, inline and path null. */
  readonly body: StoredBody;
  /** A campaign message made when it is sent: what it is made from (campaigns/campaign-body.ts). */
  readonly render?: string | null;
  readonly headerSize: number;
  readonly messageIdHeader: string | null;
  readonly subject: string | null;
  readonly fromHeader: string | null;
  readonly dsnRet?: 'FULL' | 'HDRS' | null;
  readonly dsnEnvid?: string | null;
  readonly isBounce?: boolean;
  readonly smtputf8?: boolean;
  readonly clientIp?: string | null;
  readonly authUser?: string | null;
  readonly recipients: readonly NewRecipient[];
  /** 'received' for mail taken in on the MX side (kept, not relayed). */
  readonly initialStatus?: Extract<RecipientStatus, 'queued' | 'received'>;
  /** API `tags` and `metadata`: stored on the message and echoed in every event. */
  readonly tags?: readonly string[] | null;
  readonly metadata?: Readonly<Record<string, unknown>> | null;
  /** API `send_at` (ms): the recipients wait until then and the first event is `message.scheduled`. */
  readonly sendAt?: number | null;
  /** RFC 8689 REQUIRETLS on MAIL FROM (SMTP ingress): onward delivery only over verified TLS to REQUIRETLS hops. */
  readonly requireTls?: boolean;
  /**
   * Hand the recipients straight to this node's delivery loop: they are inserted already
   * claimed (in flight, leased, attempt counted), saving a claim transaction per message.
   * A crash before delivery leaves a lease that start-up (or expiry) releases.
   */
  readonly leaseTo?: { readonly owner: string; readonly leaseMs: number } | null;
}

/**
 * Inserts a message, its recipients and its `message.queued` event. Run it inside the
 * acceptance transaction: the SMTP 250 / HTTP 202 is sent only after that commits.
 */
export async function insertMessage(db: Kysely<Database>, msg: NewMessage, options: { now: number; lifetimeMs: number }): Promise<ClaimedRecipient[]> {
  return (await insertMessages(db, [msg], options))[0].claimed;
}

// Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters (and Postgres'
// 65,535) at ~22 columns a message row and ~17 a recipient row.
const MESSAGE_ROWS_PER_INSERT = 100;
const RECIPIENT_ROWS_PER_INSERT = 500;
const MESSAGE_COLUMNS = [
  'id', 'tenant_id', 'origin', 'stream', 'mail_from', 'size', 'body', 'body_path', 'header_size', 'message_id_header', 'subject',
  'from_header', 'dsn_ret', 'dsn_envid', 'is_bounce', 'smtputf8', 'client_ip', 'auth_user', 'tags', 'metadata', 'send_at', 'created_at',
  'require_tls', 'body_render',
] as const;
// last_code, last_enhanced, last_response, last_mx start null (their column default).
const RECIPIENT_COLUMNS = [
  'message_id', 'tenant_id', 'rcpt', 'domain', 'status', 'attempts', 'next_attempt_at', 'expires_at',
  'lease_owner', 'lease_expires_at', 'dsn_notify', 'dsn_orcpt', 'updated_at',
] as const;

/**
 * insertMessage for many messages at once (an API batch): one multi-row INSERT per table
 * and chunk instead of three statements a message, which is most of a batch's cost.
 * Answers each message's recipients (those not kept here) in the order given.
 */
export async function insertMessages(db: Kysely<Database>, msgs: readonly NewMessage[], options: { now: number; lifetimeMs: number }): Promise<InsertedMessage[]> {
  const { now, lifetimeMs } = options;
  for (let i = 0; i < msgs.length; i += MESSAGE_ROWS_PER_INSERT) {
    await insertRows(db, 'messages', MESSAGE_COLUMNS, msgs.slice(i, i + MESSAGE_ROWS_PER_INSERT).map((msg) => [
      msg.id, msg.tenantId, msg.origin, msg.stream ?? 'transactional', msg.mailFrom, msg.body.size, msg.body.inline, msg.body.path,
      msg.headerSize, msg.messageIdHeader, msg.subject, msg.fromHeader, msg.dsnRet ?? null, msg.dsnEnvid ?? null,
      msg.isBounce ? 1 : 0, msg.smtputf8 ? 1 : 0, msg.clientIp ?? null, msg.authUser ?? null,
      msg.tags ? JSON.stringify(msg.tags) : null, msg.metadata ? JSON.stringify(msg.metadata) : null, msg.sendAt ?? null, now,
      msg.requireTls ? 1 : 0, msg.render ?? null,
    ]));
  }
  const kept = (msg: NewMessage, r: NewRecipient) => msg.initialStatus === 'received' || r.received === true;
  const skipped = (msg: NewMessage, r: NewRecipient) => kept(msg, r) || !!r.suppressed;
  let leftDue = false;
  const rows = msgs.flatMap((msg) => {
    const lease = msg.initialStatus === 'received' ? null : msg.leaseTo ?? null;
    const due = msg.sendAt ?? now;
    return msg.recipients.map((r) => {
      const held = lease !== null && !skipped(msg, r);
      const status = kept(msg, r) ? 'received' : r.suppressed ? 'suppressed' : held ? 'inflight' : 'queued';
      if (status === 'queued' && due <= now) leftDue = true;
      return [
        msg.id, msg.tenantId, r.rcpt, domainOf(r.rcpt), status, held ? 1 : 0, due, due + lifetimeMs,
        held ? lease.owner : null, held ? now + lease.leaseMs : null, r.notify ?? null, r.orcpt ?? null, now,
      ];
    });
  });
  const ids: number[] = [];
  for (let i = 0; i < rows.length; i += RECIPIENT_ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + RECIPIENT_ROWS_PER_INSERT);
    // RETURNING promises no row order (SQLite docs), but one statement inserts its VALUES in
    // order while holding the write lock, so the ids, sorted, follow the VALUES order.
    const returned = await insertRows(db, 'recipients', RECIPIENT_COLUMNS, chunk, 'id');
    const sorted = returned.map((row) => Number(row.id)).sort((a, b) => a - b);
    if (sorted.length !== chunk.length) throw new Error(`recipients insert returned ${sorted.length} ids for ${chunk.length} rows`);
    ids.push(...sorted);
  }
  // Due now and left for any worker (not claimed here): other nodes' schedulers wake at commit.
  if (leftDue) await notifyQueueOnCommit(db);
  const events: NewEvent[] = msgs.map((msg) => firstEvent(msg, kept));
  let next = 0;
  const inserted = msgs.map((msg) => {
    const lease = msg.initialStatus === 'received' ? null : msg.leaseTo ?? null;
    const due = msg.sendAt ?? now;
    const recipientIds: number[] = [];
    const claimed = msg.recipients.flatMap((r) => {
      const id = ids[next++];
      recipientIds.push(id);
      if (r.suppressed && !kept(msg, r)) {
        events.push({
          type: 'message.suppressed', tenantId: msg.tenantId, messageId: msg.id, recipientId: id,
          data: { message_id: msg.id, recipient: r.rcpt, reason: r.suppressed.reason, suppression_id: r.suppressed.id, stream: msg.stream ?? 'transactional', ...echo(msg) },
        });
      }
      return skipped(msg, r) ? [] : [{
        id, messageId: msg.id, tenantId: msg.tenantId, rcpt: r.rcpt, domain: domainOf(r.rcpt), attempts: lease ? 1 : 0,
        expiresAt: due + lifetimeMs, notify: r.notify ?? null, orcpt: r.orcpt ?? null,
      }];
    });
    return { claimed, recipientIds };
  });
  await insertEvents(db, events, now);
  return inserted;
}

/** Tags and metadata, echoed in every event of the message. */
function echo(msg: NewMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (msg.tags) out.tags = msg.tags;
  if (msg.metadata) out.metadata = msg.metadata;
  return out;
}

/** `message.inbound` for mail kept here, `message.scheduled` for a later send, else `message.queued`. */
function firstEvent(msg: NewMessage, kept: (msg: NewMessage, r: NewRecipient) => boolean): NewEvent {
  const data: Record<string, unknown> = {
    message_id: msg.id,
    origin: msg.origin,
    stream: msg.stream ?? 'transactional',
    mail_from: msg.mailFrom,
    recipients: msg.recipients.map((r) => r.rcpt),
    size: msg.body.size,
    message_id_header: msg.messageIdHeader,
    subject: msg.subject,
  };
  Object.assign(data, echo(msg));
  if (msg.sendAt != null) data.send_at = new Date(msg.sendAt).toISOString();
  const inbound = msg.recipients.every((r) => kept(msg, r));
  return { type: inbound ? 'message.inbound' : msg.sendAt != null ? 'message.scheduled' : 'message.queued', tenantId: msg.tenantId, messageId: msg.id, data };
}

export async function getMessage(db: Kysely<Database>, id: string) {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getMessageMeta(db: Kysely<Database>, id: string) {
  return db.selectFrom('messages')
    .select(['id', 'tenant_id', 'origin', 'stream', 'mail_from', 'size', 'body_path', 'header_size', 'message_id_header', 'subject', 'from_header', 'dsn_ret', 'dsn_envid', 'is_bounce', 'smtputf8', 'created_at', 'tags', 'metadata'])
    .where('id', '=', id).executeTakeFirst();
}

/** What delivery needs of a message in one read: the fields above, and the bytes when stored inline. */
export async function getMessageForDelivery(db: Kysely<Database>, id: string) {
  return db.selectFrom('messages')
    .select(['id', 'tenant_id', 'origin', 'stream', 'mail_from', 'from_header', 'size', 'body', 'body_path', 'header_size', 'dsn_ret', 'dsn_envid', 'is_bounce', 'smtputf8', 'created_at', 'tags', 'metadata', 'require_tls', 'body_render', 'message_id_header'])
    .where('id', '=', id).executeTakeFirst();
}

export async function listRecipients(db: Kysely<Database>, messageId: string) {
  return db.selectFrom('recipients').selectAll().where('message_id', '=', messageId).orderBy('id').execute();
}

export async function listAttempts(db: Kysely<Database>, messageId: string) {
  return db.selectFrom('attempts').selectAll().where('message_id', '=', messageId).orderBy('id').execute();
}

/** Messages whose every recipient is final can lose their spool file; returns the path to remove. */
export async function bodyPathIfFinal(db: Kysely<Database>, messageId: string): Promise<string | null> {
  const open = await db.selectFrom('recipients').select('id')
    .where('message_id', '=', messageId).where('status', 'in', ['queued', 'inflight', 'deferred']).executeTakeFirst();
  if (open) return null;
  const msg = await db.selectFrom('messages').select('body_path').where('id', '=', messageId).executeTakeFirst();
  return msg?.body_path ?? null;
}
