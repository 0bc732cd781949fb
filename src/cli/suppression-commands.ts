// A tenant's suppression lists from the command line: the same store functions and CSV code
// as the API (api/routes/suppressions.ts), audited with the CLI as the actor. Import reads
// the file as a stream, so it has no size limit, and reports progress on stderr.
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import {
  SUPPRESSION_REASONS, SUPPRESSION_STREAMS, StoreError, addSuppressions, findTenant, listSuppressionsPage, normaliseSuppressionAddress, removeSuppression,
  type Store, type Stream, type SuppressionReason, type SuppressionTable, type TenantTable,
} from '../store/index.ts';
import { CLI_ACTOR, recordAudit } from '../security/index.ts';
import { exportSuppressionsCsv, importSuppressionsCsv, parseRfc3339, type CsvImportProgress } from '../api/suppression-csv.ts';
import { output, type GlobalOptions } from './main.ts';
import { withStore } from './open-cli-store.ts';

/** Progress lines at most this often (and every PROGRESS_LINES lines read). */
const PROGRESS_INTERVAL_MS = 1000;
const PROGRESS_LINES = 50_000;
const LIST_PAGE_ROWS = 500;

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

function entryJson(s: SuppressionTable) {
  return {
    id: s.id, stream: s.stream, address: s.address, reason: s.reason, description: s.description, message_id: s.message_id,
    created_at: iso(s.created_at), expires_at: iso(s.expires_at),
  };
}

async function tenantOrFail(store: Store, name: string): Promise<TenantTable> {
  const tenant = await findTenant(store.db, name);
  if (!tenant) throw new StoreError('TENANT_NOT_FOUND', `no tenant named "${name}" (create it with: postline tenant create ${name})`);
  return tenant;
}

function streamOf(value: string | undefined, fallback: Stream): Stream {
  if (value === undefined) return fallback;
  if (!(SUPPRESSION_STREAMS as readonly string[]).includes(value)) throw new StoreError('SUPPRESSION_STREAM_INVALID', `--stream must be one of ${SUPPRESSION_STREAMS.join(', ')}`);
  return value as Stream;
}

function reasonOf(value: string | undefined): SuppressionReason | undefined {
  if (value === undefined) return undefined;
  if (!(SUPPRESSION_REASONS as readonly string[]).includes(value)) throw new StoreError('SUPPRESSION_REASON_INVALID', `--reason must be one of ${SUPPRESSION_REASONS.join(', ')}`);
  return value as SuppressionReason;
}

/** Writes to stdout, waiting for 'drain' when the pipe is full (export of a large list). */
async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

function progressPrinter(file: string): (p: CsvImportProgress) => void {
  let lastAt = Date.now();
  let lastLines = 0;
  return (p) => {
    const now = Date.now();
    if (now - lastAt < PROGRESS_INTERVAL_MS && p.lines - lastLines < PROGRESS_LINES) return;
    lastAt = now;
    lastLines = p.lines;
    process.stderr.write(`${file}: line ${p.lines}: ${p.imported} imported, ${p.updated} updated, ${p.rejected} rejected\n`);
  };
}

