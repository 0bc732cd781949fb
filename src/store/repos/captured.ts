// The capture inbox: messages that capture mode (a sandbox tenant, or delivery.mode:
// capture) kept instead of sending. Such a recipient is `delivered` with no MX host
// (queue/scheduler.ts captureGroup); the 0009 partial index `recipients_captured` holds
// exactly those rows, newest message first per tenant.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../database.ts';
import { likeOperator, stringAgg } from '../sql-dialect.ts';

export interface CapturedMessageRow {
  readonly id: string;
  readonly mail_from: string;
  readonly from_header: string | null;
  readonly subject: string | null;
  readonly size: number;
  readonly created_at: number;
  readonly has_body: number;
  /** The captured recipients, comma-separated. */
  readonly recipients: string;
}

/** Captured messages of the tenant, newest first, before the cursor (a message id). */
export async function listCapturedPage(db: Kysely<Database>, tenantId: string, filter: { q?: string | undefined }, page: { afterId?: string | undefined; limit: number }): Promise<CapturedMessageRow[]> {
  let ids = db.selectFrom('recipients').select('recipients.message_id').distinct()
    .where('recipients.tenant_id', '=', tenantId).where('recipients.status', '=', 'delivered').where('recipients.last_mx', 'is', null);
  if (page.afterId !== undefined) ids = ids.where('recipients.message_id', '<', page.afterId);
  if (filter.q !== undefined && filter.q !== '') {
    // A substring of the subject, From, envelope sender or a recipient: a scan of this
    // tenant's captured mail only, which a sandbox keeps small.
    const like = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const op = likeOperator(db);
    ids = ids.innerJoin('messages', 'messages.id', 'recipients.message_id').where((eb) => eb.or([
      eb(sql`messages.subject`, op, sql`${like} ESCAPE '\\'`),
      eb(sql`messages.from_header`, op, sql`${like} ESCAPE '\\'`),
      eb(sql`messages.mail_from`, op, sql`${like} ESCAPE '\\'`),
      eb(sql`recipients.rcpt`, op, sql`${like} ESCAPE '\\'`),
    ]));
  }
  const pageIds = (await ids.orderBy('recipients.message_id', 'desc').limit(page.limit).execute()).map((r) => r.message_id);
  if (pageIds.length === 0) return [];
  const rows = await db.selectFrom('messages')
    .select(['messages.id', 'messages.mail_from', 'messages.from_header', 'messages.subject', 'messages.size', 'messages.created_at'])
    .select(sql<number>`(messages.body IS NOT NULL OR messages.body_path IS NOT NULL OR messages.body_render IS NOT NULL)`.as('has_body'))
    .select(sql<string>`(SELECT ${stringAgg(db, sql.ref('r.rcpt'), ',')} FROM recipients r WHERE r.message_id = messages.id AND r.status = 'delivered' AND r.last_mx IS NULL)`.as('recipients'))
    .where('messages.id', 'in', pageIds).where('messages.tenant_id', '=', tenantId)
    .orderBy('messages.id', 'desc').execute();
  return rows.map((r) => ({ ...r, size: Number(r.size), created_at: Number(r.created_at), has_body: Number(r.has_body), recipients: r.recipients ?? '' }));
}

/**
 * Deletes the tenant's captured messages whose every recipient is final (nothing of them
 * can still be delivered), with their events; recipients and attempts go by ON DELETE
 * CASCADE. At most `limit` messages per call. Returns the spool files to remove after the
 * commit and whether more remain.
 */
export async function deleteCaptured(db: Kysely<Database>, tenantId: string, limit: number): Promise<{ deleted: number; bodyPaths: string[]; more: boolean }> {
  const candidates = (await db.selectFrom('recipients').select('message_id').distinct()
    .where('tenant_id', '=', tenantId).where('status', '=', 'delivered').where('last_mx', 'is', null)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('recipients as open').select('open.id')
      .whereRef('open.message_id', '=', 'recipients.message_id').where('open.status', 'in', ['queued', 'deferred', 'inflight']))))
    .limit(limit + 1).execute()).map((r) => r.message_id);
  const more = candidates.length > limit;
  const ids = candidates.slice(0, limit);
  if (ids.length === 0) return { deleted: 0, bodyPaths: [], more: false };
  const bodies = await db.selectFrom('messages').select('body_path').where('id', 'in', ids).where('tenant_id', '=', tenantId)
    .where('body_path', 'is not', null).execute();
  await db.deleteFrom('events').where('tenant_id', '=', tenantId).where('message_id', 'in', ids).execute();
  const r = await db.deleteFrom('messages').where('tenant_id', '=', tenantId).where('id', 'in', ids).executeTakeFirst();
  return { deleted: Number(r.numDeletedRows), bodyPaths: bodies.map((b) => b.body_path!), more };
}
