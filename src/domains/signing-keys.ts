// The keys that sign a message at delivery: the `active` keys of the sending domain that
// owns the From domain (pending keys are not in DNS yet; retiring keys stay published so
// that mail already signed with them still verifies, but sign nothing new). Called per
// message by the delivery worker, so results are cached for CACHE_TTL_MS: a rotation reaches
// signing within that time, which the retiring overlap (days) covers many times over.
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.ts';
import { openDkimPrivateKey } from './dkim-keys.ts';
import type { DkimSigningKey } from './dkim-sign.ts';

export const SIGNING_KEY_CACHE_TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

interface CacheEntry {
  readonly keys: Promise<DkimSigningKey[]>;
  readonly expiresAt: number;
}

// Per database handle, so two stores in one process (tests) never share entries.
const caches = new WeakMap<object, Map<string, CacheEntry>>();

/** The name and its parent domains, longest first, down to two labels: a.b.example.com → …, example.com. */
function candidates(domainName: string): string[] {
  const labels = domainName.toLowerCase().replace(/\.$/, '').split('.');
  const out: string[] = [];
  for (let i = 0; i <= labels.length - 2; i++) out.push(labels.slice(i).join('.'));
  return out;
}

async function load(db: Kysely<Database>, secretKey: Buffer, domainName: string, tenantId: string | undefined): Promise<DkimSigningKey[]> {
  const names = candidates(domainName);
  if (names.length === 0) return [];
  let q = db.selectFrom('domains').select(['id', 'name']).where('name', 'in', names);
  if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
  const domains = await q.execute();
  // The closest registered domain owns the name: its keys, and no parent's.
  const owner = domains.sort((a, b) => b.name.length - a.name.length)[0];
  if (!owner) return [];
  const rows = await db.selectFrom('dkim_keys').select(['domain_id', 'selector', 'algorithm', 'private_key'])
    .where('domain_id', '=', owner.id).where('status', '=', 'active').orderBy('created_at').orderBy('selector').execute();
  // RSA first: a verifier that stops at the first signature it understands meets the widely supported one.
  rows.sort((a, b) => (a.algorithm === b.algorithm ? 0 : a.algorithm === 'rsa-sha256' ? -1 : 1));
  return rows.map((r) => ({ domain: owner.name, selector: r.selector, algorithm: r.algorithm, privateKeyPem: openDkimPrivateKey(secretKey, r) }));
}

/**
 * The active DKIM keys for mail from `domainName` (a sending domain or a subdomain of one;
 * d= is that sending domain). [] when no domain owns the name or it has no active key.
 * `options.tenantId` limits the owner to that tenant's domains. Cached ~60 s per database;
 * throws SecretBoxError when a key does not open with `secretKey`.
 */
export function loadSigningKeys(db: Kysely<Database>, secretKey: Buffer, domainName: string, options: { tenantId?: string; now?: number } = {}): Promise<DkimSigningKey[]> {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new Map()));
  const key = `${options.tenantId ?? ''}|${domainName.toLowerCase()}`;
  const now = options.now ?? Date.now();
  const hit = cache.get(key);
  if (hit && hit.expiresAt > now) return hit.keys;
  if (cache.size >= MAX_ENTRIES) {
    for (const [k, entry] of cache) if (entry.expiresAt <= now) cache.delete(k);
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  }
  const keys = load(db, secretKey, domainName, options.tenantId);
  cache.set(key, { keys, expiresAt: now + SIGNING_KEY_CACHE_TTL_MS });
  // A failed load is not remembered.
  keys.catch(() => {
    if (cache.get(key)?.keys === keys) cache.delete(key);
  });
  return keys;
}

/** Forgets the cached keys of one database: after a change made in this process, and in tests. */
export function clearSigningKeyCache(db: Kysely<Database>): void {
  caches.delete(db);
}
