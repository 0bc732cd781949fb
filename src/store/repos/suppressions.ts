// Suppression lists: per tenant and stream, addresses that must not be sent to. The send path
// asks `suppressedAmong` for every message, so a lookup is one probe of the unique index per
// ≤500 recipients. An entry whose `expires_at` has passed no longer counts anywhere (lookups,
// listings, export); the retention job deletes it later with `purgeExpiredSuppressions`.
//
// Addresses are compared in one normalised form: trimmed, domain in A-labels (IDNA), and the
// whole address lower-cased. RFC 5321 §2.4 lets a server treat local parts as case-sensitive,
// but no mailbox provider does, and a suppression that `Bob@x` slips past is worse than one
// that also covers a distinct `bob@x`.
//
// The tenant's contact with a suppressed address follows the list in the same transaction
// (issue 9): an entry raises the contact's status to the one its reason stands for
// (CONTACT_STATUS_OF, CONTACT_STATUS_RANK in contacts.ts), and removing a bounce or complaint
// entry, the operator clearing it, gives a contact whose status came from it the status of what
// is left on the list for the address (any stream), or `subscribed`.
import { selectCompiled } from '../compiled-queries.ts';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { ContactStatus, Database, Stream, SuppressionReason, SuppressionTable } from '../database.ts';
import type { PageRequest } from './api-keys.ts';
import { StoreError } from './tenants.ts';
import { CONTACT_STATUS_RANK, raiseContactStatuses, replaceContactStatus } from './contacts.ts';
import { newPublicId } from '../ids.ts';
import { parseAddress } from '../../smtp/index.ts';

export const SUPPRESSION_STREAMS = ['transactional', 'broadcast'] as const satisfies readonly Stream[];

/**
 * Strongest first. When an address is suppressed again, the stronger reason stays: a complaint
 * and an unsubscribe are the recipient's own word (consent), a hard bounce is a technical
 * fact that may change (a mailbox re-created), and a manual entry is the sender's choice.
 * Consent outranks the bounce so that clearing bounces in bulk (after a receiving outage)
 * can never resume mail to someone who asked for none.
 */
export const SUPPRESSION_REASONS = ['complaint', 'unsubscribe', 'hard_bounce', 'manual'] as const satisfies readonly SuppressionReason[];

const REASON_RANK: Record<SuppressionReason, number> = { complaint: 4, unsubscribe: 3, hard_bounce: 2, manual: 1 };

/** The contact status a live entry stands for; a manual entry is the sender's choice, not the contact's state. */
const CONTACT_STATUS_OF: Partial<Record<SuppressionReason, ContactStatus>> = { complaint: 'complained', unsubscribe: 'unsubscribed', hard_bounce: 'bounced' };

/** Longer descriptions (a bounce's whole diagnostic) are cut to this many characters. */
export const MAX_SUPPRESSION_DESCRIPTION_CHARS = 1000;

/** Addresses per lookup or insert statement (well under SQLite's 32,766 bound parameters). */
const CHUNK = 500;

export interface NewSuppression {
  readonly stream: Stream;
  /** Any form `normaliseSuppressionAddress` accepts; stored normalised. */
  readonly address: string;
  readonly reason: SuppressionReason;
  readonly description?: string | null;
  readonly messageId?: string | null;
  /** ms since the epoch; null or absent: permanent. */
  readonly expiresAt?: number | null;
}

export interface SuppressionHit {
  readonly id: string;
  readonly reason: SuppressionReason;
}

export interface AddSuppressionsResult {
  /** Entries that were not suppressed before (or whose earlier entry had expired). */
  readonly added: number;
  /** Entries that merged into a live entry (see SUPPRESSION_REASONS for the rules). */
  readonly updated: number;
  /** The rows as stored after the merge, one per distinct (stream, address), in entry order. */
  readonly rows: SuppressionTable[];
}

