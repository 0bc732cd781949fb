// CSV import and export of a tenant's suppression list, shared by the API and the CLI. Import
// reads records as they arrive and writes them in batches, each its own short transaction
// (STYLE: short transactions), so a 10 MB file never holds the write lock for long; export
// reads the list in pages and yields text as the client takes it.
import {
  MAX_SUPPRESSION_DESCRIPTION_CHARS, SUPPRESSION_REASONS, addSuppressions, listSuppressionsPage, normaliseSuppressionAddress,
  type NewSuppression, type Store, type Stream, type SuppressionReason,
} from '../store/index.ts';
import { recordAudit, type AuditActor } from '../security/index.ts';
import { csvRecords, csvRow } from './csv.ts';

/** The columns of an export, in order; an import reads these by name (and `email` for `address`). */
export const SUPPRESSION_CSV_COLUMNS = ['address', 'reason', 'description', 'created_at', 'expires_at'] as const;
/** Rows per insert statement and transaction. */
export const IMPORT_BATCH_ROWS = 500;
/** Rejected rows listed in the result; the count covers all of them. */
export const MAX_REJECTED_LISTED = 1000;
const EXPORT_PAGE_ROWS = 1000;

// RFC 3339 §5.6 date-time (T or space per its NOTE; offset required).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export class SuppressionCsvError extends Error {
  readonly code: 'CSV_HEADER_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'SuppressionCsvError';
    this.code = 'CSV_HEADER_INVALID';
  }
}

export interface RejectedRow {
  /** The line the record starts on (the header is line 1). */
  readonly line: number;
  readonly address: string;
  readonly error: string;
}

export interface CsvImportResult {
  /** Addresses newly suppressed. */
  imported: number;
  /** Addresses already suppressed, merged by the reason/expiry rules (store/repos/suppressions.ts). */
  updated: number;
  /** The first MAX_REJECTED_LISTED rejected rows. */
  rejected: RejectedRow[];
  rejected_count: number;
}

export interface CsvImportProgress {
  readonly lines: number;
  readonly imported: number;
  readonly updated: number;
  readonly rejected: number;
}

export interface CsvImportOptions {
  readonly stream: Stream;
  readonly actor: AuditActor;
  readonly signal?: AbortSignal;
  /** Called after each batch is written. */
  readonly onProgress?: (p: CsvImportProgress) => void;
  readonly now?: () => number;
}

/** RFC 3339 text to ms, or undefined when it is not a full date-time with an offset. */
export function parseRfc3339(text: string): number | undefined {
  if (!RFC3339.test(text)) return undefined;
  const ms = Date.parse(text.replace(' ', 'T'));
  return Number.isNaN(ms) ? undefined : ms;
}

interface Columns {
  readonly address: number;
  readonly reason: number;
  readonly description: number;
  readonly expires_at: number;
}

function columnsOf(header: readonly string[]): Columns {
  const names = header.map((h) => h.trim().toLowerCase());
  const at = (name: string) => names.indexOf(name);
  const address = at('address') >= 0 ? at('address') : at('email');
  if (address < 0) throw new SuppressionCsvError(`the header row must name an "address" (or "email") column; it has: ${names.join(', ').slice(0, 200) || '(nothing)'}`);
  return { address, reason: at('reason'), description: at('description'), expires_at: at('expires_at') };
}

/** One data record as an entry, or the reason it is refused. */
function entryOf(fields: readonly string[], cols: Columns, stream: Stream, now: number): NewSuppression | string {
  const get = (i: number) => (i >= 0 && i < fields.length ? fields[i].trim() : '');
  const raw = get(cols.address);
  if (!raw) return 'address is empty';
  const address = normaliseSuppressionAddress(raw);
  if (!address) return 'not a valid email address';
  const reasonText = get(cols.reason).toLowerCase() || 'manual';
  if (!(SUPPRESSION_REASONS as readonly string[]).includes(reasonText)) return `reason must be one of ${SUPPRESSION_REASONS.join(', ')}`;
  const description = get(cols.description);
  if (description.length > MAX_SUPPRESSION_DESCRIPTION_CHARS) return `description is longer than ${MAX_SUPPRESSION_DESCRIPTION_CHARS} characters`;
  const expiresText = get(cols.expires_at);
  let expiresAt: number | null = null;
  if (expiresText) {
    const ms = parseRfc3339(expiresText);
    if (ms === undefined) return 'expires_at must be an RFC 3339 date-time, e.g. 2030-01-31T00:00:00Z';
    if (ms <= now) return 'expires_at is in the past';
    expiresAt = ms;
  }
  return { stream, address, reason: reasonText as SuppressionReason, description: description || null, expiresAt };
}

