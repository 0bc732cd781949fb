// A tenant's queue as the dashboard and the queue API see it: open recipients grouped by
// destination domain with the last error, one page of recipients, and bulk retry or cancel
// of a selection (recipient ids) or a filter (domain, status). Every query is scoped by
// tenant: another tenant's recipient is never counted, listed or touched.
import { sql, type Kysely } from 'kysely';
import type { Database, RecipientStatus } from '../database.ts';
import { insertEvents } from './events.ts';
import { cancelledEvent, notifyQueueOnCommit } from './queue.ts';

/** Recipients still to be delivered. */
export const OPEN_STATUSES = ['queued', 'deferred', 'inflight'] as const satisfies readonly RecipientStatus[];
export type OpenStatus = (typeof OPEN_STATUSES)[number];

export interface DestinationGroup {
  readonly domain: string;
  readonly queued: number;
  readonly deferred: number;
  readonly inflight: number;
  /** The earliest next attempt of its queued or deferred recipients. */
  readonly nextAttemptAt: number | null;
  /** When its oldest open message was accepted. */
  readonly oldestAt: number;
  /** The most recent failure recorded for a deferred recipient of this domain. */
  readonly lastError: { code: number | null; enhanced: string | null; response: string | null; mx: string | null; at: number } | null;
}

/** Destinations in domain order after `afterDomain`; `status` keeps only groups with recipients in it. */
export async function queueByDestination(db: Kysely<Database>, tenantId: string, options: { status?: OpenStatus | undefined; afterDomain?: string | undefined; limit: number }): Promise<DestinationGroup[]> {
  let q = db.selectFrom('recipients').innerJoin('messages', 'messages.id', 'recipients.message_id')
    .select((eb) => [
      'recipients.domain',
      sql<number>`SUM(CASE WHEN recipients.status = 'queued' THEN 1 ELSE 0 END)`.as('queued'),
      sql<number>`SUM(CASE WHEN recipients.status = 'deferred' THEN 1 ELSE 0 END)`.as('deferred'),
      sql<number>`SUM(CASE WHEN recipients.status = 'inflight' THEN 1 ELSE 0 END)`.as('inflight'),
      sql<number | null>`MIN(CASE WHEN recipients.status <> 'inflight' THEN recipients.next_attempt_at END)`.as('next_attempt_at'),
      eb.fn.min('messages.created_at').as('oldest_at'),
    ])
    .where('recipients.tenant_id', '=', tenantId).where('recipients.status', 'in', [...OPEN_STATUSES]);
  if (options.afterDomain !== undefined) q = q.where('recipients.domain', '>', options.afterDomain);
  if (options.status !== undefined) q = q.having(sql<boolean>`SUM(CASE WHEN recipients.status = ${options.status} THEN 1 ELSE 0 END) > 0`);
  const groups = await q.groupBy('recipients.domain').orderBy('recipients.domain').limit(options.limit).execute();
  if (groups.length === 0) return [];
  // The latest error per domain: the first row of each domain by updated_at (a window
  // function: both backends; SQLite's bare columns beside MAX() are SQLite's alone).
  const latest = db.selectFrom('recipients')
    .select(['domain', 'last_code', 'last_enhanced', 'last_response', 'last_mx', 'updated_at as at',
      sql<number>`ROW_NUMBER() OVER (PARTITION BY domain ORDER BY updated_at DESC)`.as('rn')])
    .where('tenant_id', '=', tenantId).where('status', '=', 'deferred').where('last_response', 'is not', null)
    .where('domain', 'in', groups.map((g) => g.domain));
  const errors = await db.selectFrom(latest.as('e')).selectAll().where('rn', '=', 1).execute();
  const byDomain = new Map(errors.map((e) => [e.domain, e]));
  return groups.map((g) => {
    const e = byDomain.get(g.domain);
    return {
      domain: g.domain, queued: Number(g.queued), deferred: Number(g.deferred), inflight: Number(g.inflight),
      nextAttemptAt: g.next_attempt_at === null ? null : Number(g.next_attempt_at), oldestAt: Number(g.oldest_at),
      lastError: e ? { code: e.last_code, enhanced: e.last_enhanced, response: e.last_response, mx: e.last_mx, at: Number(e.at) } : null,
    };
  });
}

export interface QueueSelection {
  /** These recipients (ids), when given; else every open recipient matching the filter. */
  readonly recipientIds?: readonly number[] | undefined;
  readonly domain?: string | undefined;
  readonly status?: OpenStatus | undefined;
}

export interface QueueRecipientRow {
  readonly id: number;
  readonly message_id: string;
  readonly rcpt: string;
  readonly domain: string;
  readonly status: RecipientStatus;
  readonly attempts: number;
  readonly next_attempt_at: number;
  readonly last_code: number | null;
  readonly last_enhanced: string | null;
  readonly last_response: string | null;
  readonly last_mx: string | null;
  readonly mail_from: string;
  readonly subject: string | null;
  readonly created_at: number;
}

