// Read side of the receipts: a tenant's messages, events and counts, as the query API asks
// for them, and the retention job's deletes. Every query takes the tenant id: another
// tenant's message is not found, never forbidden.
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, EventTable, MessageTable, RecipientStatus, Stream } from '../database.ts';
import type { PageRequest } from './api-keys.ts';
import { jsonArrayHas } from '../sql-dialect.ts';

/** An events row as read. */
export type EventRow = Selectable<EventTable>;

/** A message row without its bytes (nor 0012's require_tls, which only delivery reads). */
export type MessageSummary = Omit<MessageTable, 'body' | 'require_tls' | 'body_render'> & { has_body: number };

const SUMMARY_COLUMNS = [
  'id', 'tenant_id', 'origin', 'stream', 'mail_from', 'size', 'body_path', 'header_size', 'message_id_header', 'subject',
  'from_header', 'dsn_ret', 'dsn_envid', 'is_bounce', 'smtputf8', 'client_ip', 'auth_user', 'created_at', 'tags', 'metadata', 'send_at',
] as const;

export async function getTenantMessage(db: Kysely<Database>, tenantId: string, id: string): Promise<MessageSummary | undefined> {
  return db.selectFrom('messages').select(SUMMARY_COLUMNS)
    .select(sql<number>`(body IS NOT NULL OR body_path IS NOT NULL OR body_render IS NOT NULL)`.as('has_body'))
    .where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
}

export interface MessageFilter {
  readonly status?: RecipientStatus | undefined;
  readonly recipient?: string | undefined;
  readonly sender?: string | undefined;
  readonly tag?: string | undefined;
  readonly stream?: Stream | undefined;
  /** created_at >= from (ms). */
  readonly from?: number | undefined;
  /** created_at < to (ms). */
  readonly to?: number | undefined;
  /** Newest first (default) or oldest first; the page cursor follows the order. */
  readonly order?: 'asc' | 'desc' | undefined;
}

/** A page of the tenant's messages in id (creation) order. */
export async function listMessagesPage(db: Kysely<Database>, tenantId: string, filter: MessageFilter, page: PageRequest): Promise<MessageSummary[]> {
  const desc = filter.order !== 'asc';
  let q = db.selectFrom('messages').select(SUMMARY_COLUMNS)
    .select(sql<number>`(body IS NOT NULL OR body_path IS NOT NULL OR body_render IS NOT NULL)`.as('has_body'))
    .where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) q = q.where('id', desc ? '<' : '>', page.afterId);
  if (filter.stream !== undefined) q = q.where('stream', '=', filter.stream);
  if (filter.sender !== undefined) q = q.where('mail_from', '=', filter.sender);
  if (filter.from !== undefined) q = q.where('created_at', '>=', filter.from);
  if (filter.to !== undefined) q = q.where('created_at', '<', filter.to);
  if (filter.tag !== undefined) {
    const tag = filter.tag;
    q = q.where(jsonArrayHas(db, sql.ref('messages.tags'), tag));
  }
  if (filter.recipient !== undefined) {
    const rcpt = filter.recipient;
    q = q.where('id', 'in', db.selectFrom('recipients').select('message_id').where('rcpt', '=', rcpt).where('tenant_id', '=', tenantId));
  }
  if (filter.status !== undefined) {
    const status = filter.status;
    q = q.where((eb) => eb.exists(eb.selectFrom('recipients').select('recipients.id')
      .whereRef('recipients.message_id', '=', 'messages.id').where('recipients.status', '=', status)));
  }
  return q.orderBy('id', desc ? 'desc' : 'asc').limit(page.limit).execute();
}

/** Recipients per status for each of these messages. */
export async function recipientCounts(db: Kysely<Database>, messageIds: readonly string[]): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>(messageIds.map((id) => [id, {}]));
  if (messageIds.length === 0) return out;
  const rows = await db.selectFrom('recipients').select(['message_id', 'status', (eb) => eb.fn.countAll().as('n')])
    .where('message_id', 'in', [...messageIds]).groupBy(['message_id', 'status']).execute();
  for (const r of rows) out.get(r.message_id)![r.status] = Number(r.n);
  return out;
}

export interface EventFilter {
  readonly types?: readonly string[] | undefined;
  readonly messageId?: string | undefined;
  /** created_at >= since (ms). */
  readonly since?: number | undefined;
  /** created_at < until (ms). */
  readonly until?: number | undefined;
}

/** A page of the tenant's events in id (commit) order; `afterId` is an events.id. */
export async function listEventsPage(db: Kysely<Database>, tenantId: string, filter: EventFilter, page: { afterId?: number | undefined; limit: number }): Promise<EventRow[]> {
  let q = db.selectFrom('events').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  if (filter.types !== undefined && filter.types.length > 0) q = q.where('type', 'in', [...filter.types]);
  if (filter.messageId !== undefined) q = q.where('message_id', '=', filter.messageId);
  if (filter.since !== undefined) q = q.where('created_at', '>=', filter.since);
  if (filter.until !== undefined) q = q.where('created_at', '<', filter.until);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Events of one message of the tenant, in order. */
export async function listMessageEvents(db: Kysely<Database>, tenantId: string, messageId: string): Promise<EventRow[]> {
  return db.selectFrom('events').selectAll().where('message_id', '=', messageId).where('tenant_id', '=', tenantId).orderBy('id').limit(10_000).execute();
}

export const HOUR_MS = 3_600_000;

/** The few columns of events that counting needs, with id in (afterId, upToId]. */
export async function readEventHeads(db: Kysely<Database>, afterId: number, upToId: number): Promise<Array<{ tenant_id: string | null; type: string; created_at: number }>> {
  return db.selectFrom('events').select(['tenant_id', 'type', 'created_at']).where('id', '>', afterId).where('id', '<=', upToId).execute();
}

/** Adds counts to the hourly rollup (in the fan-out's transaction, so each event counts once). */
export async function addEventCounts(db: Kysely<Database>, rows: ReadonlyArray<{ tenantId: string; hour: number; type: string; n: number }>): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    await db.insertInto('event_counts').values(rows.slice(i, i + 200).map((r) => ({ tenant_id: r.tenantId, hour: r.hour, type: r.type, n: r.n })))
      .onConflict((oc) => oc.columns(['tenant_id', 'hour', 'type']).doUpdateSet((eb) => ({ n: eb('event_counts.n', '+', eb.ref('excluded.n')) })))
      .execute();
  }
}

