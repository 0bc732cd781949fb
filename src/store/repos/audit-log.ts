// The audit log of administrative actions. Entries are written with the change, inside the
// same store.write transaction, and never updated; the admin reads them newest-last by id.
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { AuditLogTable, Database } from '../database.ts';

export type AuditEntryRow = Selectable<AuditLogTable>;
export type NewAuditEntry = Omit<Insertable<AuditLogTable>, 'id'>;

export async function insertAuditEntry(db: Kysely<Database>, entry: NewAuditEntry): Promise<void> {
  await db.insertInto('audit_log').values(entry).execute();
}

export interface AuditLogFilter {
  readonly afterId?: string | undefined;
  readonly limit: number;
  readonly tenantId?: string | undefined;
  readonly action?: string | undefined;
}

/** Entries in id (time) order after the cursor, optionally of one tenant or one action. */
export async function listAuditLogPage(db: Kysely<Database>, filter: AuditLogFilter): Promise<AuditEntryRow[]> {
  let q = db.selectFrom('audit_log').selectAll();
  if (filter.afterId !== undefined) q = q.where('id', '>', Number(filter.afterId) || 0);
  if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
  if (filter.action !== undefined) q = q.where('action', '=', filter.action);
  return q.orderBy('id').limit(filter.limit).execute();
}
