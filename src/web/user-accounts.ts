// Dashboard user accounts: create, change, delete, shared by the users API (admin) and the
// `postline user` commands. Each change is audited in its own transaction; passwords are
// hashed with scrypt before anything is written, and never logged or audited.
import {
  deleteUser, deleteUserSessions, findTenant, findUserByEmail, getUser, insertUser, newPublicId, normaliseUserEmail, updateUser,
  type Store, type TenantTable, type UserRole, type UserTable,
} from '../store/index.ts';
import { hashPassword, recordAudit, type AuditActor } from '../security/index.ts';

export const USER_ROLES = ['owner', 'viewer'] as const satisfies readonly UserRole[];
/** Long enough that a guessed password needs more than the sign-in throttle allows; at most 1024 (scrypt input). */
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

export type UserAccountErrorCode = 'USER_EMAIL_TAKEN' | 'USER_TENANT_NOT_FOUND' | 'USER_NOT_FOUND' | 'USER_INVALID';

/** A refused account change; `field` names the input at fault (`email`, `tenant`, `password`, `role`). */
export class UserAccountError extends Error {
  readonly code: UserAccountErrorCode;
  readonly field: string | null;
  constructor(code: UserAccountErrorCode, message: string, field: string | null = null) {
    super(message);
    this.name = 'UserAccountError';
    this.code = code;
    this.field = field;
  }
}

export type NewUserInput =
  | { readonly email: string; readonly password: string; readonly admin: true }
  | { readonly email: string; readonly password: string; readonly admin?: false; readonly tenant: string; readonly role: UserRole };

/** A user as the API and the CLI show it: never the password hash. */
export interface UserView {
  readonly id: string;
  readonly email: string;
  readonly is_admin: boolean;
  readonly tenant_id: string | null;
  readonly role: UserRole | null;
  readonly created_at: string;
  readonly last_login_at: string | null;
}

export function userView(u: UserTable): UserView {
  return {
    id: u.id, email: u.email, is_admin: u.is_admin === 1, tenant_id: u.tenant_id, role: u.role,
    created_at: new Date(Number(u.created_at)).toISOString(), last_login_at: u.last_login_at === null ? null : new Date(Number(u.last_login_at)).toISOString(),
  };
}

function assertPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new UserAccountError('USER_INVALID', `the password must have ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`, 'password');
  }
}

/** Creates an instance admin or a tenant user. Throws UserAccountError (email taken, no such tenant, short password). */
export async function createUser(store: Store, input: NewUserInput, actor: AuditActor): Promise<UserView> {
  const email = normaliseUserEmail(input.email);
  if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) throw new UserAccountError('USER_INVALID', `"${input.email}" is not an email address`, 'email');
  assertPassword(input.password);
  let tenant: TenantTable | undefined;
  if (input.admin !== true) {
    tenant = await findTenant(store.db, input.tenant);
    if (!tenant) throw new UserAccountError('USER_TENANT_NOT_FOUND', `no tenant "${input.tenant}"`, 'tenant');
  }
  if (await findUserByEmail(store.db, email)) throw new UserAccountError('USER_EMAIL_TAKEN', `a user with the email ${email} already exists`, 'email');
  const passwordHash = await hashPassword(input.password);
  const now = Date.now();
  const row: UserTable = {
    id: newPublicId('usr', now), email, password_hash: passwordHash, is_admin: input.admin === true ? 1 : 0,
    tenant_id: tenant?.id ?? null, role: input.admin === true ? null : input.role, created_at: now, last_login_at: null,
  };
  await store.write(async (trx) => {
    await insertUser(trx, row);
    await recordAudit(trx, actor, 'user.created', { tenantId: row.tenant_id, id: row.id }, { email, admin: row.is_admin === 1, role: row.role }, now);
  });
  return userView(row);
}

/** The user with this id, or with this email address; undefined when none. */
export async function findUserAccount(store: Store, idOrEmail: string): Promise<UserTable | undefined> {
  return idOrEmail.includes('@') ? findUserByEmail(store.db, idOrEmail) : getUser(store.db, idOrEmail);
}

/**
 * Changes a user's password and/or role. A new password (or role) ends the user's sessions,
 * so a leaked session does not outlive the change. Throws USER_NOT_FOUND, USER_INVALID.
 */
export async function updateUserAccount(store: Store, id: string, change: { password?: string | undefined; role?: UserRole | undefined }, actor: AuditActor): Promise<UserView> {
  const user = await getUser(store.db, id);
  if (!user) throw new UserAccountError('USER_NOT_FOUND', `no user ${id}`);
  if (change.password !== undefined) assertPassword(change.password);
  if (change.role !== undefined && user.is_admin === 1) throw new UserAccountError('USER_INVALID', 'an instance admin has no tenant role', 'role');
  const passwordHash = change.password === undefined ? undefined : await hashPassword(change.password);
  const updated = await store.write(async (trx) => {
    const u = await updateUser(trx, id, { passwordHash, role: change.role });
    if (u && (passwordHash !== undefined || (change.role !== undefined && change.role !== user.role))) await deleteUserSessions(trx, id);
    if (u) await recordAudit(trx, actor, 'user.updated', { tenantId: u.tenant_id, id }, { password_changed: passwordHash !== undefined, ...(change.role ? { role: change.role } : {}) });
    return u;
  });
  if (!updated) throw new UserAccountError('USER_NOT_FOUND', `no user ${id}`);
  return userView(updated);
}

/** Deletes a user and its sessions. Throws USER_NOT_FOUND. */
export async function deleteUserAccount(store: Store, id: string, actor: AuditActor): Promise<void> {
  const user = await getUser(store.db, id);
  if (!user) throw new UserAccountError('USER_NOT_FOUND', `no user ${id}`);
  await store.write(async (trx) => {
    if (await deleteUser(trx, id)) await recordAudit(trx, actor, 'user.deleted', { tenantId: user.tenant_id, id }, { email: user.email });
  });
}
