// CSV import of contacts into a list, shared by the API and the CLI. Records are read as they
// arrive (api/csv.ts) and written a batch at a time, each batch its own short transaction
// with its progress counters and rejected rows, so memory stays flat whatever the file size
// and a reader of the job (GET …/imports/{id}) sees progress as it happens. Duplicates are
// found without remembering the file: within a batch by a Map, across batches by the
// `job_id` a member row carries (a contact this job already added is a duplicate).
import {
  addListMembers, finishImportJob, insertImportJob, markMembersForJob, membersAddedByJob, normaliseSuppressionAddress, recordImportBatch, suppressedAmong, upsertContacts,
  type ContactImportJobTable, type ContactInput, type ImportRejection, type Store,
} from '../store/index.ts';
import { csvRecords } from '../api/csv.ts';

/** Rows per batch (one transaction each). */
export const CONTACT_IMPORT_BATCH_ROWS = 1000;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_]{1,64}$/;
const MAX_NAME_CHARS = 200;
const MAX_ATTRIBUTE_CHARS = 2000;

export class ContactImportError extends Error {
  readonly code: 'CSV_HEADER_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ContactImportError';
    this.code = 'CSV_HEADER_INVALID';
  }
}

export interface ContactImportProgress {
  readonly jobId: string;
  readonly rows: number;
  readonly imported: number;
  readonly existing: number;
  readonly rejected: number;
}

export interface ContactImportOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ContactImportProgress) => void;
  /** Called once the job row exists (before the first record is read). */
  readonly onJob?: (job: ContactImportJobTable) => void;
  readonly now?: () => number;
}

interface Columns {
  readonly email: number;
  readonly name: number;
  readonly attributes: ReadonlyArray<readonly [string, number]>;
}

function columnsOf(header: readonly string[]): Columns {
  const names = header.map((h) => h.trim());
  const lower = names.map((n) => n.toLowerCase());
  const email = lower.indexOf('email');
  if (email < 0) throw new ContactImportError(`the header row must name an "email" column; it has: ${names.join(', ').slice(0, 200) || '(nothing)'}`);
  const attributes: Array<readonly [string, number]> = [];
  names.forEach((n, i) => {
    if (i === email || lower[i] === 'name' || n === '') return;
    if (!ATTRIBUTE_NAME.test(n)) throw new ContactImportError(`column "${n.slice(0, 64)}": attribute names are 1-64 letters, digits or "_"`);
    attributes.push([n, i]);
  });
  return { email, name: lower.indexOf('name'), attributes };
}

interface Pending {
  readonly line: number;
  readonly contact: ContactInput;
}

/**
 * Imports a CSV (header row first, an `email` column required, `name` and any other columns
 * as attributes) into list `listId` of the tenant. Answers the finished job. Rows are
 * rejected, with their line, as `invalid` (not an address), `duplicate` (earlier in the same
 * file), `suppressed` (on the broadcast suppression list, or a contact that unsubscribed,
 * bounced or complained) or `malformed` (broken CSV quoting). Throws ContactImportError for
 * a bad header and CsvError when the input is not CSV at all; the job is then `failed`.
 */