export function registerSuppressionCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
  const sup = program.command('suppression').description('suppression lists: addresses a tenant must not send to, per stream');

  sup.command('list')
    .description('list suppressed addresses, oldest first (expired entries are not shown)')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .option('--stream <stream>', `only this stream: ${SUPPRESSION_STREAMS.join(', ')} (default: both)`)
    .option('--reason <reason>', `only this reason: ${SUPPRESSION_REASONS.join(', ')}`)
    .option('--limit <n>', 'at most this many entries', '1000')
    .action(async (o: { tenant: string; stream?: string; reason?: string; limit: string }) => withStore(g(), async (store) => {
      const t = await tenantOrFail(store, o.tenant);
      const filter = { stream: o.stream === undefined ? undefined : streamOf(o.stream, 'transactional'), reason: reasonOf(o.reason) };
      const limit = Math.max(1, Number(o.limit) || 1000);
      const rows: SuppressionTable[] = [];
      for (;;) {
        const want = Math.min(LIST_PAGE_ROWS, limit - rows.length);
        const page = await listSuppressionsPage(store.db, t.id, filter, { afterId: rows.at(-1)?.id, limit: want });
        rows.push(...page);
        if (page.length < want || rows.length >= limit) break;
      }
      const items = rows.map(entryJson);
      output(g(), items, items.map((s) => `${s.address}  ${s.stream}  ${s.reason}${s.expires_at ? `  until ${s.expires_at}` : ''}${s.description ? `  ${s.description.replace(/\s+/g, ' ')}` : ''}`).join('\n') || '(no suppressed addresses)');
    }));

  sup.command('add <address>')
    .description('suppress an address (again: the stronger reason and the later expiry stay)')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .option('--stream <stream>', `${SUPPRESSION_STREAMS.join(' or ')}`, 'transactional')
    .option('--reason <reason>', `${SUPPRESSION_REASONS.join(', ')}`, 'manual')
    .option('--description <text>', 'why, in words')
    .option('--expires-at <time>', 'RFC 3339 time after which the entry no longer counts (default: permanent)')
    .action(async (address: string, o: { tenant: string; stream: string; reason: string; description?: string; expiresAt?: string }) => withStore(g(), async (store) => {
      const t = await tenantOrFail(store, o.tenant);
      const stream = streamOf(o.stream, 'transactional');
      const reason = reasonOf(o.reason)!;
      if (normaliseSuppressionAddress(address) === undefined) throw new StoreError('SUPPRESSION_ADDRESS_INVALID', `"${address}" is not a valid email address`);
      let expiresAt: number | null = null;
      if (o.expiresAt !== undefined) {
        const ms = parseRfc3339(o.expiresAt);
        if (ms === undefined || ms <= Date.now()) throw new StoreError('SUPPRESSION_EXPIRY_INVALID', '--expires-at must be a future RFC 3339 time, e.g. 2030-01-31T00:00:00Z');
        expiresAt = ms;
      }
      const r = await store.write(async (trx) => {
        const res = await addSuppressions(trx, t.id, [{ stream, address, reason, description: o.description?.trim() || null, expiresAt }]);
        await recordAudit(trx, CLI_ACTOR, 'suppression.added', { tenantId: t.id, id: res.rows[0].id }, { stream, added: res.added, updated: res.updated, addresses: [res.rows[0].address] });
        return res;
      });
      const entry = entryJson(r.rows[0]);
      output(g(), { added: r.added, updated: r.updated, entry }, `${r.added ? 'suppressed' : 'already suppressed'}: ${entry.address} on ${entry.stream} (${entry.reason})`);
    }));

  sup.command('remove <address>')
    .description('remove an address from the list (it may be sent to again)')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .option('--stream <stream>', `${SUPPRESSION_STREAMS.join(' or ')}`, 'transactional')
    .action(async (address: string, o: { tenant: string; stream: string }) => withStore(g(), async (store) => {
      const t = await tenantOrFail(store, o.tenant);
      const stream = streamOf(o.stream, 'transactional');
      const row = await store.write(async (trx) => {
        const removed = await removeSuppression(trx, t.id, stream, address);
        if (removed) await recordAudit(trx, CLI_ACTOR, 'suppression.removed', { tenantId: t.id, id: removed.id }, { stream, address: removed.address, reason: removed.reason });
        return removed;
      });
      if (!row) throw new StoreError('SUPPRESSION_NOT_FOUND', `${address} is not on ${t.name}'s ${stream} suppression list`);
      output(g(), { removed: entryJson(row) }, `removed ${row.address} from the ${stream} list`);
    }));

  sup.command('import <file>')
    .description('import a CSV file (header row: address or email, then optionally reason, description, expires_at); "-" reads stdin')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .option('--stream <stream>', `${SUPPRESSION_STREAMS.join(' or ')}`, 'transactional')
    .action(async (file: string, o: { tenant: string; stream: string }) => withStore(g(), async (store) => {
      const t = await tenantOrFail(store, o.tenant);
      const stream = streamOf(o.stream, 'transactional');
      const source = file === '-' ? process.stdin : createReadStream(file);
      const r = await importSuppressionsCsv(store, t.id, source, { stream, actor: CLI_ACTOR, onProgress: progressPrinter(file) });
      output(g(), r, [
        `${r.imported} imported, ${r.updated} updated, ${r.rejected_count} rejected`,
        ...r.rejected.map((x) => `  line ${x.line}: ${x.address}: ${x.error}`),
        ...(r.rejected_count > r.rejected.length ? [`  … and ${r.rejected_count - r.rejected.length} more`] : []),
      ].join('\n'));
    }));

  sup.command('export')
    .description('write the list of one stream as CSV to stdout (address,reason,description,created_at,expires_at; --json does not apply)')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .option('--stream <stream>', `${SUPPRESSION_STREAMS.join(' or ')}`, 'transactional')
    .action(async (o: { tenant: string; stream: string }) => withStore(g(), async (store) => {
      const t = await tenantOrFail(store, o.tenant);
      for await (const chunk of exportSuppressionsCsv(store, t.id, streamOf(o.stream, 'transactional'))) await writeOut(chunk);
    }));
}
