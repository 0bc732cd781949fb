// A store, a tenant, the test DNS server and a DomainContext on a controllable clock, for the
// tests of src/domains/. `publish()` puts a domain's records into the test DNS as a tenant would.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { createTenant, type Store } from '../../src/store/index.ts';
import { DnsResolver } from '../../src/delivery/dns-resolver.ts';
import { domainSettingsOf, type DomainContext, type DomainView } from '../../src/domains/index.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { openTestStore } from '../helpers/backend.ts';

export interface DomainFixture {
  readonly store: Store;
  readonly dns: TestDnsServer;
  readonly tenantId: string;
  readonly ctx: DomainContext;
  /** Milliseconds; tests move it forward. */
  clock: number;
  /** A context with other settings (env as POSTLINE_* / config overrides), same store, DNS and clock. */
  withConfig(overrides: Record<string, unknown>): DomainContext;
  /** Publishes every record of the view (or those `only` accepts) in the test DNS. */
  publish(view: DomainView, only?: (r: DomainView['records'][number]) => boolean): void;
  close(): Promise<void>;
}

export async function startDomainFixture(overrides: Record<string, unknown> = {}): Promise<DomainFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'postline-domains-'));
  const store = await openTestStore({ dataDir: dir });
  const dns = await startDnsServer();
  const tenant = await createTenant(store.db, `t${process.pid}`);
  const resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 500, maxCacheTtlMs: 0, tries: 1 });
  const secretKey = randomBytes(32);
  const fixture: DomainFixture = {
    store, dns, tenantId: tenant.id, clock: Date.parse('2026-11-27T12:00:00Z'),
    ctx: undefined as unknown as DomainContext,
    withConfig(more) {
      const config = loadConfig({ env: { POSTLINE_HOSTNAME: 'mta.postline.test', POSTLINE_DATA_DIR: dir }, overrides: { ...overrides, ...more } });
      return { store, settings: domainSettingsOf(config), secretKey, resolver, now: () => fixture.clock };
    },
    publish(view, only = () => true) {
      for (const r of view.records.filter(only)) dns.addRecord(r.name, { type: r.type, value: r.value });
    },
    async close() {
      await dns.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  (fixture as { ctx: DomainContext }).ctx = fixture.withConfig({});
  return fixture;
}