/** Open recipients of the tenant matching the selection, in id order after `afterId`. */
export async function listQueueRecipients(db: Kysely<Database>, tenantId: string, selection: QueueSelection, page: { afterId?: number | undefined; limit: number }): Promise<QueueRecipientRow[]> {
  let q = db.selectFrom('recipients').innerJoin('messages', 'messages.id', 'recipients.message_id')
    .select(['recipients.id', 'recipients.message_id', 'recipients.rcpt', 'recipients.domain', 'recipients.status', 'recipients.attempts',
      'recipients.next_attempt_at', 'recipients.last_code', 'recipients.last_enhanced', 'recipients.last_response', 'recipients.last_mx',
      'messages.mail_from', 'messages.subject', 'messages.created_at'])
    .where('recipients.tenant_id', '=', tenantId)
    .where('recipients.status', 'in', selection.status ? [selection.status] : [...OPEN_STATUSES]);
  if (selection.recipientIds !== undefined) q = q.where('recipients.id', 'in', selection.recipientIds.length ? [...selection.recipientIds] : [-1]);
  if (selection.domain !== undefined) q = q.where('recipients.domain', '=', selection.domain);
  if (page.afterId !== undefined) q = q.where('recipients.id', '>', page.afterId);
  const rows = await q.orderBy('recipients.id').limit(page.limit).execute();
  return rows.map((r) => ({ ...r, id: Number(r.id), attempts: Number(r.attempts), next_attempt_at: Number(r.next_attempt_at), created_at: Number(r.created_at) }));
}

function selected(db: Kysely<Database>, tenantId: string, selection: QueueSelection, statuses: readonly RecipientStatus[], limit: number) {
  const wanted = selection.status ? [selection.status].filter((s) => statuses.includes(s)) : [...statuses];
  // `IN ()` is SQLite's alone; a status outside `statuses` selects nothing on both backends.
  let q = db.selectFrom('recipients').select('id').where('tenant_id', '=', tenantId)
    .where('status', 'in', wanted.length ? wanted : ['-' as RecipientStatus]);
  if (selection.recipientIds !== undefined) q = q.where('id', 'in', selection.recipientIds.length ? [...selection.recipientIds] : [-1]);
  if (selection.domain !== undefined) q = q.where('domain', '=', selection.domain);
  return q.orderBy('id').limit(limit);
}

/**
 * Makes queued or deferred recipients of the selection due now (in flight ones are already
 * being tried). At most `limit` per call, so one request never holds the write lock long;
 * `more` says whether matching recipients remain.
 */
export async function retrySelection(db: Kysely<Database>, tenantId: string, selection: QueueSelection, limit: number, now = Date.now()): Promise<{ count: number; messageIds: string[]; more: boolean }> {
  const rows = await db.updateTable('recipients').set({ next_attempt_at: now, updated_at: now })
    .where('id', 'in', selected(db, tenantId, selection, ['queued', 'deferred'], limit + 1))
    .returning(['id', 'message_id']).execute();
  if (rows.length) await notifyQueueOnCommit(db);
  // The +1 row learns whether more remain; retrying it early does no harm.
  return { count: Math.min(rows.length, limit), messageIds: [...new Set(rows.map((r) => r.message_id))], more: rows.length > limit };
}

/**
 * Cancels the selection's recipients that are not final (`message.cancelled` each, as a
 * message's DELETE does); an attempt already in an SMTP transaction may still deliver. At
 * most `limit` per call. Returns the messages touched, for the caller to free their bodies.
 */
export async function cancelSelection(db: Kysely<Database>, tenantId: string, selection: QueueSelection, limit: number, now = Date.now()): Promise<{ count: number; messageIds: string[]; more: boolean }> {
  const ids = (await selected(db, tenantId, selection, OPEN_STATUSES, limit + 1).execute()).map((r) => Number(r.id));
  const more = ids.length > limit;
  const take = ids.slice(0, limit);
  if (take.length === 0) return { count: 0, messageIds: [], more: false };
  const rows = await db.updateTable('recipients').set({ status: 'cancelled', lease_owner: null, lease_expires_at: null, updated_at: now })
    .where('id', 'in', take).where('status', 'in', [...OPEN_STATUSES])
    .returning(['id', 'message_id', 'rcpt']).execute();
  await insertEvents(db, rows.map((r) => cancelledEvent(tenantId, r)), now);
  return { count: rows.length, messageIds: [...new Set(rows.map((r) => r.message_id))], more };
}

/** The tenant's open recipients per state; `scheduled` counts queued ones waiting for a later send_at. */
export async function tenantQueueCounts(db: Kysely<Database>, tenantId: string, now = Date.now()): Promise<Record<OpenStatus | 'scheduled', number>> {
  const rows = await db.selectFrom('recipients')
    .select(['status', (eb) => eb.fn.countAll().as('n'), sql<number>`SUM(CASE WHEN status = 'queued' AND next_attempt_at > ${now + 60_000} THEN 1 ELSE 0 END)`.as('later')])
    .where('tenant_id', '=', tenantId).where('status', 'in', [...OPEN_STATUSES]).groupBy('status').execute();
  const out = { queued: 0, deferred: 0, inflight: 0, scheduled: 0 };
  for (const r of rows) {
    out[r.status as OpenStatus] = Number(r.n);
    if (r.status === 'queued') out.scheduled = Number(r.later ?? 0);
  }
  return out;
}
