// `postline doctor`: checks what the configuration cannot check by itself. For every address
// of every IP pool (configured and stored): that this host can bind it, and that its PTR
// record names the pool hostname it greets with and that name resolves back to the address
// (forward-confirmed reverse DNS): receivers check both, and a mismatch costs reputation
// (RFC 5321 §4.1.4 lets them look; Gmail and Microsoft require it). Warnings only; the exit
// status is 0 unless the checks could not run.
import type { Command } from 'commander';
import { DnsResolver } from '../delivery/dns-resolver.ts';
import { checkAddress, loadPools, type AddressCheck } from '../pools/index.ts';
import { configFrom, output, type GlobalOptions } from './main.ts';
import { withStore } from './open-cli-store.ts';

export function registerDoctorCommand(program: Command): void {
  program.command('doctor')
    .description('check the IP pools: each address bindable here, its PTR naming the pool hostname, and that name resolving back')
    .action(async () => {
      const g = program.opts<GlobalOptions>();
      const config = configFrom(g);
      const resolver = new DnsResolver({ servers: [...config.dns.servers], timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl });
      const pools = await withStore(g, (store) => loadPools(store.db, config));
      const checks: AddressCheck[] = [];
      for (const pool of pools) for (const m of pool.members) checks.push(await checkAddress(resolver, pool.name, m.address, m.hostname));
      const warnings = checks.flatMap((c) => c.warnings.map((w) => `pool ${c.pool}: ${w}`));
      if (config.ip_pools.default_pool && !pools.some((p) => p.name === config.ip_pools.default_pool)) {
        warnings.push(`ip_pools.default_pool names "${config.ip_pools.default_pool}", which does not exist`);
      }
      const lines = checks.length === 0
        ? ['no IP pools: mail leaves from the host\'s default address, greeting as hostname']
        : checks.map((c) => `${c.warnings.length ? 'warn' : 'ok  '} ${c.pool} ${c.address} ${c.hostname}${c.ptr.length ? ` (PTR ${c.ptr.join(', ')})` : ''}`);
      output(g, { checks, warnings }, [...lines, ...warnings.map((w) => `warning: ${w}`)].join('\n'));
    });
}