export interface SuppressionFilter {
  readonly stream?: Stream | undefined;
  readonly reason?: SuppressionReason | undefined;
  /** Substring of the (normalised) address, case-insensitive. */
  readonly address_contains?: string | undefined;
  /** ms; entries created at or after. */
  readonly created_after?: number | undefined;
  /** ms; entries created before. */
  readonly created_before?: number | undefined;
}

/** The stored form of an address (see the file comment), or undefined when it is not a mailbox we could send to. */
export function normaliseSuppressionAddress(input: string): string | undefined {
  const parsed = parseAddress(input.trim());
  return parsed ? `${parsed.localPart}@${parsed.domain}`.toLowerCase() : undefined;
}

/**
 * Which of `addresses` the tenant suppresses on `stream`, keyed by the address exactly as
 * given. Invalid addresses are never suppressed. One indexed query per 500 distinct addresses.
 */
export async function suppressedAmong(db: Kysely<Database>, tenantId: string, stream: Stream, addresses: readonly string[], now = Date.now()): Promise<Map<string, SuppressionHit>> {
  const out = new Map<string, SuppressionHit>();
  const given = new Map<string, string[]>();
  for (const a of addresses) {
    const n = normaliseSuppressionAddress(a);
    if (n === undefined) continue;
    const list = given.get(n);
    if (list) list.push(a);
    else given.set(n, [a]);
  }
  const keys = [...given.keys()];
  for (let i = 0; i < keys.length; i += CHUNK) {
    const slice = keys.slice(i, i + CHUNK);
    // On every send: compiled once per number of addresses (compiled-queries.ts).
    const rows = await selectCompiled(db, `suppressed-among|${slice.length}`, [tenantId, stream, ...slice, now], () => db.selectFrom('suppressions').select(['id', 'address', 'reason'])
      .where('tenant_id', '=', tenantId).where('stream', '=', stream).where('address', 'in', slice)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)])));
    for (const row of rows) for (const a of given.get(row.address) ?? []) out.set(a, { id: row.id, reason: row.reason });
  }
  return out;
}

function assertEntry(e: NewSuppression, index: number): string {
  if (!SUPPRESSION_STREAMS.includes(e.stream)) throw new StoreError('SUPPRESSION_STREAM_INVALID', `entry ${index}: stream must be one of ${SUPPRESSION_STREAMS.join(', ')}`);
  if (!(e.reason in REASON_RANK)) throw new StoreError('SUPPRESSION_REASON_INVALID', `entry ${index}: reason must be one of ${SUPPRESSION_REASONS.join(', ')}`);
  const address = normaliseSuppressionAddress(e.address);
  if (address === undefined) throw new StoreError('SUPPRESSION_ADDRESS_INVALID', `entry ${index}: "${e.address.slice(0, 320)}" is not a valid email address`);
  return address;
}

