// What the management API does to tenants and the objects they own (credentials; domains are in repos/domains.ts),
// beyond what ingress and the CLI need (repos/tenants.ts). Lists are pages in id order:
// ids are time-sortable, so id order is creation order and a cursor is just the last id.
import type { Kysely } from 'kysely';
import type { Database, TenantTable, CredentialTable } from '../database.ts';
import type { PageRequest } from './api-keys.ts';

export async function getTenant(db: Kysely<Database>, id: string): Promise<TenantTable | undefined> {
  return db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listTenantsPage(db: Kysely<Database>, page: PageRequest): Promise<TenantTable[]> {
  let q = db.selectFrom('tenants').selectAll();
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Changes name and/or sandbox; undefined when there is no such tenant. Names are UNIQUE in the schema. */
export async function updateTenant(db: Kysely<Database>, id: string, change: { name?: string; sandbox?: boolean }): Promise<TenantTable | undefined> {
  const set: Partial<TenantTable> = {};
  if (change.name !== undefined) set.name = change.name;
  if (change.sandbox !== undefined) set.sandbox = change.sandbox ? 1 : 0;
  if (Object.keys(set).length > 0) await db.updateTable('tenants').set(set).where('id', '=', id).execute();
  return getTenant(db, id);
}

export type DeleteTenantResult =
  | { readonly outcome: 'deleted'; readonly bodyPaths: string[] }
  | { readonly outcome: 'not-found' }
  | { readonly outcome: 'mail-in-queue'; readonly openRecipients: number };

/**
 * Deletes a tenant and everything it owns, in the caller's transaction. Domains, credentials
 * and API keys go by ON DELETE CASCADE; messages (their recipients and attempts cascade) and
 * events carry tenant_id without a foreign key and are deleted here. A tenant with mail
 * still queued, deferred or in flight is refused: the delivery thread would otherwise write
 * results for rows that no longer exist. Spooled bodies are returned for the caller to remove
 * after the commit.
 */
export async function deleteTenant(db: Kysely<Database>, id: string): Promise<DeleteTenantResult> {
  if (!(await getTenant(db, id))) return { outcome: 'not-found' };
  const open = await db.selectFrom('recipients').select((eb) => eb.fn.countAll().as('n'))
    .where('status', 'in', ['queued', 'inflight', 'deferred']).where('tenant_id', '=', id).executeTakeFirstOrThrow();
  if (Number(open.n) > 0) return { outcome: 'mail-in-queue', openRecipients: Number(open.n) };
  const bodies = await db.selectFrom('messages').select('body_path').where('tenant_id', '=', id).where('body_path', 'is not', null).execute();
  await db.deleteFrom('events').where('tenant_id', '=', id).execute();
  await db.deleteFrom('messages').where('tenant_id', '=', id).execute();
  await db.deleteFrom('tenants').where('id', '=', id).execute();
  return { outcome: 'deleted', bodyPaths: bodies.map((b) => b.body_path!) };
}

export async function listCredentialsPage(db: Kysely<Database>, tenantId: string, page: PageRequest): Promise<CredentialTable[]> {
  let q = db.selectFrom('credentials').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Deletes one of the tenant's SMTP credentials; false when the tenant has no such credential. */
export async function deleteCredential(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('credentials').where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
