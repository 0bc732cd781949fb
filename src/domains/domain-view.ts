// A domain as the API and the CLI show it: its records with the last known status, and its
// DKIM keys (public parts only: a private key never leaves the server). The last check of
// each record is kept in domains.dns_status as JSON, keyed by record key, together with the
// value it checked: when the expected value has changed since (new settings), the record
// shows `pending` again until the next check.
import type { DkimKeyTable, DomainTable } from '../store/index.ts';
import { expectedRecords, type ExpectedRecord, type RecordPurpose, type RecordStatus } from './domain-records.ts';
import type { DomainSettings } from './domain-settings.ts';

/** One record's last check, as stored. */
export interface StoredCheck {
  readonly value: string;
  readonly status: 'ok' | 'missing' | 'wrong';
  readonly found: string[];
  readonly expected?: string;
  readonly warning?: string;
  readonly checked_at: number;
}

export type StoredChecks = Record<string, StoredCheck>;

export function parseStoredChecks(json: string | null): StoredChecks {
  if (!json) return {};
  try {
    const parsed = JSON.parse(json) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as StoredChecks) : {};
  } catch {
    return {};
  }
}

export interface DomainRecordView {
  name: string;
  type: 'TXT' | 'CNAME';
  value: string;
  purpose: RecordPurpose;
  status: RecordStatus;
  /** What DNS had at the last check (the relevant records of that name). */
  found?: string[];
  /** After a check: what this record should be; for an existing SPF record without Postline, that record merged. */
  expected?: string;
  warning?: string;
  /** DKIM records: the selector and the state of its key. */
  selector?: string;
  key_status?: DkimKeyTable['status'];
  checked_at?: string;
}

export interface DkimKeyView {
  id: string;
  selector: string;
  algorithm: DkimKeyTable['algorithm'];
  status: DkimKeyTable['status'];
  created_at: string;
  activated_at: string | null;
  retire_at: string | null;
}

export interface DomainView {
  id: string;
  tenant_id: string;
  name: string;
  verified: boolean;
  return_path_ok: boolean;
  created_at: string;
  checked_at: string | null;
  verified_at: string | null;
  records: DomainRecordView[];
  dkim_keys: DkimKeyView[];
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(Number(ms)).toISOString();
}

/** The view of one record given its last check (if the check was of the same value). */
export function recordView(record: ExpectedRecord, check: StoredCheck | undefined): DomainRecordView {
  const view: DomainRecordView = { name: record.name, type: record.type, value: record.value, purpose: record.purpose, status: 'pending' };
  if (record.dkim) {
    view.selector = record.dkim.selector;
    view.key_status = record.dkim.status;
  }
  if (check && check.value === record.value) {
    view.status = check.status;
    view.found = check.found;
    if (check.expected !== undefined) view.expected = check.expected;
    if (check.warning !== undefined) view.warning = check.warning;
    view.checked_at = iso(check.checked_at) ?? undefined;
  }
  return view;
}

export function dkimKeyView(k: DkimKeyTable): DkimKeyView {
  return {
    id: k.id, selector: k.selector, algorithm: k.algorithm, status: k.status,
    created_at: iso(k.created_at)!, activated_at: iso(k.activated_at), retire_at: iso(k.retire_at),
  };
}

export function domainView(domain: DomainTable, keys: readonly DkimKeyTable[], settings: DomainSettings): DomainView {
  const checks = parseStoredChecks(domain.dns_status);
  return {
    id: domain.id,
    tenant_id: domain.tenant_id,
    name: domain.name,
    verified: domain.verified === 1,
    return_path_ok: domain.return_path_ok === 1,
    created_at: iso(domain.created_at)!,
    checked_at: iso(domain.checked_at),
    verified_at: iso(domain.verified_at),
    records: expectedRecords(domain, keys, settings).map((r) => recordView(r, checks[r.key])),
    dkim_keys: keys.filter((k) => k.status !== 'retired').map(dkimKeyView),
  };
}
