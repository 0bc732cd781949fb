// Saved segments and the audience query: a segment's filter tree (validated at the API edge,
// campaigns/segment-filter.ts) becomes one WHERE over `contacts`, evaluated when asked (count
// preview) and when a campaign expands, never stored as a result. Attribute paths are
// restricted to [A-Za-z0-9_] by the schema, so the JSON path is never user text.
import { sql, type ExpressionBuilder, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { ContactTable, Database, SegmentTable } from '../database.ts';
import type { PageRequest } from './api-keys.ts';
import { newPublicId } from '../ids.ts';
import { jsonText } from '../sql-dialect.ts';

export type SegmentOp = 'eq' | 'neq' | 'contains' | 'in' | 'exists' | 'before' | 'after';
export type SegmentValue = string | number | boolean | ReadonlyArray<string | number>;

export type SegmentCondition =
  | { readonly all: readonly SegmentCondition[] }
  | { readonly any: readonly SegmentCondition[] }
  | { readonly not: SegmentCondition }
  | { readonly field: string; readonly op: SegmentOp; readonly value?: SegmentValue | undefined }
  | { readonly list: string }
  | { readonly engagement: 'opened' | 'clicked'; readonly within_days: number };

/** Who a campaign (or a count preview) reaches: subscribed members of any of `listIds`, narrowed by `filter`. */
export interface Audience {
  readonly tenantId: string;
  /** Empty: every contact of the tenant (then a segment should narrow it). */
  readonly listIds: readonly string[];
  readonly filter: SegmentCondition | null;
}

type Eb = ExpressionBuilder<Database, 'contacts'>;
const DAY_MS = 86_400_000;

function escapeLike(text: string): string {
  return text.replace(/[%_\\]/g, (c) => `\\${c}`);
}

function fieldRef(db: Kysely<any>, field: string): Expression<unknown> {
  if (field.startsWith('attributes.')) return jsonText(db, sql.ref('contacts.attributes'), field.slice('attributes.'.length));
  return sql.ref(`contacts.${field}`);
}

function timeValue(field: string, value: SegmentValue | undefined): string | number {
  // created_at/updated_at are ms; attributes hold ISO text, which compares in time order.
  if (field === 'created_at' || field === 'updated_at') return Date.parse(String(value));
  return String(value);
}

function compile(db: Kysely<any>, eb: Eb, c: SegmentCondition, now: number): Expression<SqlBool> {
  if ('all' in c) return c.all.length ? eb.and(c.all.map((x) => compile(db, eb, x, now))) : sql<SqlBool>`1 = 1`;
  if ('any' in c) return c.any.length ? eb.or(c.any.map((x) => compile(db, eb, x, now))) : sql<SqlBool>`1 = 0`;
  if ('not' in c) return eb.not(compile(db, eb, c.not, now));
  if ('list' in c) {
    return eb.exists(eb.selectFrom('list_members').select(sql.lit(1).as('one'))
      .whereRef('list_members.contact_id', '=', 'contacts.id').where('list_members.list_id', '=', c.list).where('list_members.status', '=', 'subscribed'));
  }
  if ('engagement' in c) {
    const since = now - c.within_days * DAY_MS;
    return eb.exists(eb.selectFrom('tracking_events').select(sql.lit(1).as('one'))
      .whereRef('tracking_events.tenant_id', '=', 'contacts.tenant_id').whereRef('tracking_events.contact_id', '=', 'contacts.id')
      .where('tracking_events.kind', '=', c.engagement === 'opened' ? 'open' : 'click').where('tracking_events.machine', '=', 0)
      .where('tracking_events.created_at', '>=', since));
  }
  const ref = fieldRef(db, c.field);
  const v = c.value;
  switch (c.op) {
    case 'eq': return sql<SqlBool>`${ref} = ${typeof v === 'boolean' ? (v ? 1 : 0) : v}`;
    case 'neq': return sql<SqlBool>`(${ref} is null or ${ref} <> ${typeof v === 'boolean' ? (v ? 1 : 0) : v})`;
    case 'contains': return sql<SqlBool>`lower(${ref}) like ${`%${escapeLike(String(v).toLowerCase())}%`} escape '\\'`;
    case 'in': {
      const values = Array.isArray(v) ? v : [v];
      return values.length ? sql<SqlBool>`${ref} in (${sql.join(values.map((x) => sql`${x}`))})` : sql<SqlBool>`1 = 0`;
    }
    case 'exists': return sql<SqlBool>`(${ref} is not null and ${ref} <> '')`;
    case 'before': return sql<SqlBool>`${ref} < ${timeValue(c.field, v)}`;
    case 'after': return sql<SqlBool>`${ref} > ${timeValue(c.field, v)}`;
  }
}

function audienceWhere(db: Kysely<any>, eb: Eb, audience: Audience, now: number): Expression<SqlBool> {
  const parts: Expression<SqlBool>[] = [eb('contacts.tenant_id', '=', audience.tenantId)];
  if (audience.listIds.length) {
    parts.push(eb.exists(eb.selectFrom('list_members').select(sql.lit(1).as('one'))
      .whereRef('list_members.contact_id', '=', 'contacts.id').where('list_members.list_id', 'in', audience.listIds).where('list_members.status', '=', 'subscribed')));
  }
  if (audience.filter) parts.push(compile(db, eb, audience.filter, now));
  return eb.and(parts);
}

/** How many contacts the audience holds now (any status: the campaign skips and counts the unsubscribed). */
export async function countAudience(db: Kysely<Database>, audience: Audience, now = Date.now()): Promise<{ total: number; subscribed: number }> {
  const row = await db.selectFrom('contacts')
    .select([(eb) => eb.fn.countAll<number>().as('total'), sql<number>`sum(case when "contacts"."status" = 'subscribed' then 1 else 0 end)`.as('subscribed')])
    .where((eb) => audienceWhere(db, eb, audience, now)).executeTakeFirst();
  return { total: Number(row?.total ?? 0), subscribed: Number(row?.subscribed ?? 0) };
}

/** The next `limit` contacts of the audience after `afterId`, in id order (the expansion cursor). */
export async function audiencePage(db: Kysely<Database>, audience: Audience, afterId: string | null, limit: number, now = Date.now()): Promise<ContactTable[]> {
  let q = db.selectFrom('contacts').selectAll().where((eb) => audienceWhere(db, eb, audience, now));
  if (afterId) q = q.where('contacts.id', '>', afterId);
  return q.orderBy('contacts.id').limit(limit).execute();
}

export async function insertSegment(db: Kysely<Database>, tenantId: string, name: string, filter: SegmentCondition, now: number): Promise<SegmentTable> {
  const row: SegmentTable = { id: newPublicId('seg', now), tenant_id: tenantId, name, filter: JSON.stringify(filter), created_at: now, updated_at: now };
  await db.insertInto('segments').values(row).execute();
  return row;
}

export async function getSegment(db: Kysely<Database>, tenantId: string, id: string): Promise<SegmentTable | undefined> {
  return db.selectFrom('segments').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

export async function listSegmentsPage(db: Kysely<Database>, tenantId: string, page: PageRequest): Promise<SegmentTable[]> {
  let q = db.selectFrom('segments').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

export async function updateSegment(db: Kysely<Database>, tenantId: string, id: string, patch: { name?: string; filter?: SegmentCondition }, now: number): Promise<SegmentTable | undefined> {
  const set: Partial<SegmentTable> = { updated_at: now };
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.filter !== undefined) set.filter = JSON.stringify(patch.filter);
  await db.updateTable('segments').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  return getSegment(db, tenantId, id);
}

export async function deleteSegment(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('segments').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