/** The later expiry; null (permanent) wins over any time. */
function laterExpiry(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

/** Merges `next` into `prev` with the rules the upsert applies in SQL (for duplicates within one call). */
function merge(prev: SuppressionTable, next: SuppressionTable): SuppressionTable {
  const diff = REASON_RANK[next.reason] - REASON_RANK[prev.reason];
  const from = diff > 0 ? next : prev;
  return {
    ...prev,
    reason: from.reason,
    description: diff === 0 ? (next.description ?? prev.description) : from.description,
    message_id: diff === 0 ? (next.message_id ?? prev.message_id) : from.message_id,
    expires_at: laterExpiry(prev.expires_at, next.expires_at),
  };
}

function rank(column: string): RawBuilder<number> {
  return sql<number>`(case ${sql.ref(column)} when 'complaint' then 4 when 'unsubscribe' then 3 when 'hard_bounce' then 2 else 1 end)`;
}

/**
 * Adds or strengthens entries; call inside `store.write`. An address already suppressed on
 * that stream keeps the stronger reason (SUPPRESSION_REASONS), and with it that reason's
 * description and message id (an equal reason takes the newer ones when given); the later
 * expiry wins, and a permanent entry stays permanent. An entry that had expired is replaced
 * outright (new id, created now). Throws StoreError SUPPRESSION_ADDRESS_INVALID (or _STREAM_,
 * _REASON_INVALID) naming the entry index, before writing anything.
 */
export async function addSuppressions(db: Kysely<Database>, tenantId: string, entries: readonly NewSuppression[], now = Date.now()): Promise<AddSuppressionsResult> {
  const byKey = new Map<string, SuppressionTable>();
  entries.forEach((e, i) => {
    const address = assertEntry(e, i);
    const row: SuppressionTable = {
      id: newPublicId('sup', now), tenant_id: tenantId, stream: e.stream, address, reason: e.reason,
      description: e.description ? e.description.slice(0, MAX_SUPPRESSION_DESCRIPTION_CHARS) : null, message_id: e.messageId ?? null, created_at: now, expires_at: e.expiresAt ?? null,
    };
    const key = `${e.stream} ${address}`;
    const prev = byKey.get(key);
    byKey.set(key, prev ? merge(prev, row) : row);
  });
  const proposed = [...byKey.values()];
  const stored = new Map<string, SuppressionTable>();
  let added = 0;
  // The row as it was before this statement is `suppressions.*`; a live one merges, an expired one is replaced.
  const stale = sql<boolean>`(suppressions.expires_at is not null and suppressions.expires_at <= ${now})`;
  const stronger = sql<boolean>`${rank('excluded.reason')} > ${rank('suppressions.reason')}`;
  const equal = sql<boolean>`${rank('excluded.reason')} = ${rank('suppressions.reason')}`;
  for (let i = 0; i < proposed.length; i += CHUNK) {
    const chunk = proposed.slice(i, i + CHUNK);
    const rows = await db.insertInto('suppressions').values(chunk)
      .onConflict((oc) => oc.columns(['tenant_id', 'stream', 'address']).doUpdateSet({
        id: sql`case when ${stale} then excluded.id else suppressions.id end`,
        created_at: sql`case when ${stale} then excluded.created_at else suppressions.created_at end`,
        reason: sql`case when ${stale} or ${stronger} then excluded.reason else suppressions.reason end`,
        description: sql`case when ${stale} or ${stronger} then excluded.description when ${equal} then coalesce(excluded.description, suppressions.description) else suppressions.description end`,
        message_id: sql`case when ${stale} or ${stronger} then excluded.message_id when ${equal} then coalesce(excluded.message_id, suppressions.message_id) else suppressions.message_id end`,
        expires_at: sql`case when ${stale} then excluded.expires_at when suppressions.expires_at is null or excluded.expires_at is null then null
          when excluded.expires_at > suppressions.expires_at then excluded.expires_at else suppressions.expires_at end`,
      }))
      .returningAll()
      .execute();
    for (const row of rows) stored.set(`${row.stream} ${row.address}`, row);
    // Our proposed id survives only where a row was inserted (or replaced an expired one).
    for (const p of chunk) if (stored.get(`${p.stream} ${p.address}`)?.id === p.id) added++;
  }
  const out = proposed.map((p) => stored.get(`${p.stream} ${p.address}`)!);
  const raise = new Map<ContactStatus, string[]>();
  for (const row of out) {
    const status = CONTACT_STATUS_OF[row.reason];
    if (!status || (row.expires_at !== null && Number(row.expires_at) <= now)) continue;
    const emails = raise.get(status);
    if (emails) emails.push(row.address);
    else raise.set(status, [row.address]);
  }
  for (const [status, emails] of raise) await raiseContactStatuses(db, tenantId, emails, status, now);
  return { added, updated: out.length - added, rows: out };
}

/** The live entry for an address (any form `normaliseSuppressionAddress` accepts), if any. */
export async function getSuppression(db: Kysely<Database>, tenantId: string, stream: Stream, address: string, now = Date.now()): Promise<SuppressionTable | undefined> {
  const normal = normaliseSuppressionAddress(address);
  if (normal === undefined) return undefined;
  return db.selectFrom('suppressions').selectAll()
    .where('tenant_id', '=', tenantId).where('stream', '=', stream).where('address', '=', normal)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .executeTakeFirst();
}

/**
 * Removes an address from the tenant's list for `stream`, making it sendable again; answers
 * the entry removed, or undefined when there was no live one (an expired one is removed too).
 */
export async function removeSuppression(db: Kysely<Database>, tenantId: string, stream: Stream, address: string, now = Date.now()): Promise<SuppressionTable | undefined> {
  const normal = normaliseSuppressionAddress(address);
  if (normal === undefined) return undefined;
  const row = await db.deleteFrom('suppressions')
    .where('tenant_id', '=', tenantId).where('stream', '=', stream).where('address', '=', normal)
    .returningAll().executeTakeFirst();
  if (row) await restoreContactStatus(db, tenantId, row, now);
  return row && (row.expires_at === null || Number(row.expires_at) > now) ? row : undefined;
}

/**
 * After `removed` left the list: a contact whose status came from a bounce or complaint entry
 * takes the status of the strongest entry left for the address on any stream, or `subscribed`.
 * Removing an unsubscribe (or manual) entry changes no contact: only the contact itself
 * (PATCH /api/v1/contacts/{id}) subscribes someone who unsubscribed again.
 */
async function restoreContactStatus(db: Kysely<Database>, tenantId: string, removed: SuppressionTable, now: number): Promise<void> {
  const from = CONTACT_STATUS_OF[removed.reason];
  if (from !== 'bounced' && from !== 'complained') return;
  const left = await db.selectFrom('suppressions').select('reason')
    .where('tenant_id', '=', tenantId).where('stream', 'in', [...SUPPRESSION_STREAMS]).where('address', '=', removed.address)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  let to: ContactStatus = 'subscribed';
  for (const { reason } of left) {
    const status = CONTACT_STATUS_OF[reason];
    if (status && CONTACT_STATUS_RANK[status] > CONTACT_STATUS_RANK[to]) to = status;
  }
  await replaceContactStatus(db, tenantId, removed.address, from, to, now);
}

/** `%`, `_` and the escape character itself match literally in a LIKE pattern with `escape '\'`. */
function likeContains(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * One page of live entries in id (creation) order after `page.afterId`. Without a stream
 * filter the two streams are read from the (tenant, stream, id) index and merged.
 */
export async function listSuppressionsPage(db: Kysely<Database>, tenantId: string, filter: SuppressionFilter, page: PageRequest, now = Date.now()): Promise<SuppressionTable[]> {
  const streams = filter.stream ? [filter.stream] : SUPPRESSION_STREAMS;
  const rows: SuppressionTable[] = [];
  for (const stream of streams) {
    let q = db.selectFrom('suppressions').selectAll().where('tenant_id', '=', tenantId).where('stream', '=', stream)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
    if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
    if (filter.reason !== undefined) q = q.where('reason', '=', filter.reason);
    if (filter.address_contains) q = q.where(sql<boolean>`address like ${likeContains(filter.address_contains)} escape '\\'`);
    if (filter.created_after !== undefined) q = q.where('created_at', '>=', filter.created_after);
    if (filter.created_before !== undefined) q = q.where('created_at', '<', filter.created_before);
    rows.push(...await q.orderBy('id').limit(page.limit).execute());
  }
  if (streams.length === 1) return rows;
  return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, page.limit);
}

/** Deletes up to `limit` expired entries; answers how many. The retention job calls it in chunks. */
export async function purgeExpiredSuppressions(db: Kysely<Database>, now = Date.now(), limit = 1000): Promise<number> {
  const res = await db.deleteFrom('suppressions').where('id', 'in',
    db.selectFrom('suppressions').select('id').where('expires_at', 'is not', null).where('expires_at', '<=', now).limit(limit)).executeTakeFirst();
  return Number(res.numDeletedRows);
}
