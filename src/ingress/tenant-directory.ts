// What ingress asks of tenancy on every session: who a credential belongs to, which
// domains a tenant may send from, which domains the MX side hosts. Answers are cached
// for a few seconds: a new domain or a revoked credential takes effect within `ttlMs`.
import type { Store } from '../store/index.ts';
import { findCredential, findTenant, listDomains } from '../store/index.ts';
import { sendingDomainSets, type SendingDomainSets } from '../domains/index.ts';

export interface TenantRef {
  readonly id: string;
  readonly name: string;
  readonly sandbox: boolean;
}

interface Cached<T> {
  value: T;
  at: number;
}

export class TenantDirectory {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #requireVerified: boolean;
  readonly #domains = new Map<string, Cached<SendingDomainSets>>();
  readonly #tenants = new Map<string, Cached<TenantRef | undefined>>();

  /** `requireVerified` (domains.require_verified, default true): only verified domains may send. */
  constructor(store: Store, options: { ttlMs?: number; requireVerified?: boolean } = {}) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#requireVerified = options.requireVerified ?? true;
  }

  async credential(username: string) {
    const cred = await findCredential(this.#store.db, username);
    if (!cred) return undefined;
    const tenant = await this.tenant(cred.tenant_id);
    return tenant ? { credential: cred, tenant } : undefined;
  }

  async tenant(idOrName: string): Promise<TenantRef | undefined> {
    const hit = this.#tenants.get(idOrName);
    if (hit && Date.now() - hit.at < this.#ttlMs) return hit.value;
    const row = await findTenant(this.#store.db, idOrName);
    const value = row ? { id: row.id, name: row.name, sandbox: row.sandbox === 1 } : undefined;
    this.#tenants.set(idOrName, { value, at: Date.now() });
    return value;
  }

  async #domainSets(tenantId: string): Promise<SendingDomainSets> {
    let hit = this.#domains.get(tenantId);
    if (!hit || Date.now() - hit.at >= this.#ttlMs) {
      const rows = await listDomains(this.#store.db, tenantId);
      const sandbox = this.#requireVerified && (await this.tenant(tenantId))?.sandbox === true;
      hit = { value: sendingDomainSets(rows, { requireVerified: this.#requireVerified, sandbox }), at: Date.now() };
      this.#domains.set(tenantId, hit);
    }
    return hit.value;
  }

  /** The tenant's sending domains it may send from now (verified ones, unless verification is not required). */
  async domainsOf(tenantId: string): Promise<ReadonlySet<string>> {
    return (await this.#domainSets(tenantId)).usable;
  }

  /** True when `domain` belongs to a domain the tenant added but has not verified yet. */
  async pendingDomain(tenantId: string, domain: string): Promise<boolean> {
    return domainInSet((await this.#domainSets(tenantId)).pending, domain);
  }

  /** True when `domain` is one of the tenant's sending domains or a subdomain of one. */
  async ownsDomain(tenantId: string, domain: string): Promise<boolean> {
    return domainInSet(await this.domainsOf(tenantId), domain);
  }
}

export function domainInSet(domains: ReadonlySet<string>, domain: string): boolean {
  for (let d = domain.toLowerCase(); d.includes('.'); d = d.slice(d.indexOf('.') + 1)) {
    if (domains.has(d)) return true;
  }
  return false;
}