/**
 * Imports a CSV (header row first; only `address` or `email` is required) into the tenant's
 * list for `options.stream`. Rows are written in batches as they are read: a failure midway
 * (an aborted upload) keeps the batches before it, and importing the same file again is
 * harmless. The audit entry goes with the last batch. Throws SuppressionCsvError for a
 * missing header and CsvError when the file is not CSV at all (a field past the limit).
 */
export async function importSuppressionsCsv(store: Store, tenantId: string, source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>, options: CsvImportOptions): Promise<CsvImportResult> {
  const now = options.now ?? Date.now;
  const result: CsvImportResult = { imported: 0, updated: 0, rejected: [], rejected_count: 0 };
  let cols: Columns | undefined;
  let batch: NewSuppression[] = [];
  let lines = 0;

  const flush = async (last: boolean) => {
    options.signal?.throwIfAborted();
    const entries = batch;
    batch = [];
    // Only the last write waits for the fsync: it makes every earlier commit durable too (WAL order).
    // Counts are taken from the resolved value: the batcher may run the work again alone.
    const r = await store.write(async (trx) => {
      const added = entries.length ? await addSuppressions(trx, tenantId, entries, now()) : { added: 0, updated: 0 };
      if (last) {
        await recordAudit(trx, options.actor, 'suppression.imported', { tenantId, id: null }, {
          stream: options.stream, imported: result.imported + added.added, updated: result.updated + added.updated, rejected: result.rejected_count,
        });
      }
      return added;
    }, { durable: last });
    result.imported += r.added;
    result.updated += r.updated;
    options.onProgress?.({ lines, imported: result.imported, updated: result.updated, rejected: result.rejected_count });
  };
  const reject = (line: number, address: string, error: string) => {
    result.rejected_count++;
    if (result.rejected.length < MAX_REJECTED_LISTED) result.rejected.push({ line, address: address.slice(0, 320), error });
  };

  try {
    for await (const record of csvRecords(source)) {
      lines = record.line;
      if (!cols) {
        cols = columnsOf(record.fields);
        continue;
      }
      const address = record.fields[cols.address] ?? '';
      if (record.error) {
        reject(record.line, address, record.error);
        continue;
      }
      const entry = entryOf(record.fields, cols, options.stream, now());
      if (typeof entry === 'string') reject(record.line, address, entry);
      else batch.push(entry);
      if (batch.length >= IMPORT_BATCH_ROWS) await flush(false);
    }
    if (!cols) throw new SuppressionCsvError('the CSV is empty: it needs a header row naming an "address" (or "email") column');
    await flush(true);
  } catch (err) {
    // Earlier batches stay (see above); the log still records them.
    if (result.imported + result.updated > 0) {
      await store.write((trx) => recordAudit(trx, options.actor, 'suppression.imported', { tenantId, id: null }, {
        stream: options.stream, imported: result.imported, updated: result.updated, rejected: result.rejected_count, partial: true,
        error: (err as { code?: unknown }).code ?? 'ERROR',
      })).catch(() => undefined);
    }
    throw err;
  }
  return result;
}

export interface CsvExportOptions {
  readonly signal?: AbortSignal;
  readonly now?: number;
}

/** The tenant's live entries on `stream` as CSV text (header first), one chunk per page of rows. */
export async function* exportSuppressionsCsv(store: Store, tenantId: string, stream: Stream, options: CsvExportOptions = {}): AsyncGenerator<string> {
  const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
  const now = options.now ?? Date.now();
  yield csvRow(SUPPRESSION_CSV_COLUMNS);
  let afterId: string | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const rows = await listSuppressionsPage(store.db, tenantId, { stream }, { afterId, limit: EXPORT_PAGE_ROWS }, now);
    if (rows.length === 0) return;
    yield rows.map((r) => csvRow([r.address, r.reason, r.description, iso(r.created_at), iso(r.expires_at)])).join('');
    if (rows.length < EXPORT_PAGE_ROWS) return;
    afterId = rows[rows.length - 1].id;
  }
}
