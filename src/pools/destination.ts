// The destination a delivery is paced against: the recipient domain, or the mailbox provider
// that hosts it, found by the suffix of its MX host names, so that every Google-hosted domain
// shares one budget with gmail.com. Each destination has limits that apply per source IP.

export interface ThrottleLimits {
  /** Simultaneous connections from one source IP. */
  readonly maxConnections: number;
  readonly maxMessagesPerConnection: number;
  /** Messages (transactions) per minute and per hour from one source IP; 0: no limit. */
  readonly perMinute: number;
  readonly perHour: number;
}

export interface Destination {
  /** `domain` for a plain domain, `provider:<name>` for a provider, `relay:<host>` for the relayhost. */
  readonly key: string;
  readonly provider: string | null;
  readonly limits: ThrottleLimits;
}

export interface ProviderRule {
  readonly name: string;
  /** An MX host equal to a suffix, or ending with `.` + suffix, belongs to the provider. */
  readonly mxSuffixes: readonly string[];
  readonly limits: Partial<ThrottleLimits>;
}

/**
 * Built-in providers (replaced as a whole by `throttling.providers`). Starting points that
 * stay well under what these providers accept from a warm IP; docs/configuration.md lists them.
 */
export const DEFAULT_PROVIDERS: readonly ProviderRule[] = Object.freeze([
  { name: 'google', mxSuffixes: ['google.com', 'googlemail.com'], limits: { maxConnections: 10, maxMessagesPerConnection: 50, perMinute: 600, perHour: 0 } },
  { name: 'microsoft', mxSuffixes: ['outlook.com', 'protection.outlook.com', 'hotmail.com'], limits: { maxConnections: 5, maxMessagesPerConnection: 20, perMinute: 300, perHour: 0 } },
  { name: 'yahoo', mxSuffixes: ['yahoodns.net'], limits: { maxConnections: 5, maxMessagesPerConnection: 20, perMinute: 300, perHour: 0 } },
]);

export interface DestinationRulesOptions {
  /** For destinations nothing else matches, and for fields a rule leaves out. */
  readonly defaults: ThrottleLimits;
  readonly providers: readonly ProviderRule[];
  /** Per recipient domain (lower case); beats a provider. */
  readonly domains: Readonly<Record<string, Partial<ThrottleLimits>>>;
}

/** Maps a recipient domain and its MX hosts to the destination it is paced against. */
export class DestinationRules {
  readonly #defaults: ThrottleLimits;
  readonly #providers: ReadonlyArray<{ name: string; suffixes: string[]; limits: ThrottleLimits }>;
  readonly #domains: ReadonlyMap<string, ThrottleLimits>;

  constructor(options: DestinationRulesOptions) {
    this.#defaults = Object.freeze({ ...options.defaults });
    this.#providers = options.providers.map((p) => ({
      name: p.name,
      suffixes: p.mxSuffixes.map((s) => normalize(s)),
      limits: merge(this.#defaults, p.limits),
    }));
    this.#domains = new Map(Object.entries(options.domains).map(([domain, limits]) => [normalize(domain), merge(this.#defaults, limits)]));
  }

  /** `mxHosts` in preference order; the first that belongs to a provider decides. */
  resolve(domain: string, mxHosts: readonly string[]): Destination {
    const name = normalize(domain);
    const own = this.#domains.get(name);
    if (own) return { key: name, provider: null, limits: own };
    for (const host of mxHosts) {
      const mx = normalize(host);
      for (const p of this.#providers) {
        if (p.suffixes.some((s) => mx === s || mx.endsWith(`.${s}`))) return { key: `provider:${p.name}`, provider: p.name, limits: p.limits };
      }
    }
    return { key: name, provider: null, limits: this.#defaults };
  }

  /** Everything goes to the relayhost: one destination. */
  relay(relayhost: string): Destination {
    return { key: `relay:${relayhost}`, provider: null, limits: this.#defaults };
  }
}

function normalize(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

function merge(base: ThrottleLimits, patch: Partial<ThrottleLimits>): ThrottleLimits {
  const out = { ...base };
  for (const [k, v] of Object.entries(patch) as Array<[keyof ThrottleLimits, number | null | undefined]>) if (v !== undefined && v !== null) out[k] = v;
  return Object.freeze(out);
}
