// Verification: look every record of a domain up, store each result, and apply what they
// mean. A domain is verified while its ownership record and the record of every active DKIM
// key are found (SPF, DMARC and the return path are reported, and do not gate; the return
// path's result is kept apart as return_path_ok). Rotation moves on here: once the record of
// every pending key is found, the pending keys become active and the active ones retiring,
// which stay published for domains.dkim_rotation_overlap and are then retired.
// DNS is asked outside the store transaction; the transaction re-reads the keys and moves
// each only from the state it was seen in, so a rotation or a concurrent check is not undone.
import type { Kysely } from 'kysely';
import {
  insertEvents, listDkimKeys, moveDkimKey, updateDomainCheck,
  type Database, type DkimKeyTable, type DomainTable, type NewEvent,
} from '../store/index.ts';
import { recordAudit, type AuditActor } from '../security/index.ts';
import { checkRecords, type RecordCheck } from './check-records.ts';
import { expectedRecords, type ExpectedRecord } from './domain-records.ts';
import { ensureDomainKeys, type DomainContext } from './domain-service.ts';
import { parseStoredChecks, recordView, type StoredCheck, type StoredChecks } from './domain-view.ts';

export interface VerifyResult {
  readonly domain: DomainTable;
  readonly keys: DkimKeyTable[];
  /** Selectors that became active in this check. */
  readonly activated: string[];
  /** Records whose lookup failed temporarily: their last status was kept. */
  readonly temporary: Array<{ name: string; reason: string }>;
}

export interface VerifyOptions {
  /** Who asked (audited when the domain becomes verified); null for the periodic re-check. */
  readonly actor?: AuditActor | null;
}

/** Merges this check's results over the stored ones: a temporary failure keeps the last result. */
function nextChecks(records: readonly ExpectedRecord[], results: Map<string, RecordCheck>, previous: StoredChecks, now: number): StoredChecks {
  const next: Record<string, StoredCheck> = {};
  for (const record of records) {
    const result = results.get(record.key);
    if (result?.kind === 'result') {
      next[record.key] = {
        value: record.value, status: result.status, found: result.found, expected: result.expected ?? record.value, checked_at: now,
        ...(result.warning !== undefined ? { warning: result.warning } : {}),
      };
    } else if (previous[record.key]?.value === record.value) {
      next[record.key] = previous[record.key];
    }
  }
  return next;
}

async function applyCheck(trx: Kysely<Database>, ctx: DomainContext, domain: DomainTable, records: readonly ExpectedRecord[], results: Map<string, RecordCheck>, actor: AuditActor | null, now: number) {
  const fresh = (await trx.selectFrom('domains').selectAll().where('id', '=', domain.id).executeTakeFirst()) ?? domain;
  const previous = parseStoredChecks(fresh.dns_status);
  const checks = nextChecks(records, results, previous, now);
  const ok = (key: string): boolean => checks[key]?.status === 'ok';
  const keys = await listDkimKeys(trx, domain.id);
  const activated: string[] = [];

  // Retiring keys past their overlap are retired (and no longer listed).
  for (const k of keys) {
    if (k.status === 'retiring' && k.retire_at !== null && Number(k.retire_at) <= now) await moveDkimKey(trx, k.id, 'retiring', 'retired');
  }
  // Rotation: all pending records found → pending become active, active become retiring.
  const pending = keys.filter((k) => k.status === 'pending');
  if (pending.length > 0 && pending.every((k) => ok(`dkim:${k.selector}`))) {
    for (const k of pending) if (await moveDkimKey(trx, k.id, 'pending', 'active', { activatedAt: now })) activated.push(k.selector);
    if (activated.length === pending.length) {
      for (const k of keys.filter((x) => x.status === 'active')) await moveDkimKey(trx, k.id, 'active', 'retiring', { retireAt: now + ctx.settings.rotationOverlapMs });
    }
  }
  const after = await listDkimKeys(trx, domain.id);
  const active = after.filter((k) => k.status === 'active');
  const verified = ok('ownership') && active.length > 0 && active.every((k) => ok(`dkim:${k.selector}`));
  const wasVerified = fresh.verified === 1;
  const events: NewEvent[] = [];
  // A DKIM record that was found and now is not: signatures with it fail from now on.
  for (const record of records) {
    if (record.purpose !== 'dkim') continue;
    const before = previous[record.key];
    const current = checks[record.key];
    if (before?.status === 'ok' && before.value === record.value && current && current !== before && (current.status === 'missing' || current.status === 'wrong')) {
      const view = recordView(record, current);
      events.push({
        type: 'domain.dns_error', tenantId: domain.tenant_id,
        data: {
          domain: domain.name, domain_id: domain.id,
          record: { name: view.name, type: view.type, value: view.value, purpose: view.purpose, status: view.status, selector: view.selector, ...(view.warning ? { warning: view.warning } : {}) },
          found: current.found, expected: record.value,
        },
      });
    }
  }
  const verifiedAt = verified && !wasVerified ? now : fresh.verified_at === null ? null : Number(fresh.verified_at);
  if (verified && !wasVerified) {
    events.push({ type: 'domain.verified', tenantId: domain.tenant_id, data: { domain: domain.name, domain_id: domain.id, verified_at: new Date(now).toISOString() } });
    if (actor) await recordAudit(trx, actor, 'domain.verified', { tenantId: domain.tenant_id, id: domain.id }, { name: domain.name }, now);
  }
  await insertEvents(trx, events, now);
  await updateDomainCheck(trx, domain.id, { verified, returnPathOk: ok('return_path'), dnsStatus: JSON.stringify(checks), checkedAt: now, verifiedAt });
  const updated = (await trx.selectFrom('domains').selectAll().where('id', '=', domain.id).executeTakeFirst()) ?? fresh;
  return { domain: updated, keys: after, activated, events };
}

/** Checks every record of `domain` in DNS and applies the results (see the top of this file). */
export async function verifyDomain(ctx: DomainContext, domain: DomainTable, options: VerifyOptions = {}): Promise<VerifyResult> {
  const row = await ensureDomainKeys(ctx, domain);
  const records = expectedRecords(row, await listDkimKeys(ctx.store.db, row.id), ctx.settings);
  const results = await checkRecords(ctx.resolver, records, ctx.settings);
  const now = ctx.now?.() ?? Date.now();
  const applied = await ctx.store.write((trx) => applyCheck(trx, ctx, row, records, results, options.actor ?? null, now));
  const temporary = new Map<string, { name: string; reason: string }>();
  for (const r of records) {
    const result = results.get(r.key);
    if (result?.kind === 'temporary') temporary.set(`${r.type} ${r.name}`, { name: r.name, reason: result.reason });
  }
  const log = ctx.log;
  if (log) {
    if (applied.activated.length) log.info({ domain: row.name, selectors: applied.activated }, 'DKIM rotation: new keys active, old keys retiring');
    for (const e of applied.events) {
      if (e.type === 'domain.verified') log.info({ domain: row.name }, 'domain verified');
      else log.warn({ domain: row.name, data: e.data }, 'a DKIM record of a sending domain is gone or changed');
    }
    if (temporary.size) log.warn({ domain: row.name, temporary: [...temporary.values()] }, 'domain check: DNS lookups failed; last known status kept');
  }
  return { domain: applied.domain, keys: applied.keys, activated: applied.activated, temporary: [...temporary.values()] };
}
