// CSV import jobs into a list: the job row (progress counters, updated with each batch in
// the batch's own transaction) and its rejected rows, kept for the report download.
import type { Kysely } from 'kysely';
import type { ContactImportJobTable, ContactImportRejectionTable, Database, ImportRejectReason } from '../database.ts';
import { newPublicId } from '../ids.ts';
import { insertRows } from '../compiled-queries.ts';

export interface ImportRejection {
  readonly line: number;
  readonly email: string;
  readonly reason: ImportRejectReason;
  readonly detail: string | null;
}

export async function insertImportJob(db: Kysely<Database>, tenantId: string, listId: string, now: number): Promise<ContactImportJobTable> {
  const row: ContactImportJobTable = {
    id: newPublicId('imp', now), tenant_id: tenantId, list_id: listId, status: 'running', rows: 0, imported: 0, existing: 0, rejected: 0, error: null, created_at: now, finished_at: null,
  };
  await db.insertInto('contact_import_jobs').values(row).execute();
  return row;
}

/** Adds one batch's counts to the job and stores its rejected rows. */
export async function recordImportBatch(db: Kysely<Database>, jobId: string, counts: { rows: number; imported: number; existing: number }, rejections: readonly ImportRejection[]): Promise<void> {
  for (let i = 0; i < rejections.length; i += 500) {
    await insertRows(db, 'contact_import_rejections', ['job_id', 'line', 'email', 'reason', 'detail'],
      rejections.slice(i, i + 500).map((r) => [jobId, r.line, r.email.slice(0, 320), r.reason, r.detail]));
  }
  await db.updateTable('contact_import_jobs').set((eb) => ({
    rows: eb('rows', '+', counts.rows),
    imported: eb('imported', '+', counts.imported),
    existing: eb('existing', '+', counts.existing),
    rejected: eb('rejected', '+', rejections.length),
  })).where('id', '=', jobId).execute();
}

export async function finishImportJob(db: Kysely<Database>, jobId: string, error: string | null, now: number): Promise<void> {
  await db.updateTable('contact_import_jobs').set({ status: error ? 'failed' : 'finished', error, finished_at: now }).where('id', '=', jobId).execute();
}

export async function getImportJob(db: Kysely<Database>, tenantId: string, jobId: string): Promise<ContactImportJobTable | undefined> {
  return db.selectFrom('contact_import_jobs').selectAll().where('tenant_id', '=', tenantId).where('id', '=', jobId).executeTakeFirst();
}

/** Rejected rows of a job in line order, a page at a time. */
export async function listImportRejections(db: Kysely<Database>, jobId: string, afterLine: number, limit: number): Promise<ContactImportRejectionTable[]> {
  return db.selectFrom('contact_import_rejections').selectAll().where('job_id', '=', jobId).where('line', '>', afterLine).orderBy('line').limit(limit).execute();
}
