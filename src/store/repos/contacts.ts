// Contacts and lists of a tenant (issue 9). A contact's email is stored in the suppression
// list's normalised form (normaliseSuppressionAddress), so that "is this contact suppressed"
// is one probe of the same index. The bulk statements (import, expansion) are multi-row and
// compiled once per shape (compiled-queries.ts does the same for the accept path).
import { CompiledQuery, sql, type Kysely } from 'kysely';
import type { ContactListTable, ContactStatus, ContactTable, Database, ListMemberStatus } from '../database.ts';
import type { PageRequest } from './api-keys.ts';
import { newPublicId } from '../ids.ts';
import { jsonMergeSql, placeholders as numbered } from '../sql-dialect.ts';

/** Rows per multi-row statement: 7 columns × 500 is far under SQLite's 32,766 parameters. */
export const CONTACT_ROWS_PER_STATEMENT = 500;

export interface ContactInput {
  /** Normalised already (normaliseSuppressionAddress). */
  readonly email: string;
  readonly name: string | null;
  readonly attributes: Readonly<Record<string, unknown>> | null;
}

export interface UpsertedContact {
  readonly id: string;
  readonly email: string;
  readonly status: ContactStatus;
}

const sqlText = new Map<string, string>();
function cached(key: string, build: () => string): string {
  let text = sqlText.get(key);
  if (text === undefined) sqlText.set(key, text = build());
  return text;
}
const placeholders = (rows: number, cols: number) => Array.from({ length: rows }, () => `(${Array(cols).fill('?').join(', ')})`).join(', ');

/**
 * Inserts contacts, or updates the name (when given) and merges the attributes of those the
 * tenant already has (same email). Answers every contact's id and status, in no set order.
 */
export async function upsertContacts(db: Kysely<Database>, tenantId: string, contacts: readonly ContactInput[], now: number): Promise<UpsertedContact[]> {
  const out: UpsertedContact[] = [];
  for (let i = 0; i < contacts.length; i += CONTACT_ROWS_PER_STATEMENT) {
    const chunk = contacts.slice(i, i + CONTACT_ROWS_PER_STATEMENT);
    const text = cached(`upsert:${chunk.length}`, () => `insert into "contacts" ("id", "tenant_id", "email", "name", "attributes", "status", "created_at", "updated_at") values ${placeholders(chunk.length, 8)}`
      + ` on conflict ("tenant_id", "email") do update set "name" = coalesce(excluded."name", "contacts"."name"),`
      + ` "attributes" = ${jsonMergeSql(db, '"contacts"."attributes"', 'excluded."attributes"')}, "updated_at" = excluded."updated_at"`
      + ` returning "id", "email", "status"`);
    const params: unknown[] = [];
    for (const c of chunk) params.push(newPublicId('ct', now), tenantId, c.email, c.name, JSON.stringify(c.attributes ?? {}), 'subscribed', now, now);
    const r = await db.executeQuery<UpsertedContact>(CompiledQuery.raw(numbered(db, text), params));
    out.push(...r.rows);
  }
  return out;
}

/**
 * Adds contacts to a list; members already there keep their row (and status). Answers the
 * contact ids that were added now.
 */
export async function addListMembers(db: Kysely<Database>, tenantId: string, listId: string, contactIds: readonly string[], options: { now: number; status?: ListMemberStatus; jobId?: string | null; ip?: string | null }): Promise<Set<string>> {
  const added = new Set<string>();
  const status = options.status ?? 'subscribed';
  for (let i = 0; i < contactIds.length; i += CONTACT_ROWS_PER_STATEMENT) {
    const chunk = contactIds.slice(i, i + CONTACT_ROWS_PER_STATEMENT);
    const text = cached(`members:${chunk.length}`, () => `insert into "list_members" ("list_id", "contact_id", "tenant_id", "status", "job_id", "opted_in_at", "opt_in_ip", "created_at") values ${placeholders(chunk.length, 8)}`
      + ' on conflict do nothing returning "contact_id"');
    const params: unknown[] = [];
    for (const id of chunk) params.push(listId, id, tenantId, status, options.jobId ?? null, status === 'subscribed' ? options.now : null, options.ip ?? null, options.now);
    const r = await db.executeQuery<{ contact_id: string }>(CompiledQuery.raw(numbered(db, text), params));
    for (const row of r.rows) added.add(row.contact_id);
  }
  return added;
}

/** Of `contactIds` on the list, those added by import job `jobId`. */
export async function membersAddedByJob(db: Kysely<Database>, listId: string, jobId: string, contactIds: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < contactIds.length; i += CONTACT_ROWS_PER_STATEMENT) {
    const rows = await db.selectFrom('list_members').select('contact_id')
      .where('list_id', '=', listId).where('job_id', '=', jobId).where('contact_id', 'in', contactIds.slice(i, i + CONTACT_ROWS_PER_STATEMENT)).execute();
    for (const r of rows) out.add(r.contact_id);
  }
  return out;
}

