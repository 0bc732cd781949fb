// Templates of a tenant (Handlebars sources; compiled and rendered in compose/). Every
// function takes the tenant id: a template of another tenant is simply not found.
import type { Kysely } from 'kysely';
import type { Database, TemplateTable } from '../database.ts';
import type { PageRequest } from './api-keys.ts';
import { newPublicId } from '../ids.ts';

export interface TemplateFields {
  readonly name: string;
  readonly subject: string | null;
  readonly html: string | null;
  readonly text: string | null;
}

/** Inserts a template; the caller checks the name is free (a duplicate violates the unique index). */
export async function insertTemplate(db: Kysely<Database>, tenantId: string, fields: TemplateFields, now = Date.now()): Promise<TemplateTable> {
  const row: TemplateTable = { id: newPublicId('tpl', now), tenant_id: tenantId, ...fields, created_at: now, updated_at: now };
  await db.insertInto('templates').values(row).execute();
  return row;
}

/** A template of the tenant by id (`tpl_…`) or by name. */
export async function findTemplate(db: Kysely<Database>, tenantId: string, idOrName: string): Promise<TemplateTable | undefined> {
  const column = idOrName.startsWith('tpl_') ? 'id' : 'name';
  return db.selectFrom('templates').selectAll().where('tenant_id', '=', tenantId).where(column, '=', idOrName).executeTakeFirst();
}

export async function listTemplates(db: Kysely<Database>, tenantId: string, page: PageRequest): Promise<TemplateTable[]> {
  let q = db.selectFrom('templates').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Changes the given fields; undefined when the tenant has no such template. */
export async function updateTemplate(db: Kysely<Database>, tenantId: string, id: string, change: Partial<TemplateFields>, now = Date.now()): Promise<TemplateTable | undefined> {
  const res = await db.updateTable('templates').set({ ...change, updated_at: now })
    .where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) return undefined;
  return db.selectFrom('templates').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function deleteTemplate(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  const res = await db.deleteFrom('templates').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
