// Adding a sending domain with its first DKIM keys, and rotating keys. Keys are generated
// before the store transaction (generation takes tens to hundreds of ms of thread-pool time;
// the write lock is held only for the inserts), and every change is audited in its
// transaction. Verification is in verify-domain.ts.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import {
  addDomain, ensureVerificationToken, findDomainByName, insertDkimKeys, listDkimKeys, listDkimSelectors, moveDkimKey, newPublicId,
  type DkimKeyTable, type DomainTable, type Store,
} from '../store/index.ts';
import { CLI_ACTOR, recordAudit, secretKeyOf, type AuditActor } from '../security/index.ts';
import { normaliseDomain } from '../smtp/index.ts';
import { DnsResolver } from '../delivery/dns-resolver.ts';
import { generateDkimKeys } from './dkim-keys.ts';
import { domainSettingsOf, type DomainSettings } from './domain-settings.ts';
import type { DomainDnsResolver } from './check-records.ts';

export type DomainErrorCode = 'DOMAIN_INVALID' | 'DOMAIN_TAKEN' | 'DOMAIN_NOT_FOUND';

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  constructor(code: DomainErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DomainError';
    this.code = code;
  }
}

/** What domain operations need; built once per process (domainContextOf) or by tests. */
export interface DomainContext {
  readonly store: Store;
  readonly settings: DomainSettings;
  /** The instance secret key that seals DKIM private keys (security/secret-key.ts). */
  readonly secretKey: Buffer;
  readonly resolver: DomainDnsResolver;
  readonly log?: Logger | null;
  readonly now?: () => number;
}

/**
 * The context from configuration: settings, the secret key, and a resolver on `dns.servers`
 * that caches nothing, so that a check sees a record the moment the tenant's DNS serves it.
 */
export async function domainContextOf(config: Readonly<Config>, store: Store, log?: Logger | null): Promise<DomainContext> {
  const resolver = new DnsResolver({ servers: [...config.dns.servers], timeoutMs: config.dns.timeout, maxCacheTtlMs: 0 });
  return { store, settings: domainSettingsOf(config), secretKey: await secretKeyOf(config), resolver, log: log ?? null };
}

export interface CreatedDomain {
  readonly domain: DomainTable;
  /** False when the tenant already had the domain (it is returned as it is). */
  readonly created: boolean;
}

/**
 * Adds `name` for a tenant with active DKIM keys (nothing is signed before the domain
 * verifies, so they need no pending phase). Throws DomainError DOMAIN_INVALID / DOMAIN_TAKEN.
 */
export async function createDomain(ctx: DomainContext, tenantId: string, name: string, actor: AuditActor = CLI_ACTOR): Promise<CreatedDomain> {
  const ascii = normaliseDomain(name);
  if (!ascii) throw new DomainError('DOMAIN_INVALID', `"${name}" is not a valid domain name`);
  const existing = await findDomainByName(ctx.store.db, ascii);
  if (existing) {
    if (existing.tenant_id !== tenantId) throw new DomainError('DOMAIN_TAKEN', `domain ${ascii} belongs to another tenant`);
    return { domain: await ensureDomainKeys(ctx, existing), created: false };
  }
  const now = ctx.now?.() ?? Date.now();
  const id = newPublicId('dom', now);
  const keys = await generateDkimKeys({
    domainId: id, rsaBits: ctx.settings.dkimRsaBits, ed25519: ctx.settings.dkimEd25519, status: 'active', usedSelectors: [], secretKey: ctx.secretKey, now,
  });
  const result = await ctx.store.write(async (trx) => {
    const row = await addDomain(trx, tenantId, ascii, { id, now });
    if (row.id !== id) return { domain: row, created: false };
    await insertDkimKeys(trx, keys);
    await recordAudit(trx, actor, 'domain.added', { tenantId, id }, { name: ascii, selectors: keys.map((k) => k.selector) }, now);
    return { domain: row, created: true };
  }).catch((err: unknown) => {
    if ((err as { code?: string }).code === 'DOMAIN_TAKEN') throw new DomainError('DOMAIN_TAKEN', (err as Error).message, { cause: err });
    throw err;
  });
  return result.created ? result : { domain: await ensureDomainKeys(ctx, result.domain), created: false };
}

/**
 * Gives a domain that has no active or pending key (added before DKIM keys existed, or by a
 * bare store insert) its ownership token and active keys. Returns the row as now stored.
 */
export async function ensureDomainKeys(ctx: DomainContext, domain: DomainTable): Promise<DomainTable> {
  const row = domain.verification_token ? domain : await ctx.store.write((trx) => ensureVerificationToken(trx, domain));
  const keys = await listDkimKeys(ctx.store.db, row.id);
  if (keys.some((k) => k.status === 'active' || k.status === 'pending')) return row;
  const now = ctx.now?.() ?? Date.now();
  const fresh = await generateDkimKeys({
    domainId: row.id, rsaBits: ctx.settings.dkimRsaBits, ed25519: ctx.settings.dkimEd25519, status: 'active',
    usedSelectors: await listDkimSelectors(ctx.store.db, row.id), secretKey: ctx.secretKey, now,
  });
  await ctx.store.write(async (trx) => {
    // Another request may have done the same meanwhile: keep theirs.
    const again = await listDkimKeys(trx, row.id);
    if (!again.some((k) => k.status === 'active' || k.status === 'pending')) await insertDkimKeys(trx, fresh);
  });
  return row;
}

/**
 * Starts a rotation: new `pending` key(s) (RSA, and Ed25519 when enabled) to publish beside
 * the active ones. verify-domain.ts activates them once their records are found, and moves
 * the old keys to `retiring` for domains.dkim_rotation_overlap. Keys of an earlier rotation
 * still pending are dropped (retired: they never signed). Returns the new keys.
 */
export async function rotateDkim(ctx: DomainContext, domain: DomainTable, actor: AuditActor = CLI_ACTOR): Promise<DkimKeyTable[]> {
  const now = ctx.now?.() ?? Date.now();
  const fresh = await generateDkimKeys({
    domainId: domain.id, rsaBits: ctx.settings.dkimRsaBits, ed25519: ctx.settings.dkimEd25519, status: 'pending',
    usedSelectors: await listDkimSelectors(ctx.store.db, domain.id), secretKey: ctx.secretKey, now,
  });
  await ctx.store.write(async (trx) => {
    const replaced: string[] = [];
    for (const k of await listDkimKeys(trx, domain.id)) {
      if (k.status === 'pending' && (await moveDkimKey(trx, k.id, 'pending', 'retired', { retireAt: now }))) replaced.push(k.selector);
    }
    await insertDkimKeys(trx, fresh);
    await recordAudit(trx, actor, 'domain.dkim_rotated', { tenantId: domain.tenant_id, id: domain.id },
      { name: domain.name, selectors: fresh.map((k) => k.selector), replaced_pending: replaced }, now);
  });
  ctx.log?.info({ domain: domain.name, selectors: fresh.map((k) => k.selector) }, 'DKIM rotation started: new keys pending until their DNS records verify');
  return fresh;
}