/**
 * A tenant's event counts per UTC hour and type over [from, to): the hourly rollup for events
 * up to `countedUpTo` (the fan-out cursor), plus the events after it, counted live (a
 * handful in a running server; all of them where no dispatcher runs).
 */
export async function eventCountsByHour(db: Kysely<Database>, tenantId: string, from: number, to: number, countedUpTo: number): Promise<Array<{ hour: number; type: string; n: number }>> {
  const rolled = await db.selectFrom('event_counts').select(['hour', 'type', 'n'])
    .where('tenant_id', '=', tenantId).where('hour', '>=', from - (from % HOUR_MS)).where('hour', '<', to).execute();
  const out = rolled.filter((r) => Number(r.hour) + HOUR_MS > from).map((r) => ({ hour: Number(r.hour), type: r.type, n: Number(r.n) }));
  const tail = await db.selectFrom('events').select(['type', 'created_at'])
    .where('tenant_id', '=', tenantId).where('id', '>', countedUpTo).where('created_at', '>=', from).where('created_at', '<', to).execute();
  for (const e of tail) {
    const t = Number(e.created_at);
    out.push({ hour: t - (t % HOUR_MS), type: e.type, n: 1 });
  }
  return out;
}

/** Event counts per type with id in (afterId, upToId], for /metrics counters. */
export async function eventCountsInRange(db: Kysely<Database>, afterId: number, upToId: number): Promise<Array<{ type: string; n: number }>> {
  const rows = await db.selectFrom('events').select(['type', (eb) => eb.fn.countAll().as('n')])
    .where('id', '>', afterId).where('id', '<=', upToId).groupBy('type').execute();
  return rows.map((r) => ({ type: r.type, n: Number(r.n) }));
}

// Retention. Both deletes work in chunks, so one run never holds the write lock for long.

/**
 * Deletes up to `limit` of the oldest events created before `cutoff`; returns how many.
 * Ids grow with time, so the oldest events are the lowest ids: the scan stops at the first
 * young one instead of reading the whole table.
 */
export async function deleteEventsBefore(db: Kysely<Database>, cutoff: number, limit: number): Promise<number> {
  const rows = await db.selectFrom('events').select(['id', 'created_at']).orderBy('id').limit(limit).execute();
  const old: number[] = [];
  for (const r of rows) {
    if (Number(r.created_at) >= cutoff) break;
    old.push(Number(r.id));
  }
  if (old.length === 0) return 0;
  await db.deleteFrom('events').where('id', '>=', old[0]).where('id', '<=', old[old.length - 1]).execute();
  return old.length;
}

/**
 * Drops the bytes of up to `limit` messages created before `cutoff` whose every recipient
 * is final (delivered, bounced, expired, cancelled, received). Returns the spool paths to
 * remove after the commit, and how many messages lost their bytes.
 */
export async function clearBodiesBefore(db: Kysely<Database>, cutoff: number, limit: number): Promise<{ cleared: number; paths: string[] }> {
  const rows = await db.selectFrom('messages').select(['id', 'body_path'])
    .where(sql<boolean>`(body IS NOT NULL OR body_path IS NOT NULL OR body_render IS NOT NULL)`).where('created_at', '<', cutoff)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('recipients').select('recipients.id')
      .whereRef('recipients.message_id', '=', 'messages.id').where('recipients.status', 'in', ['queued', 'inflight', 'deferred']))))
    .orderBy('created_at').limit(limit).execute();
  if (rows.length === 0) return { cleared: 0, paths: [] };
  await db.updateTable('messages').set({ body: null, body_path: null, body_render: null }).where('id', 'in', rows.map((r) => r.id)).execute();
  return { cleared: rows.length, paths: rows.flatMap((r) => (r.body_path ? [r.body_path] : [])) };
}

/** Recipients still queued, deferred or in flight, by status: each an index range, not a table scan (for /metrics). */
export async function openRecipientCounts(db: Kysely<Database>): Promise<Record<'queued' | 'deferred' | 'inflight', number>> {
  const out = { queued: 0, deferred: 0, inflight: 0 };
  for (const status of ['queued', 'deferred', 'inflight'] as const) {
    const row = await db.selectFrom('recipients').select((eb) => eb.fn.countAll().as('n')).where('status', '=', status).executeTakeFirstOrThrow();
    out[status] = Number(row.n);
  }
  return out;
}

/** Retention: the hourly counts of tenants that no longer exist. */
export async function deleteOrphanEventCounts(db: Kysely<Database>): Promise<number> {
  const r = await db.deleteFrom('event_counts').where('tenant_id', 'not in', db.selectFrom('tenants').select('id')).executeTakeFirst();
  return Number(r.numDeletedRows);
}

