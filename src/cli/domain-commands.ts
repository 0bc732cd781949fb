// `postline domain add|list|show|check|rotate`: sending domains, the DNS records to publish,
// their verification and DKIM key rotation (src/domains/). --json prints the API's Domain
// object; private keys are never printed.
import type { Command } from 'commander';
import { findDomainByName, findTenant, listDkimKeys, listDomains, StoreError, type DomainTable, type Store } from '../store/index.ts';
import { createDomain, domainContextOf, domainView, rotateDkim, verifyDomain, type DomainContext, type DomainRecordView, type DomainView } from '../domains/index.ts';
import { normaliseDomain } from '../smtp/index.ts';
import { configFrom, output, type GlobalOptions } from './main.ts';
import { withStore } from './open-cli-store.ts';

async function tenantOrFail(store: Store, name: string) {
  const tenant = await findTenant(store.db, name);
  if (!tenant) throw new StoreError('TENANT_NOT_FOUND', `no tenant named "${name}" (create it with: postline tenant create ${name})`);
  return tenant;
}

async function domainOrFail(store: Store, name: string): Promise<DomainTable> {
  const d = await findDomainByName(store.db, normaliseDomain(name) || name.toLowerCase());
  if (!d) throw new StoreError('DOMAIN_NOT_FOUND', `no sending domain "${name}" (add it with: postline domain add --tenant NAME ${name})`);
  return d;
}

/** Left-aligned columns; the last column is never padded (long values wrap in the terminal). */
function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (i < header.length - 1 ? r[i].length : 0))));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]) : c)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Long values (DKIM keys) shortened for a status table; `domain add` and --json give them whole. */
function short(value: string, max = 100): string {
  return value.length <= max ? value : `${value.slice(0, 40)}…${value.slice(-16)}`;
}

function recordsToPublish(view: DomainView): string {
  const rows = view.records.map((r) => [r.name, r.type, r.purpose, r.status, r.value]);
  return `${table(['NAME', 'TYPE', 'PURPOSE', 'STATUS', 'VALUE'], rows)}\n\nPublish these records, then run: postline domain check ${view.name}`;
}

function checkTable(view: DomainView, temporary: ReadonlyArray<{ name: string; reason: string }> = []): string {
  const expected = (r: DomainRecordView) => r.expected ?? r.value;
  const rows = view.records.map((r) => [r.name, r.type, r.purpose, r.status, short(expected(r)), (r.found ?? []).map((f) => short(f)).join(' | ') || '-']);
  const notes = view.records.filter((r) => r.warning).map((r) => `${r.purpose} ${r.name}: ${r.warning}`);
  for (const t of temporary) notes.push(`${t.name}: lookup failed (${t.reason}); the last known status is shown`);
  const summary = view.verified
    ? `${view.name} is verified${view.return_path_ok ? '' : ' (the return-path CNAME is not in place: bounces use the default return path)'}`
    : `${view.name} is not verified: the ownership record and the active DKIM record(s) must be ok`;
  return [table(['NAME', 'TYPE', 'PURPOSE', 'STATUS', 'EXPECTED', 'FOUND'], rows), ...(notes.length ? ['', ...notes] : []), '', summary].join('\n');
}

async function withDomains<T>(opts: GlobalOptions, fn: (ctx: DomainContext) => Promise<T>): Promise<T> {
  const config = configFrom(opts);
  return withStore(opts, async (store) => fn(await domainContextOf(config, store)));
}

export function registerDomainCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
  const domain = program.command('domain').description('sending domains: DNS records, verification, DKIM keys');
  domain.command('add <domain>')
    .description('add a sending domain for a tenant (it may then send from DOMAIN and its subdomains once verified); prints the DNS records to publish')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .action(async (name: string, o: { tenant: string }) => withDomains(g(), async (ctx) => {
      const t = await tenantOrFail(ctx.store, o.tenant);
      const { domain: d } = await createDomain(ctx, t.id, name);
      const view = domainView(d, await listDkimKeys(ctx.store.db, d.id), ctx.settings);
      output(g(), view, recordsToPublish(view));
    }));
  domain.command('list')
    .description('list sending domains')
    .option('--tenant <name>', 'only this tenant\'s')
    .action(async (o: { tenant?: string }) => withStore(g(), async (store) => {
      const t = o.tenant ? await tenantOrFail(store, o.tenant) : undefined;
      const rows = await listDomains(store.db, t?.id);
      output(g(), rows.map((d) => ({ id: d.id, name: d.name, tenant_id: d.tenant_id, verified: d.verified === 1 })),
        rows.map((d) => `${d.name}  ${d.verified === 1 ? 'verified' : 'not verified'}  (${d.tenant_id})`).join('\n') || '(no domains)');
    }));
  domain.command('show <domain>')
    .description('the records of a domain with their last known status (no DNS lookups)')
    .action(async (name: string) => withDomains(g(), async (ctx) => {
      const d = await domainOrFail(ctx.store, name);
      const view = domainView(d, await listDkimKeys(ctx.store.db, d.id), ctx.settings);
      output(g(), view, checkTable(view));
    }));
  domain.command('check <domain>')
    .description('look every record of DOMAIN up in DNS now and print NAME TYPE PURPOSE STATUS EXPECTED FOUND; exit status 0 when verified, 1 otherwise')
    .action(async (name: string) => withDomains(g(), async (ctx) => {
      const d = await domainOrFail(ctx.store, name);
      const result = await verifyDomain(ctx, d);
      const view = domainView(result.domain, result.keys, ctx.settings);
      output(g(), view, checkTable(view, result.temporary));
      if (!view.verified) process.exitCode = 1;
    }));
  domain.command('rotate <domain>')
    .description('start a DKIM key rotation: new selector(s) to publish; they sign once `domain check` finds them, and the old ones stay published for domains.dkim_rotation_overlap')
    .action(async (name: string) => withDomains(g(), async (ctx) => {
      const d = await domainOrFail(ctx.store, name);
      const fresh = await rotateDkim(ctx, d);
      const view = domainView(d, await listDkimKeys(ctx.store.db, d.id), ctx.settings);
      const added = view.records.filter((r) => r.selector && fresh.some((k) => k.selector === r.selector));
      output(g(), view, `${table(['NAME', 'TYPE', 'PURPOSE', 'STATUS', 'VALUE'], added.map((r) => [r.name, r.type, r.purpose, r.status, r.value]))}\n\n`
        + `Publish these records, keep the current ones, then run: postline domain check ${d.name}`);
    }));
}
