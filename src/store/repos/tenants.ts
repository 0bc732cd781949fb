import type { Kysely } from 'kysely';
import type { Database, TenantTable, CredentialTable } from '../database.ts';
import { newPublicId } from '../ids.ts';

export class StoreError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

export async function createTenant(db: Kysely<Database>, name: string, options: { sandbox?: boolean } = {}): Promise<TenantTable> {
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/i.test(name)) throw new StoreError('TENANT_NAME_INVALID', `tenant name "${name}" must be 1-63 letters, digits, '.', '_' or '-'`);
  if (await findTenant(db, name)) throw new StoreError('TENANT_EXISTS', `tenant "${name}" already exists`);
  const row: TenantTable = { id: newPublicId('ten'), name, sandbox: options.sandbox ? 1 : 0, created_at: Date.now() };
  await db.insertInto('tenants').values(row).execute();
  return row;
}

/** Finds a tenant by id or by name. */
export async function findTenant(db: Kysely<Database>, idOrName: string): Promise<TenantTable | undefined> {
  return db.selectFrom('tenants').selectAll().where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)])).executeTakeFirst();
}

export async function listTenants(db: Kysely<Database>): Promise<TenantTable[]> {
  return db.selectFrom('tenants').selectAll().orderBy('name').execute();
}

export async function createCredential(db: Kysely<Database>, tenantId: string, username: string, passwordHash: string): Promise<CredentialTable> {
  const row: CredentialTable = { id: newPublicId('cred'), tenant_id: tenantId, username, password_hash: passwordHash, created_at: Date.now(), last_used_at: null };
  await db.insertInto('credentials').values(row).execute();
  return row;
}

export async function findCredential(db: Kysely<Database>, username: string): Promise<CredentialTable | undefined> {
  return db.selectFrom('credentials').selectAll().where('username', '=', username).executeTakeFirst();
}

export async function touchCredential(db: Kysely<Database>, id: string, now = Date.now()): Promise<void> {
  await db.updateTable('credentials').set({ last_used_at: now }).where('id', '=', id).execute();
}

export async function getSetting(db: Kysely<Database>, key: string): Promise<string | undefined> {
  return (await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst())?.value;
}

export async function putSetting(db: Kysely<Database>, key: string, value: string): Promise<void> {
  await db.insertInto('settings').values({ key, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
}
