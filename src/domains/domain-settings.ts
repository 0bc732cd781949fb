// The `domains:` configuration with the defaults that depend on `hostname` filled in, and
// SPF IPs as mechanisms: what record suggestions, key generation and checks read.
import { isIP } from 'node:net';
import type { Config } from '../config/index.ts';

export interface DomainSettings {
  readonly requireVerified: boolean;
  readonly dkimEd25519: boolean;
  readonly dkimRsaBits: 1024 | 2048 | 3072 | 4096;
  /** The include: target of the suggested SPF record (no trailing dot). */
  readonly spfInclude: string;
  /** `ip4:…`/`ip6:…` mechanisms; when non-empty they replace the include. */
  readonly spfIps: readonly string[];
  readonly returnPathPrefix: string;
  /** What the return-path CNAME points to (no trailing dot). */
  readonly returnPathTarget: string;
  readonly dmarcRua: string;
  readonly rotationOverlapMs: number;
  readonly recheckIntervalMs: number;
}

type DomainConfig = Pick<Config, 'hostname' | 'domains'>;

function bareName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** `1.2.3.4` → `ip4:1.2.3.4`; `ip6:2001:db8::/32` stays (RFC 7208 §5.6, mechanism names in lower case). */
export function spfIpMechanism(value: string): string {
  const trimmed = value.trim();
  const bare = trimmed.replace(/^ip[46]:/i, '');
  const address = bare.split('/')[0];
  return `ip${isIP(address) === 6 ? 6 : 4}:${bare.toLowerCase()}`;
}

export function domainSettingsOf(config: Readonly<DomainConfig>): DomainSettings {
  const d = config.domains;
  const host = bareName(config.hostname);
  return Object.freeze({
    requireVerified: d.require_verified,
    dkimEd25519: d.dkim_ed25519,
    dkimRsaBits: d.dkim_rsa_bits,
    spfInclude: bareName(d.spf_include ?? `_spf.${host}`),
    spfIps: Object.freeze(d.spf_ips.map(spfIpMechanism)),
    returnPathPrefix: d.return_path_prefix.toLowerCase(),
    returnPathTarget: bareName(d.return_path_target ?? host),
    dmarcRua: d.dmarc_rua ?? `mailto:dmarc-reports@${host}`,
    rotationOverlapMs: d.dkim_rotation_overlap,
    recheckIntervalMs: d.recheck_interval,
  });
}
