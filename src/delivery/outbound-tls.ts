// The outbound TLS policy from configuration (`tls_policy`): the extra CAs trusted when a
// certificate is verified, and the MTA-STS policy cache with its store, built once per
// delivery thread.
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/index.ts';
import { getMtaStsPolicy, putMtaStsPolicy, type Store } from '../store/index.ts';
import type { DnsResolver } from './dns-resolver.ts';
import { MtaStsPolicies, type MtaStsPolicy } from './mta-sts.ts';

/** The certificates of `tls_policy.ca_file` (PEM, one or more); undefined when unset. */
export async function tlsCaOf(config: Readonly<Config>): Promise<string[] | undefined> {
  const file = config.tls_policy.ca_file;
  if (!file) return undefined;
  const text = await readFile(file, 'utf8');
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certs.length === 0) throw Object.assign(new Error(`tls_policy.ca_file ${file} holds no PEM certificate`), { code: 'TLS_POLICY_CA_INVALID' });
  return certs;
}

/** MTA-STS lookups for recipient domains, or undefined when `tls_policy.mta_sts` is off. */
export async function mtaStsFor(config: Readonly<Config>, resolver: DnsResolver, store: Store | null): Promise<MtaStsPolicies | undefined> {
  if (!config.tls_policy.mta_sts) return undefined;
  return new MtaStsPolicies({
    resolver,
    port: config.tls_policy.mta_sts_port,
    ca: (await tlsCaOf(config)) ?? null,
    timeoutMs: config.tls_policy.mta_sts_timeout,
    store: store ? {
      async get(domain) {
        const row = await getMtaStsPolicy(store.db, domain);
        return row ? { id: row.policy_id, mode: row.mode, mx: JSON.parse(row.mx) as string[], maxAge: row.max_age, fetchedAt: row.fetched_at, expiresAt: row.expires_at } : null;
      },
      async put(domain, p: MtaStsPolicy) {
        await store.write((trx) => putMtaStsPolicy(trx, {
          domain, policy_id: p.id, mode: p.mode, mx: JSON.stringify(p.mx), max_age: p.maxAge, fetched_at: p.fetchedAt, expires_at: p.expiresAt,
        }), { durable: false });
      },
    } : undefined,
  });
}
