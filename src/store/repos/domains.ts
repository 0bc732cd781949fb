// Sending domains and their DKIM keys. Rows only: generating and sealing keys, DNS checks
// and the rules that move a key from pending to active live in src/domains/. Lists are
// pages in id order (ids sort by creation time, so the cursor is just the last id).
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, DkimKeyStatus, DkimKeyTable, DomainTable } from '../database.ts';
import { newPublicId } from '../ids.ts';
import { normaliseDomain } from '../../smtp/index.ts';
import { StoreError } from './tenants.ts';
import type { PageRequest } from './api-keys.ts';

/** A fresh ownership token: 32 hex characters (128 random bits). */
export function newVerificationToken(): string {
  return randomBytes(16).toString('hex');
}

/**
 * Adds a sending domain for a tenant (with `options.id` when the caller made the id first, to
 * seal its DKIM keys with it), or returns the tenant's existing row for that name.
 * Throws StoreError DOMAIN_INVALID for a name that is not a host name, DOMAIN_TAKEN when
 * another tenant has it (names are UNIQUE across the instance).
 */
export async function addDomain(db: Kysely<Database>, tenantId: string, name: string, options: { id?: string; now?: number } = {}): Promise<DomainTable> {
  const now = options.now ?? Date.now();
  const domain = normaliseDomain(name);
  if (!domain) throw new StoreError('DOMAIN_INVALID', `"${name}" is not a valid domain name`);
  const existing = await findDomainByName(db, domain);
  if (existing) {
    if (existing.tenant_id === tenantId) return existing;
    throw new StoreError('DOMAIN_TAKEN', `domain ${domain} belongs to another tenant`);
  }
  const row: DomainTable = {
    id: options.id ?? newPublicId('dom', now), tenant_id: tenantId, name: domain, verified: 0, created_at: now,
    verification_token: newVerificationToken(), return_path_ok: 0, dns_status: null, checked_at: null, verified_at: null,
  };
  await db.insertInto('domains').values(row).execute();
  return row;
}

export async function findDomainByName(db: Kysely<Database>, name: string): Promise<DomainTable | undefined> {
  return db.selectFrom('domains').selectAll().where('name', '=', name).executeTakeFirst();
}

/** One of the tenant's domains by id; undefined for another tenant's. */
export async function getDomain(db: Kysely<Database>, tenantId: string, id: string): Promise<DomainTable | undefined> {
  return db.selectFrom('domains').selectAll().where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
}

export async function listDomains(db: Kysely<Database>, tenantId?: string): Promise<DomainTable[]> {
  let q = db.selectFrom('domains').selectAll();
  if (tenantId) q = q.where('tenant_id', '=', tenantId);
  return q.orderBy('name').execute();
}

export async function listDomainsPage(db: Kysely<Database>, tenantId: string, page: PageRequest): Promise<DomainTable[]> {
  let q = db.selectFrom('domains').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Every tenant's domains, a page at a time (the periodic re-check). */
export async function listAllDomainsPage(db: Kysely<Database>, page: PageRequest): Promise<DomainTable[]> {
  let q = db.selectFrom('domains').selectAll();
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Deletes one of the tenant's sending domains (its DKIM keys cascade); false when the tenant has no such domain. */
export async function deleteDomain(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('domains').where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export interface DomainCheckUpdate {
  readonly verified: boolean;
  readonly returnPathOk: boolean;
  /** JSON of the per-record results. */
  readonly dnsStatus: string;
  readonly checkedAt: number;
  readonly verifiedAt: number | null;
}

export async function updateDomainCheck(db: Kysely<Database>, id: string, check: DomainCheckUpdate): Promise<void> {
  await db.updateTable('domains').set({
    verified: check.verified ? 1 : 0, return_path_ok: check.returnPathOk ? 1 : 0, dns_status: check.dnsStatus,
    checked_at: check.checkedAt, verified_at: check.verifiedAt,
  }).where('id', '=', id).execute();
}

/** Gives a domain added before 0006 (or by a bare insert) its ownership token. */
export async function ensureVerificationToken(db: Kysely<Database>, domain: DomainTable): Promise<DomainTable> {
  if (domain.verification_token) return domain;
  const token = newVerificationToken();
  await db.updateTable('domains').set({ verification_token: token }).where('id', '=', domain.id).where('verification_token', 'is', null).execute();
  return (await db.selectFrom('domains').selectAll().where('id', '=', domain.id).executeTakeFirst()) ?? { ...domain, verification_token: token };
}

export async function insertDkimKeys(db: Kysely<Database>, rows: readonly DkimKeyTable[]): Promise<void> {
  if (rows.length) await db.insertInto('dkim_keys').values([...rows]).execute();
}

/** A domain's keys that are not retired, oldest first (RSA before Ed25519 of the same time). */
export async function listDkimKeys(db: Kysely<Database>, domainId: string, options: { includeRetired?: boolean } = {}): Promise<DkimKeyTable[]> {
  let q = db.selectFrom('dkim_keys').selectAll().where('domain_id', '=', domainId);
  if (!options.includeRetired) q = q.where('status', '!=', 'retired');
  return q.orderBy('created_at').orderBy('algorithm', 'desc').orderBy('selector').execute();
}

/** The keys (not retired) of several domains, by domain id: one query for a page of domains. */
export async function listDkimKeysFor(db: Kysely<Database>, domainIds: readonly string[]): Promise<Map<string, DkimKeyTable[]>> {
  const out = new Map<string, DkimKeyTable[]>(domainIds.map((id) => [id, []]));
  if (domainIds.length === 0) return out;
  const rows = await db.selectFrom('dkim_keys').selectAll().where('domain_id', 'in', [...domainIds]).where('status', '!=', 'retired')
    .orderBy('created_at').orderBy('algorithm', 'desc').orderBy('selector').execute();
  for (const row of rows) out.get(row.domain_id)?.push(row);
  return out;
}

/** Every selector a domain has used, retired ones included (a selector is never reused). */
export async function listDkimSelectors(db: Kysely<Database>, domainId: string): Promise<string[]> {
  return (await db.selectFrom('dkim_keys').select('selector').where('domain_id', '=', domainId).execute()).map((r) => r.selector);
}

/** The active keys of the domain named `name` (the delivery signer). */
export async function listActiveDkimKeys(db: Kysely<Database>, name: string): Promise<Array<DkimKeyTable & { domain_name: string }>> {
  return db.selectFrom('dkim_keys').innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
    .selectAll('dkim_keys').select('domains.name as domain_name')
    .where('domains.name', '=', name).where('dkim_keys.status', '=', 'active')
    .orderBy('dkim_keys.created_at').execute();
}

/**
 * Moves a key from `from` to `to`, with the times given; false when it was no longer in
 * `from` (another check or a rotation got there first).
 */
export async function moveDkimKey(db: Kysely<Database>, id: string, from: DkimKeyStatus, to: DkimKeyStatus, times: { activatedAt?: number; retireAt?: number | null } = {}): Promise<boolean> {
  const set: Partial<DkimKeyTable> = { status: to };
  if (times.activatedAt !== undefined) set.activated_at = times.activatedAt;
  if (times.retireAt !== undefined) set.retire_at = times.retireAt;
  const r = await db.updateTable('dkim_keys').set(set).where('id', '=', id).where('status', '=', from).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
