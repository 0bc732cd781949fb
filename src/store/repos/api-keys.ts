// API keys. The store sees only digests: tokens are minted and checked in api/api-key-token.ts.
import type { Kysely } from 'kysely';
import { selectCompiled } from '../compiled-queries.ts';
import type { Database, ApiKeyTable } from '../database.ts';

/** A page request: rows after `afterId` in id order (ids sort by creation time). */
export interface PageRequest {
  readonly afterId?: string | undefined;
  readonly limit: number;
}

export async function insertApiKey(db: Kysely<Database>, row: ApiKeyTable): Promise<ApiKeyTable> {
  await db.insertInto('api_keys').values(row).execute();
  return row;
}

/** The key with this id, revoked or not (the caller decides what a revoked key means). */
export async function findApiKey(db: Kysely<Database>, id: string): Promise<ApiKeyTable | undefined> {
  return db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The tenant's keys that are not revoked. */
export async function listApiKeys(db: Kysely<Database>, tenantId: string, page: PageRequest): Promise<ApiKeyTable[]> {
  let q = db.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId).where('revoked_at', 'is', null);
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Revokes one of the tenant's keys; false when the tenant has no such active key. */
export async function revokeApiKey(db: Kysely<Database>, tenantId: string, id: string, now = Date.now()): Promise<boolean> {
  const r = await db.updateTable('api_keys').set({ revoked_at: now })
    .where('id', '=', id).where('tenant_id', '=', tenantId).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function touchApiKey(db: Kysely<Database>, id: string, now = Date.now()): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', id).execute();
}

export interface ApiKeyWithTenant {
  readonly key: ApiKeyTable;
  readonly tenant: { readonly id: string; readonly name: string; readonly sandbox: boolean };
}

/** What authentication needs in one read: the key and its tenant. */
export async function findApiKeyWithTenant(db: Kysely<Database>, id: string): Promise<ApiKeyWithTenant | undefined> {
  // Every API request runs this: compiled once (compiled-queries.ts).
  const [row] = await selectCompiled(db, 'api-key-with-tenant', [id], () => db.selectFrom('api_keys').innerJoin('tenants', 'tenants.id', 'api_keys.tenant_id')
    .selectAll('api_keys').select(['tenants.name as tenant_name', 'tenants.sandbox as tenant_sandbox'])
    .where('api_keys.id', '=', id));
  if (!row) return undefined;
  const { tenant_name, tenant_sandbox, ...key } = row;
  return { key, tenant: { id: key.tenant_id, name: tenant_name, sandbox: tenant_sandbox === 1 } };
}
