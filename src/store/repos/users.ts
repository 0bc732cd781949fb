// Dashboard users and their sessions. Passwords arrive already hashed (security/password-hash.ts)
// and session tokens as digests (web/sessions.ts): nothing here can reveal a secret.
import type { Kysely } from 'kysely';
import type { Database, SessionTable, UserRole, UserTable } from '../database.ts';
import type { PageRequest } from './api-keys.ts';

/**
 * How an email address is stored and looked up: trimmed and lower-cased, so `Ann@Example.com`
 * and `ann@example.com` are one account (RFC 5321 §2.4 lets a local part be case-sensitive;
 * for a sign-in name that would only make two accounts look like one).
 */
export function normaliseUserEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function insertUser(db: Kysely<Database>, row: UserTable): Promise<UserTable> {
  await db.insertInto('users').values(row).execute();
  return row;
}

export async function getUser(db: Kysely<Database>, id: string): Promise<UserTable | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The user with this address (any case), or undefined. */
export async function findUserByEmail(db: Kysely<Database>, email: string): Promise<UserTable | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', normaliseUserEmail(email)).executeTakeFirst();
}

export interface UserListFilter {
  /** Only users of this tenant. */
  readonly tenantId?: string | undefined;
}

/** Users in id (creation) order after the cursor. */
export async function listUsersPage(db: Kysely<Database>, filter: UserListFilter, page: PageRequest): Promise<UserTable[]> {
  let q = db.selectFrom('users').selectAll();
  if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Changes a user's password hash and/or role; undefined when there is no such user. Their sessions stay. */
export async function updateUser(db: Kysely<Database>, id: string, change: { passwordHash?: string; role?: UserRole }): Promise<UserTable | undefined> {
  const set: Partial<UserTable> = {};
  if (change.passwordHash !== undefined) set.password_hash = change.passwordHash;
  if (change.role !== undefined) set.role = change.role;
  if (Object.keys(set).length > 0) await db.updateTable('users').set(set).where('id', '=', id).execute();
  return getUser(db, id);
}

/** Deletes a user; its sessions go with it (ON DELETE CASCADE). False when there was none. */
export async function deleteUser(db: Kysely<Database>, id: string): Promise<boolean> {
  const r = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function touchUserLogin(db: Kysely<Database>, id: string, now = Date.now()): Promise<void> {
  await db.updateTable('users').set({ last_login_at: now }).where('id', '=', id).execute();
}


export async function insertSession(db: Kysely<Database>, row: SessionTable): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

/** A live session with its user and the user's tenant (name and sandbox flag), by token digest. */
export interface SessionWithUser {
  readonly session: SessionTable;
  readonly user: UserTable;
  readonly tenant: { readonly id: string; readonly name: string; readonly sandbox: boolean } | null;
}

/** The session whose token digest is `id`, if it has not expired at `now`. */
export async function findLiveSession(db: Kysely<Database>, id: string, now = Date.now()): Promise<SessionWithUser | undefined> {
  const row = await db.selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .leftJoin('tenants', 'tenants.id', 'users.tenant_id')
    .select([
      'sessions.id as s_id', 'sessions.user_id as s_user_id', 'sessions.created_at as s_created_at', 'sessions.expires_at as s_expires_at', 'sessions.ip as s_ip',
      'users.id', 'users.email', 'users.password_hash', 'users.is_admin', 'users.tenant_id', 'users.role', 'users.created_at', 'users.last_login_at',
      'tenants.name as tenant_name', 'tenants.sandbox as tenant_sandbox',
    ])
    .where('sessions.id', '=', id).where('sessions.expires_at', '>', now)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    session: { id: row.s_id, user_id: row.s_user_id, created_at: Number(row.s_created_at), expires_at: Number(row.s_expires_at), ip: row.s_ip },
    user: {
      id: row.id, email: row.email, password_hash: row.password_hash, is_admin: row.is_admin, tenant_id: row.tenant_id, role: row.role,
      created_at: Number(row.created_at), last_login_at: row.last_login_at === null ? null : Number(row.last_login_at),
    },
    tenant: row.tenant_id !== null && row.tenant_name !== null ? { id: row.tenant_id, name: row.tenant_name, sandbox: row.tenant_sandbox === 1 } : null,
  };
}

/** Ends one session (sign out). False when it was already gone. */
export async function deleteSession(db: Kysely<Database>, id: string): Promise<boolean> {
  const r = await db.deleteFrom('sessions').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Ends every session of a user (password changed, user demoted). */
export async function deleteUserSessions(db: Kysely<Database>, userId: string): Promise<number> {
  const r = await db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Removes sessions that expired before `now`; returns how many. */
export async function purgeExpiredSessions(db: Kysely<Database>, now = Date.now()): Promise<number> {
  const r = await db.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst();
  return Number(r.numDeletedRows);
}
