import type { Kysely } from 'kysely';
import type { Database, MessageOrigin, RecipientStatus, Stream } from '../database.ts';
import type { StoredBody } from '../spool.ts';
import { insertEvents, type NewEvent } from './events.ts';
import type { ClaimedRecipient } from './queue.ts';
import { domainOf } from '../../smtp/index.ts';

export interface NewRecipient {
  readonly rcpt: string;
  /** Kept here (mail for a hosted domain taken in on the MX side), not relayed. */
  readonly received?: boolean;
  readonly notify?: string | null;
  readonly orcpt?: string | null;
}

export interface NewMessage {
  readonly id: string;
  readonly tenantId: string | null;
  readonly origin: MessageOrigin;
  readonly stream?: Stream;
  readonly mailFrom: string;
  readonly body: StoredBody;
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
  const { now } = options;
  await db.insertInto('messages').values({
    id: msg.id,
    tenant_id: msg.tenantId,
    origin: msg.origin,
    stream: msg.stream ?? 'transactional',
    mail_from: msg.mailFrom,
    size: msg.body.size,
    body: msg.body.inline,
    body_path: msg.body.path,
    header_size: msg.headerSize,
    message_id_header: msg.messageIdHeader,
    subject: msg.subject,
    from_header: msg.fromHeader,
    dsn_ret: msg.dsnRet ?? null,
    dsn_envid: msg.dsnEnvid ?? null,
    is_bounce: msg.isBounce ? 1 : 0,
    smtputf8: msg.smtputf8 ? 1 : 0,
    client_ip: msg.clientIp ?? null,
    auth_user: msg.authUser ?? null,
    created_at: now,
  }).execute();
  const lease = msg.initialStatus === 'received' ? null : msg.leaseTo ?? null;
  const kept = (r: NewRecipient) => msg.initialStatus === 'received' || r.received === true;
  const ids: number[] = [];
  for (let i = 0; i < msg.recipients.length; i += 500) {
    const rows = await db.insertInto('recipients').values(msg.recipients.slice(i, i + 500).map((r) => ({
      message_id: msg.id,
      tenant_id: msg.tenantId,
      rcpt: r.rcpt,
      domain: domainOf(r.rcpt),
      status: kept(r) ? 'received' as const : lease ? 'inflight' as const : 'queued' as const,
      attempts: lease && !kept(r) ? 1 : 0,
      next_attempt_at: now,
      expires_at: now + options.lifetimeMs,
      lease_owner: lease && !kept(r) ? lease.owner : null,
      lease_expires_at: lease && !kept(r) ? now + lease.leaseMs : null,
      dsn_notify: r.notify ?? null,
      dsn_orcpt: r.orcpt ?? null,
      last_code: null,
      last_enhanced: null,
      last_response: null,
      last_mx: null,
      updated_at: now,
    }))).returning('id').execute();
    for (const row of rows) ids.push(Number(row.id));
  }
  const event: NewEvent = {
    type: msg.recipients.every(kept) ? 'message.inbound' : 'message.queued',
    tenantId: msg.tenantId,
    messageId: msg.id,
    data: {
      message_id: msg.id,
      origin: msg.origin,
      stream: msg.stream ?? 'transactional',
      mail_from: msg.mailFrom,
      recipients: msg.recipients.map((r) => r.rcpt),
      size: msg.body.size,
      message_id_header: msg.messageIdHeader,
      subject: msg.subject,
    },
  };
  await insertEvents(db, [event], now);
  return msg.recipients.flatMap((r, i) => kept(r) ? [] : [{
    id: ids[i], messageId: msg.id, tenantId: msg.tenantId, rcpt: r.rcpt, domain: domainOf(r.rcpt), attempts: lease ? 1 : 0,
    expiresAt: now + options.lifetimeMs, notify: r.notify ?? null, orcpt: r.orcpt ?? null,
  }]);
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
    .select(['id', 'tenant_id', 'origin', 'stream', 'mail_from', 'size', 'body', 'body_path', 'header_size', 'dsn_ret', 'dsn_envid', 'is_bounce', 'smtputf8', 'created_at', 'tags', 'metadata'])
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