export async function importContactsCsv(store: Store, tenantId: string, listId: string, source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>, options: ContactImportOptions = {}): Promise<ContactImportJobTable> {
  const now = options.now ?? Date.now;
  const job = await store.write((trx) => insertImportJob(trx, tenantId, listId, now()));
  options.onJob?.(job);
  const totals = { rows: 0, imported: 0, existing: 0, rejected: 0 };
  let cols: Columns | undefined;
  let pending: Pending[] = [];
  let rejections: ImportRejection[] = [];
  let rowsInBatch = 0;

  const flush = async () => {
    options.signal?.throwIfAborted();
    const batch = pending;
    const early = rejections;
    const rows = rowsInBatch;
    pending = [];
    rejections = [];
    rowsInBatch = 0;
    // Read outside the write lock: an entry added meanwhile is a race no caller could tell apart.
    const suppressed = batch.length ? await suppressedAmong(store.db, tenantId, 'broadcast', batch.map((p) => p.contact.email)) : new Map();
    const t = now();
    // The work may run again alone (write-batcher.ts): it only reads what it was given.
    const r = await store.write(async (trx) => {
      const rejected: ImportRejection[] = [...early];
      const keep = batch.filter((p) => {
        if (!suppressed.has(p.contact.email)) return true;
        rejected.push({ line: p.line, email: p.contact.email, reason: 'suppressed', detail: `on the broadcast suppression list (${suppressed.get(p.contact.email)!.reason})` });
        return false;
      });
      const upserted = await upsertContacts(trx, tenantId, keep.map((p) => p.contact), t);
      const byEmail = new Map(upserted.map((u) => [u.email, u]));
      const ids: string[] = [];
      for (const p of keep) {
        const u = byEmail.get(p.contact.email)!;
        if (u.status !== 'subscribed') rejected.push({ line: p.line, email: p.contact.email, reason: 'suppressed', detail: `the contact is ${u.status}` });
        else ids.push(u.id);
      }
      const added = await addListMembers(trx, tenantId, listId, ids, { now: t, jobId: job.id });
      const notAdded = ids.filter((id) => !added.has(id));
      const dup = notAdded.length ? await membersAddedByJob(trx, listId, job.id, notAdded) : new Set<string>();
      const existing = notAdded.filter((id) => !dup.has(id));
      if (existing.length) await markMembersForJob(trx, listId, job.id, existing);
      for (const p of keep) {
        const u = byEmail.get(p.contact.email)!;
        if (dup.has(u.id)) rejected.push({ line: p.line, email: p.contact.email, reason: 'duplicate', detail: 'the address is on an earlier line of this file' });
      }
      rejected.sort((a, b) => a.line - b.line);
      const counts = { rows, imported: added.size, existing: notAdded.length - dup.size };
      await recordImportBatch(trx, job.id, counts, rejected);
      return { ...counts, rejected: rejected.length };
    }, { durable: false });
    totals.rows += r.rows;
    totals.imported += r.imported;
    totals.existing += r.existing;
    totals.rejected += r.rejected;
    options.onProgress?.({ jobId: job.id, ...totals });
  };

  try {
    let seen = new Map<string, number>();
    for await (const record of csvRecords(source)) {
      if (!cols) {
        cols = columnsOf(record.fields);
        continue;
      }
      rowsInBatch++;
      const get = (i: number) => (i >= 0 && i < record.fields.length ? record.fields[i].trim() : '');
      const raw = get(cols.email);
      if (record.error) {
        rejections.push({ line: record.line, email: raw, reason: 'malformed', detail: record.error });
      } else {
        const email = raw ? normaliseSuppressionAddress(raw) : undefined;
        if (!email) {
          rejections.push({ line: record.line, email: raw, reason: 'invalid', detail: raw ? 'not a valid email address' : 'email is empty' });
        } else if (seen.has(email)) {
          rejections.push({ line: record.line, email, reason: 'duplicate', detail: `the address is on line ${seen.get(email)} of this file` });
        } else {
          seen.set(email, record.line);
          const attributes: Record<string, string> = {};
          for (const [name, i] of cols.attributes) {
            const v = get(i);
            if (v) attributes[name] = v.slice(0, MAX_ATTRIBUTE_CHARS);
          }
          pending.push({ line: record.line, contact: { email, name: get(cols.name).slice(0, MAX_NAME_CHARS) || null, attributes } });
        }
      }
      if (rowsInBatch >= CONTACT_IMPORT_BATCH_ROWS) {
        await flush();
        seen = new Map();
      }
    }
    if (!cols) throw new ContactImportError('the CSV is empty: it needs a header row naming an "email" column');
    if (rowsInBatch > 0) await flush();
    await store.write((trx) => finishImportJob(trx, job.id, null, now()));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    await store.write((trx) => finishImportJob(trx, job.id, typeof code === 'string' ? `${code}: ${(err as Error).message}` : (err as Error).message, now())).catch(() => undefined);
    throw Object.assign(err as Error, { jobId: job.id });
  }
  return { ...job, ...totals, status: 'finished', finished_at: now() };
}
