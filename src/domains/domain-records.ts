// The DNS records a sending domain publishes for Postline, computed from the domain row, its
// DKIM keys and the `domains:` settings. Names are fully qualified, without the final dot;
// values are exact. Each record has a stable key under which its last check is stored.
import type { DkimKeyStatus, DkimKeyTable, DomainTable } from '../store/index.ts';
import { dkimRecordValue } from './dkim-keys.ts';
import type { DomainSettings } from './domain-settings.ts';

export const RECORD_PURPOSES = ['ownership', 'dkim', 'spf', 'dmarc', 'return_path'] as const;
export type RecordPurpose = (typeof RECORD_PURPOSES)[number];

/** pending: never checked (or changed since); the others are the outcome of the last check. */
export const RECORD_STATUSES = ['pending', 'ok', 'missing', 'wrong'] as const;
export type RecordStatus = (typeof RECORD_STATUSES)[number];

export interface ExpectedRecord {
  /** `ownership`, `spf`, `dmarc`, `return_path` or `dkim:<selector>`. */
  readonly key: string;
  readonly name: string;
  readonly type: 'TXT' | 'CNAME';
  readonly value: string;
  readonly purpose: RecordPurpose;
  /** DKIM records: the key they publish. */
  readonly dkim?: { readonly id: string; readonly selector: string; readonly status: DkimKeyStatus; readonly algorithm: DkimKeyTable['algorithm']; readonly publicKey: string };
}

export const OWNERSHIP_PREFIX = 'postline-verification=';

/** RFC 7208 §4.6.4: `include:` of the instance's SPF name, or the configured ip4:/ip6: mechanisms. */
export function spfMechanisms(settings: DomainSettings): string[] {
  return settings.spfIps.length ? [...settings.spfIps] : [`include:${settings.spfInclude}`];
}

/** The suggested SPF record; `~all` (softfail) so that a missed sending source is not rejected outright. */
export function spfRecordValue(settings: DomainSettings): string {
  return `v=spf1 ${spfMechanisms(settings).join(' ')} ~all`;
}

/** RFC 7489 §6.3: start with p=none and reports, tighten once the reports look right. */
export function dmarcRecordValue(settings: DomainSettings): string {
  return `v=DMARC1; p=none; rua=${settings.dmarcRua}`;
}

export function returnPathHost(domain: string, settings: DomainSettings): string {
  return `${settings.returnPathPrefix}.${domain}`;
}

const KEY_ORDER: Record<DkimKeyStatus, number> = { active: 0, pending: 1, retiring: 2, retired: 3 };

/**
 * Every record to publish, in the order a person adds them: ownership, DKIM (active, then
 * pending, then retiring keys: a retiring key stays published until its retire_at), SPF,
 * DMARC, return path. Retired keys are not listed.
 */
export function expectedRecords(domain: Pick<DomainTable, 'name' | 'verification_token'>, keys: readonly DkimKeyTable[], settings: DomainSettings): ExpectedRecord[] {
  const name = domain.name;
  const records: ExpectedRecord[] = [
    { key: 'ownership', name, type: 'TXT', value: `${OWNERSHIP_PREFIX}${domain.verification_token ?? ''}`, purpose: 'ownership' },
  ];
  const listed = keys.filter((k) => k.status !== 'retired')
    .sort((a, b) => KEY_ORDER[a.status] - KEY_ORDER[b.status] || Number(a.created_at) - Number(b.created_at)
      || b.algorithm.localeCompare(a.algorithm) || a.selector.localeCompare(b.selector));
  for (const k of listed) {
    records.push({
      key: `dkim:${k.selector}`, name: `${k.selector}._domainkey.${name}`, type: 'TXT', value: dkimRecordValue(k.algorithm, k.public_key), purpose: 'dkim',
      dkim: { id: k.id, selector: k.selector, status: k.status, algorithm: k.algorithm, publicKey: k.public_key },
    });
  }
  records.push(
    { key: 'spf', name, type: 'TXT', value: spfRecordValue(settings), purpose: 'spf' },
    { key: 'dmarc', name: `_dmarc.${name}`, type: 'TXT', value: dmarcRecordValue(settings), purpose: 'dmarc' },
    { key: 'return_path', name: returnPathHost(name, settings), type: 'CNAME', value: settings.returnPathTarget, purpose: 'return_path' },
  );
  return records;
}