export async function removeListMember(db: Kysely<Database>, tenantId: string, listId: string, contactId: string): Promise<boolean> {
  const r = await db.deleteFrom('list_members').where('tenant_id', '=', tenantId).where('list_id', '=', listId).where('contact_id', '=', contactId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function setListMemberStatus(db: Kysely<Database>, tenantId: string, listId: string, contactId: string, status: ListMemberStatus): Promise<boolean> {
  const r = await db.updateTable('list_members').set({ status }).where('tenant_id', '=', tenantId).where('list_id', '=', listId).where('contact_id', '=', contactId).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function getContact(db: Kysely<Database>, tenantId: string, id: string): Promise<ContactTable | undefined> {
  return db.selectFrom('contacts').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

export async function findContactByEmail(db: Kysely<Database>, tenantId: string, email: string): Promise<ContactTable | undefined> {
  return db.selectFrom('contacts').selectAll().where('tenant_id', '=', tenantId).where('email', '=', email).executeTakeFirst();
}

export async function listContactsPage(db: Kysely<Database>, tenantId: string, filter: { listId?: string | undefined; status?: ContactStatus | undefined; q?: string | undefined }, page: PageRequest): Promise<ContactTable[]> {
  let q = db.selectFrom('contacts').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId) q = q.where('id', '>', page.afterId);
  if (filter.status) q = q.where('status', '=', filter.status);
  if (filter.q) {
    const pattern = `%${filter.q.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    q = q.where(sql<boolean>`${sql.ref('email')} like ${pattern} escape '\\'`);
  }
  if (filter.listId) {
    const listId = filter.listId;
    q = q.where((eb) => eb.exists(eb.selectFrom('list_members').select(sql.lit(1).as('one')).whereRef('list_members.contact_id', '=', 'contacts.id').where('list_members.list_id', '=', listId)));
  }
  return q.orderBy('id').limit(page.limit).execute();
}

export async function updateContact(db: Kysely<Database>, tenantId: string, id: string, patch: { name?: string | null; attributes?: Record<string, unknown>; status?: ContactStatus }, now: number): Promise<ContactTable | undefined> {
  const set: Partial<ContactTable> = { updated_at: now };
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.attributes !== undefined) set.attributes = JSON.stringify(patch.attributes);
  if (patch.status !== undefined) set.status = patch.status;
  await db.updateTable('contacts').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  return getContact(db, tenantId, id);
}

export async function deleteContact(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  await db.deleteFrom('list_members').where('tenant_id', '=', tenantId).where('contact_id', '=', id).execute();
  const r = await db.deleteFrom('contacts').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * Contact statuses, weakest first, as the suppression list sets them (suppressions.ts): an
 * entry raises a contact's status, never lowers it. `unsubscribed` ranks above `complained`
 * and `bounced` because it is the recipient's own word that no entry's removal may undo: a
 * contact who unsubscribed and later bounces or complains stays `unsubscribed`.
 */
export const CONTACT_STATUS_RANK: Readonly<Record<ContactStatus, number>> = { subscribed: 0, bounced: 1, complained: 2, unsubscribed: 3 };

/** Raises the tenant's contacts with these (normalised) emails to `status` where theirs ranks lower; answers how many changed. */
export async function raiseContactStatuses(db: Kysely<Database>, tenantId: string, emails: readonly string[], status: ContactStatus, now: number): Promise<number> {
  const weaker = (Object.keys(CONTACT_STATUS_RANK) as ContactStatus[]).filter((s) => CONTACT_STATUS_RANK[s] < CONTACT_STATUS_RANK[status]);
  if (weaker.length === 0) return 0;
  let changed = 0;
  for (let i = 0; i < emails.length; i += CONTACT_ROWS_PER_STATEMENT) {
    const r = await db.updateTable('contacts').set({ status, updated_at: now })
      .where('tenant_id', '=', tenantId).where('email', 'in', emails.slice(i, i + CONTACT_ROWS_PER_STATEMENT)).where('status', 'in', weaker)
      .executeTakeFirst();
    changed += Number(r.numUpdatedRows);
  }
  return changed;
}

/** Sets the status of the tenant's contact with this (normalised) email to `to` only while it is `from`; answers whether it changed. */
export async function replaceContactStatus(db: Kysely<Database>, tenantId: string, email: string, from: ContactStatus, to: ContactStatus, now: number): Promise<boolean> {
  if (from === to) return false;
  const r = await db.updateTable('contacts').set({ status: to, updated_at: now })
    .where('tenant_id', '=', tenantId).where('email', '=', email).where('status', '=', from).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export interface ConfirmTemplate {
  readonly confirm_from: string | null;
  readonly confirm_subject: string | null;
  readonly confirm_html: string | null;
  readonly confirm_text: string | null;
}

export async function insertList(db: Kysely<Database>, tenantId: string, fields: { name: string; description: string | null; optIn: 'single' | 'double'; confirm?: ConfirmTemplate }, now: number): Promise<ContactListTable> {
  const row: ContactListTable = {
    id: newPublicId('lst', now), tenant_id: tenantId, name: fields.name, description: fields.description, opt_in: fields.optIn,
    confirm_from: fields.confirm?.confirm_from ?? null, confirm_subject: fields.confirm?.confirm_subject ?? null,
    confirm_html: fields.confirm?.confirm_html ?? null, confirm_text: fields.confirm?.confirm_text ?? null, created_at: now, updated_at: now,
  };
  await db.insertInto('contact_lists').values(row).execute();
  return row;
}

export async function getList(db: Kysely<Database>, tenantId: string, id: string): Promise<ContactListTable | undefined> {
  return db.selectFrom('contact_lists').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

export async function findListByName(db: Kysely<Database>, tenantId: string, name: string): Promise<ContactListTable | undefined> {
  return db.selectFrom('contact_lists').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
}

export async function listListsPage(db: Kysely<Database>, tenantId: string, page: PageRequest): Promise<ContactListTable[]> {
  let q = db.selectFrom('contact_lists').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

export async function updateList(db: Kysely<Database>, tenantId: string, id: string, patch: { name?: string; description?: string | null; optIn?: 'single' | 'double'; confirm?: Partial<ConfirmTemplate> }, now: number): Promise<ContactListTable | undefined> {
  const set: Partial<ContactListTable> = { updated_at: now, ...patch.confirm };
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.optIn !== undefined) set.opt_in = patch.optIn;
  await db.updateTable('contact_lists').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  return getList(db, tenantId, id);
}

export async function deleteList(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  await db.deleteFrom('list_members').where('tenant_id', '=', tenantId).where('list_id', '=', id).execute();
  const r = await db.deleteFrom('contact_lists').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Members per status of a list. */
export async function listMemberCounts(db: Kysely<Database>, listId: string): Promise<Record<ListMemberStatus, number>> {
  const rows = await db.selectFrom('list_members').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('list_id', '=', listId).groupBy('status').execute();
  const out: Record<ListMemberStatus, number> = { subscribed: 0, unsubscribed: 0, unconfirmed: 0 };
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}

/** One page of a list's members with their contact, in contact id order (export). */
export async function listMembersPage(db: Kysely<Database>, listId: string, afterContactId: string | null, limit: number) {
  let q = db.selectFrom('list_members').innerJoin('contacts', 'contacts.id', 'list_members.contact_id')
    .select(['contacts.id', 'contacts.email', 'contacts.name', 'contacts.attributes', 'contacts.status', 'list_members.status as member_status', 'contacts.created_at'])
    .where('list_members.list_id', '=', listId);
  if (afterContactId) q = q.where('list_members.contact_id', '>', afterContactId);
  return q.orderBy('list_members.contact_id').limit(limit).execute();
}

/** Marks existing members as seen by import job `jobId` (a later line with the same address is then a duplicate). */
export async function markMembersForJob(db: Kysely<Database>, listId: string, jobId: string, contactIds: readonly string[]): Promise<void> {
  for (let i = 0; i < contactIds.length; i += CONTACT_ROWS_PER_STATEMENT) {
    await db.updateTable('list_members').set({ job_id: jobId }).where('list_id', '=', listId).where('contact_id', 'in', contactIds.slice(i, i + CONTACT_ROWS_PER_STATEMENT)).execute();
  }
}

/** Sets the status of many contacts at once (expansion keeps contacts in step with the suppression list). */
export async function setContactStatuses(db: Kysely<Database>, tenantId: string, ids: readonly string[], status: ContactStatus, now: number): Promise<void> {
  for (let i = 0; i < ids.length; i += CONTACT_ROWS_PER_STATEMENT) {
    await db.updateTable('contacts').set({ status, updated_at: now }).where('tenant_id', '=', tenantId).where('id', 'in', ids.slice(i, i + CONTACT_ROWS_PER_STATEMENT)).execute();
  }
}

/** Confirms an unconfirmed member (double opt-in), recording when and from which IP; answers whether it changed. */
export async function confirmListMember(db: Kysely<Database>, listId: string, contactId: string, ip: string | null, now: number): Promise<boolean> {
  const r = await db.updateTable('list_members').set({ status: 'subscribed', opted_in_at: now, opt_in_ip: ip })
    .where('list_id', '=', listId).where('contact_id', '=', contactId).where('status', '=', 'unconfirmed').executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
