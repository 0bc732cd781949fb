// Looks a domain's expected records up in DNS and says, per record, ok / missing / wrong with
// what was found. A lookup that fails temporarily (timeout, SERVFAIL) is `temporary`: the
// caller keeps the last known status rather than reporting a record gone that may not be.
import { OWNERSHIP_PREFIX, spfMechanisms, type ExpectedRecord } from './domain-records.ts';
import type { DomainSettings } from './domain-settings.ts';
import { hasMechanisms, isSpfRecord, spfMergeAdvice, spfMultipleWarning } from './spf-advice.ts';
import { dkimKeyType } from './dkim-keys.ts';

/** What verification needs of a resolver (src/delivery/dns-resolver.ts DnsResolver has it). */
export interface DomainDnsResolver {
  resolveTxt(name: string): Promise<string[][]>;
  resolve(name: string, rrtype: 'CNAME'): Promise<string[]>;
}

export type RecordCheck =
  | { readonly kind: 'result'; readonly status: 'ok' | 'missing' | 'wrong'; readonly found: string[]; readonly expected?: string; readonly warning?: string }
  | { readonly kind: 'temporary'; readonly reason: string };

type Lookup = { ok: true; values: string[] } | { ok: false; temporary: string };

/** ENOTFOUND (NXDOMAIN) and ENODATA are answers: the record is not there. Anything else may pass. */
function isAbsent(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ENOTFOUND' || code === 'ENODATA';
}

function lookupError(err: unknown): Lookup {
  return isAbsent(err) ? { ok: true, values: [] } : { ok: false, temporary: (err as Error).message ?? String(err) };
}

/** RFC 6376 §3.6.2.2 / RFC 7208 §3.3: the strings of one TXT record are concatenated without separators. */
async function lookupTxt(resolver: DomainDnsResolver, name: string): Promise<Lookup> {
  try {
    return { ok: true, values: (await resolver.resolveTxt(name)).map((chunks) => chunks.join('')) };
  } catch (err) {
    return lookupError(err);
  }
}

async function lookupCname(resolver: DomainDnsResolver, name: string): Promise<Lookup> {
  try {
    return { ok: true, values: (await resolver.resolve(name, 'CNAME')).map((n) => n.toLowerCase().replace(/\.$/, '')) };
  } catch (err) {
    return lookupError(err);
  }
}

