// What to tell a tenant whose domain already publishes SPF: a domain has one SPF record
// (RFC 7208 §4.5: two are a permerror), so Postline's mechanism must be merged into the
// existing one, and the merged record must stay within the 10 DNS-querying terms of
// RFC 7208 §4.6.4. Pure functions over record text.

/** RFC 7208 §4.5: an SPF record starts with `v=spf1` followed by a space or nothing. */
export function isSpfRecord(txt: string): boolean {
  return /^v=spf1(?:\s|$)/i.test(txt.trim());
}

function terms(record: string): string[] {
  return record.trim().split(/\s+/).slice(1).filter(Boolean);
}

/** A term without its qualifier, lower case: `~all` → `all`, `+include:X` → `include:x`. */
function bareTerm(term: string): string {
  return term.replace(/^[+?~-]/, '').toLowerCase();
}

function termName(term: string): string {
  return bareTerm(term).split(/[:/=]/, 1)[0];
}

// RFC 7208 §4.6.4: include, a, mx, ptr and exists mechanisms and the redirect modifier each
// cause a DNS query and count towards the limit of 10.
const LOOKUP_TERMS = new Set(['include', 'a', 'mx', 'ptr', 'exists', 'redirect']);

/** DNS-querying terms of the record itself (terms of included records count too, and are not seen here). */
export function countSpfLookups(record: string): number {
  return terms(record).filter((t) => LOOKUP_TERMS.has(termName(t))).length;
}

/** True when the record has every mechanism with a pass (`+` or no) qualifier. */
export function hasMechanisms(record: string, mechanisms: readonly string[]): boolean {
  const present = new Set(terms(record).filter((t) => !/^[?~-]/.test(t)).map(bareTerm));
  return mechanisms.every((m) => present.has(m.toLowerCase()));
}

/** The record with the missing mechanisms added before `all`/`redirect=` (which end evaluation, RFC 7208 §4.6.2, §6.1). */
export function mergeSpf(record: string, mechanisms: readonly string[]): string {
  const list = terms(record);
  const present = new Set(list.map(bareTerm));
  const missing = mechanisms.filter((m) => !present.has(m.toLowerCase()));
  const at = list.findIndex((t) => termName(t) === 'all' || termName(t) === 'redirect');
  const merged = at < 0 ? [...list, ...missing] : [...list.slice(0, at), ...missing, ...list.slice(at)];
  return ['v=spf1', ...merged].join(' ');
}

export interface SpfAdvice {
  readonly merged: string;
  readonly lookupsNow: number;
  readonly lookupsMerged: number;
  readonly warning: string;
}

/** Merge advice for an existing SPF record that lacks Postline's mechanisms. */
export function spfMergeAdvice(found: string, mechanisms: readonly string[]): SpfAdvice {
  const merged = mergeSpf(found, mechanisms);
  const lookupsNow = countSpfLookups(found);
  const lookupsMerged = countSpfLookups(merged);
  const added = mechanisms.filter((m) => !hasMechanisms(found, [m]));
  let warning = `The domain already has an SPF record without ${added.join(' ')}: a domain may publish only one (RFC 7208 §4.5), `
    + `so add ${added.length === 1 ? 'it' : 'them'} to the existing record instead of publishing a second one: "${merged}". `
    + `Its terms need ${lookupsNow} DNS lookup${lookupsNow === 1 ? '' : 's'} now and ${lookupsMerged} merged, of at most 10 (RFC 7208 §4.6.4; the records it includes count as well).`;
  if (lookupsMerged > 10) {
    warning += ` The merged record would exceed the 10-lookup limit and receivers would answer permerror: remove unused includes, `
      + 'or replace some with the ip4:/ip6: ranges they stand for (domains.spf_ips does so for Postline).';
  }
  return { merged, lookupsNow, lookupsMerged, warning };
}

/** Advice when several SPF records are published. */
export function spfMultipleWarning(found: readonly string[], mechanisms: readonly string[]): { merged: string; warning: string } {
  let merged = found[0];
  for (const other of found.slice(1)) merged = mergeSpf(merged, terms(other).filter((t) => !['all', 'redirect', 'exp'].includes(termName(t))));
  merged = mergeSpf(merged, mechanisms);
  const lookups = countSpfLookups(merged);
  return {
    merged,
    warning: `${found.length} SPF records are published: RFC 7208 §4.5 makes that a permerror for every receiver. Keep one record, `
      + `with the mechanisms of the others and ${mechanisms.join(' ')} merged into it (e.g. "${merged}"; ${lookups} DNS lookup${lookups === 1 ? '' : 's'} of at most 10, RFC 7208 §4.6.4).`,
  };
}
