// MTA-STS (RFC 8461): a recipient domain's published policy, discovered through the
// `_mta-sts` TXT record, fetched over HTTPS (mta-sts-fetch.ts), parsed and matched with
// mailauth's helpers, and cached for its max_age in memory and in the store, so a restart
// or a policy host that is down does not drop a policy we already know (§5.1).
import { parsePolicy, resolvePolicy, validateMx } from 'mailauth/lib/mta-sts.js';
import type { DnsResolver } from './dns-resolver.ts';
import { fetchPolicyFile, MtaStsError, MtaStsErrorCodes, type PolicyFetchOptions } from './mta-sts-fetch.ts';

export type MtaStsMode = 'enforce' | 'testing' | 'none';

export interface MtaStsPolicy {
  readonly id: string;
  readonly mode: MtaStsMode;
  /** Allowed MX patterns (`mx.example.com`, `*.example.net`). */
  readonly mx: readonly string[];
  /** Seconds (RFC 8461 §3.2 max_age). */
  readonly maxAge: number;
  readonly fetchedAt: number;
  readonly expiresAt: number;
}

export interface MtaStsLookup {
  /** null: the domain has no policy we know of (deliver opportunistically). */
  readonly policy: MtaStsPolicy | null;
  /** Why a fresh policy could not be had (the cached one, if any, still applies). */
  readonly error: string | null;
}

/** Where policies outlive a restart (src/store via delivery-thread.ts). */
export interface MtaStsPolicyStore {
  get(domain: string): Promise<MtaStsPolicy | null>;
  put(domain: string, policy: MtaStsPolicy): Promise<void>;
}

export interface MtaStsOptions extends Omit<PolicyFetchOptions, 'resolver'> {
  readonly resolver: Pick<DnsResolver, 'resolve' | 'resolve4' | 'resolve6'>;
  readonly store?: MtaStsPolicyStore;
  /** How long a lookup is reused before the TXT record is checked again (default 5 min). */
  readonly recheckMs?: number;
  readonly now?: () => number;
}

interface Entry {
  readonly lookup: MtaStsLookup;
  readonly checkedAt: number;
}

const MAX_ENTRIES = 10_000;

/** Policies of recipient domains, with caching; lookups never throw. */
export class MtaStsPolicies {
  readonly #options: MtaStsOptions;
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<MtaStsLookup>>();

  constructor(options: MtaStsOptions) {
    this.#options = options;
  }

  /** True when `mxHost` matches one of the policy's mx patterns (RFC 8461 §4.1). */
  static allows(policy: MtaStsPolicy, mxHost: string): boolean {
    return validateMx(mxHost, { id: policy.id, mode: policy.mode, mx: [...policy.mx] }).valid;
  }

  async lookup(domain: string): Promise<MtaStsLookup> {
    const name = domain.trim().toLowerCase().replace(/\.$/, '');
    const now = this.#now();
    const hit = this.#cache.get(name);
    if (hit && now - hit.checkedAt < (this.#options.recheckMs ?? 300_000) && (!hit.lookup.policy || hit.lookup.policy.expiresAt > now)) return hit.lookup;
    let pending = this.#inflight.get(name);
    if (!pending) {
      pending = this.#refresh(name, hit?.lookup.policy ?? null).finally(() => this.#inflight.delete(name));
      this.#inflight.set(name, pending);
    }
    return pending;
  }

  async #refresh(domain: string, cached: MtaStsPolicy | null): Promise<MtaStsLookup> {
    let known = cached;
    if (!known && this.#options.store) known = await this.#options.store.get(domain).catch(() => null);
    const now = this.#now();
    const valid = known && known.expiresAt > now ? known : null;
    let lookup: MtaStsLookup;
    try {
      const resolver = this.#options.resolver;
      const id = await resolvePolicy(domain, { resolver: (name: string, type: string) => resolver.resolve(name, type) as Promise<string[][]> });
      // RFC 8461 §5.1: no TXT record, but a policy not yet expired: it still applies.
      if (!id) lookup = { policy: valid, error: null };
      // §3.3: the id unchanged means the cached policy is current.
      else if (valid && valid.id === id) lookup = { policy: valid, error: null };
      else lookup = { policy: await this.#fetch(domain, id), error: null };
    } catch (err) {
      // A fetch or DNS failure: the cached policy keeps applying until it expires (§5.1).
      lookup = { policy: valid, error: (err as Error).message };
    }
    this.#remember(domain, lookup);
    return lookup;
  }

  async #fetch(domain: string, id: string): Promise<MtaStsPolicy | null> {
    const o = this.#options;
    const body = await fetchPolicyFile(domain, { resolver: o.resolver, port: o.port, ca: o.ca, timeoutMs: o.timeoutMs });
    if (!body) throw new MtaStsError(MtaStsErrorCodes.FetchFailed, `mta-sts.${domain} has no address`);
    let parsed: ReturnType<typeof parsePolicy>;
    try {
      parsed = parsePolicy(body);
    } catch (err) {
      throw new MtaStsError(MtaStsErrorCodes.BadPolicy, `policy of ${domain}: ${(err as Error).message}`, { cause: err });
    }
    const now = this.#now();
    const maxAge = parsed.maxAge ?? 0;
    const policy: MtaStsPolicy = { id, mode: parsed.mode, mx: parsed.mx ?? [], maxAge, fetchedAt: now, expiresAt: now + maxAge * 1000 };
    await o.store?.put(domain, policy).catch(() => undefined);
    return policy;
  }

  #remember(domain: string, lookup: MtaStsLookup): void {
    if (this.#cache.size >= MAX_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.delete(domain);
    this.#cache.set(domain, { lookup, checkedAt: this.#now() });
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}