/** RFC 6376 §3.2 tag=value list; names lower-cased, whitespace inside values removed (§3.6.1 p= allows FWS). */
export function parseTagList(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (name && !tags.has(name)) tags.set(name, part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return tags;
}

function abbreviate(value: string): string {
  return value.length <= 24 ? value : `${value.slice(0, 10)}…${value.slice(-10)}`;
}

/** Why a published DKIM record does not match the key, in words a person can act on. */
export function dkimMismatch(found: string, algorithm: 'rsa-sha256' | 'ed25519-sha256', publicKey: string): string | null {
  const tags = parseTagList(found);
  const v = tags.get('v');
  // RFC 6376 §3.6.1: v= is optional, but when present it must be DKIM1.
  if (v !== undefined && v !== 'DKIM1') return `v=${v}: a DKIM key record has v=DKIM1 or no v= tag (RFC 6376 §3.6.1)`;
  const k = (tags.get('k') ?? 'rsa').toLowerCase();
  if (k !== dkimKeyType(algorithm)) return `k=${k} is published, but this selector's key is k=${dkimKeyType(algorithm)}`;
  const p = tags.get('p');
  if (p === undefined) return 'the record has no p= tag (the public key)';
  if (p === '') return 'p= is empty, which revokes the key (RFC 6376 §3.6.1)';
  if (p === publicKey) return null;
  let at = 0;
  while (at < p.length && at < publicKey.length && p[at] === publicKey[at]) at++;
  if (at === p.length && p.length < publicKey.length) {
    return `the published p= is cut short: ${p.length} of ${publicKey.length} characters. A TXT value over 255 characters must be `
      + 'split into several strings of one record, not several records (RFC 6376 §3.6.2.2)';
  }
  return `the published p= differs from this selector's key from character ${at + 1} on: found p=${abbreviate(p)} (${p.length} characters), `
    + `expected p=${abbreviate(publicKey)} (${publicKey.length} characters)`;
}

function checkOwnership(record: ExpectedRecord, txt: string[]): RecordCheck {
  const found = txt.filter((t) => t.trim().toLowerCase().startsWith(OWNERSHIP_PREFIX));
  if (found.some((t) => t.trim() === record.value)) return { kind: 'result', status: 'ok', found, expected: record.value };
  if (found.length === 0) return { kind: 'result', status: 'missing', found, expected: record.value };
  return { kind: 'result', status: 'wrong', found, expected: record.value, warning: `the ${OWNERSHIP_PREFIX} token differs from this domain's token` };
}

function checkDkim(record: ExpectedRecord, txt: string[]): RecordCheck {
  if (txt.length === 0) return { kind: 'result', status: 'missing', found: [], expected: record.value };
  // RFC 6376 §3.6.2.2: several TXT records at the selector make the result undefined.
  if (txt.length > 1) {
    return { kind: 'result', status: 'wrong', found: txt, expected: record.value, warning: `${txt.length} TXT records are published at ${record.name}; publish exactly one (RFC 6376 §3.6.2.2)` };
  }
  const problem = dkimMismatch(txt[0], record.dkim!.algorithm, record.dkim!.publicKey);
  if (problem === null) return { kind: 'result', status: 'ok', found: txt, expected: record.value };
  return { kind: 'result', status: 'wrong', found: txt, expected: record.value, warning: problem };
}

function checkSpf(record: ExpectedRecord, txt: string[], settings: DomainSettings): RecordCheck {
  const found = txt.filter(isSpfRecord).map((t) => t.trim());
  const mechanisms = spfMechanisms(settings);
  if (found.length === 0) return { kind: 'result', status: 'missing', found, expected: record.value };
  if (found.length > 1) {
    const { merged, warning } = spfMultipleWarning(found, mechanisms);
    return { kind: 'result', status: 'wrong', found, expected: merged, warning };
  }
  // A record that already carries our mechanism(s) is fine, whatever else it allows.
  if (hasMechanisms(found[0], mechanisms)) return { kind: 'result', status: 'ok', found, expected: record.value };
  const advice = spfMergeAdvice(found[0], mechanisms);
  return { kind: 'result', status: 'wrong', found, expected: advice.merged, warning: advice.warning };
}

function checkDmarc(record: ExpectedRecord, txt: string[]): RecordCheck {
  // RFC 7489 §6.6.3: records that do not start with v=DMARC1 are discarded.
  const found = txt.map((t) => t.trim()).filter((t) => /^v\s*=\s*DMARC1\s*(;|$)/.test(t));
  if (found.length === 0) return { kind: 'result', status: 'missing', found, expected: record.value };
  if (found.length > 1) {
    return { kind: 'result', status: 'wrong', found, expected: record.value, warning: `${found.length} DMARC records are published: receivers then apply none (RFC 7489 §6.6.3); keep one` };
  }
  const p = parseTagList(found[0]).get('p')?.toLowerCase();
  // RFC 7489 §6.3: p= is required, one of none, quarantine, reject. Any valid policy will do.
  if (p === 'none' || p === 'quarantine' || p === 'reject') return { kind: 'result', status: 'ok', found, expected: record.value };
  return { kind: 'result', status: 'wrong', found, expected: record.value, warning: p === undefined ? 'the DMARC record has no p= policy (RFC 7489 §6.3)' : `p=${p} is not a DMARC policy (none, quarantine or reject; RFC 7489 §6.3)` };
}

function checkReturnPath(record: ExpectedRecord, targets: string[]): RecordCheck {
  if (targets.length === 0) return { kind: 'result', status: 'missing', found: [], expected: record.value };
  if (targets.includes(record.value)) return { kind: 'result', status: 'ok', found: targets, expected: record.value };
  return { kind: 'result', status: 'wrong', found: targets, expected: record.value, warning: `${record.name} is an alias of ${targets.join(', ')}, not of ${record.value}: bounces would not reach Postline` };
}

/** Checks every record; lookups of the same name and type are made once. */
export async function checkRecords(resolver: DomainDnsResolver, records: readonly ExpectedRecord[], settings: DomainSettings): Promise<Map<string, RecordCheck>> {
  const lookups = new Map<string, Promise<Lookup>>();
  const lookup = (type: 'TXT' | 'CNAME', name: string): Promise<Lookup> => {
    // RFC 6761 §6.4: names under .invalid never resolve; answer that without asking.
    if (/(^|\.)invalid$/i.test(name)) return Promise.resolve({ ok: true, values: [] });
    const key = `${type} ${name}`;
    let p = lookups.get(key);
    if (!p) lookups.set(key, (p = type === 'TXT' ? lookupTxt(resolver, name) : lookupCname(resolver, name)));
    return p;
  };
  const out = new Map<string, RecordCheck>();
  await Promise.all(records.map(async (record) => {
    const answer = await lookup(record.type, record.name);
    if (!answer.ok) {
      out.set(record.key, { kind: 'temporary', reason: answer.temporary });
      return;
    }
    switch (record.purpose) {
      case 'ownership': out.set(record.key, checkOwnership(record, answer.values)); break;
      case 'dkim': out.set(record.key, checkDkim(record, answer.values)); break;
      case 'spf': out.set(record.key, checkSpf(record, answer.values, settings)); break;
      case 'dmarc': out.set(record.key, checkDmarc(record, answer.values)); break;
      case 'return_path': out.set(record.key, checkReturnPath(record, answer.values)); break;
    }
  }));
  return out;
}
