// The periodic re-check: every domains.recheck_interval, every domain's records are looked
// up again (verify-domain.ts), so that a DKIM record that disappears raises domain.dns_error,
// a domain whose records appear becomes verified without anyone asking, and rotations and
// retirements move on. Runs in the main thread; a few domains at a time, each check in its
// own short transaction. One run at a time: a run longer than the interval delays the next.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { listAllDomainsPage, type Store } from '../store/index.ts';
import { domainContextOf, type DomainContext } from './domain-service.ts';
import { verifyDomain } from './verify-domain.ts';
import { periodicJob } from '../jobs/periodic-job.ts';
import { ClusterLease } from '../jobs/cluster-lease.ts';

const PAGE = 100;
/** Domains checked at once: each check is a handful of DNS queries. */
const CONCURRENCY = 4;

export interface DomainRecheckOptions {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
  /** Default domains.recheck_interval; 0 disables the job. */
  readonly intervalMs?: number;
  /** This node's id (lease owner): with several nodes on one database the job runs on one of them at a time. */
  readonly leaseOwner?: string;
  /** Delay of the first run after start; default the interval, at most one minute. */
  readonly firstRunDelayMs?: number;
  /** Built from config when absent (tests pass their own resolver or clock). */
  readonly context?: DomainContext;
}

export interface RecheckResult {
  readonly checked: number;
  readonly failed: number;
}

/** Checks every domain once. */
export async function recheckAllDomains(ctx: DomainContext, signal?: AbortSignal): Promise<RecheckResult> {
  let checked = 0;
  let failed = 0;
  let afterId: string | undefined;
  for (;;) {
    const page = await listAllDomainsPage(ctx.store.db, { afterId, limit: PAGE });
    for (let i = 0; i < page.length && !signal?.aborted; i += CONCURRENCY) {
      await Promise.all(page.slice(i, i + CONCURRENCY).map(async (domain) => {
        try {
          await verifyDomain(ctx, domain, { actor: null });
          checked++;
        } catch (err) {
          failed++;
          ctx.log?.error({ err, domain: domain.name }, 'domain re-check failed');
        }
      }));
    }
    if (page.length < PAGE || signal?.aborted) break;
    afterId = page[page.length - 1].id;
  }
  return { checked, failed };
}

/**
 * Starts the re-check timer; returns the function that stops it (and waits for a run in
 * progress). With an interval of 0 nothing starts. server.ts:
 *
 *   const stopDomainRecheck = startDomainRecheck({ config, store, log });
 *   …on shutdown: await stopDomainRecheck();
 */
export function startDomainRecheck(options: DomainRecheckOptions): () => Promise<void> {
  const intervalMs = options.intervalMs ?? options.config.domains.recheck_interval;
  if (!(intervalMs > 0)) return async () => {};
  const log = options.log.child({ stage: 'domains' });
  let context: Promise<DomainContext> | null = null;
  const lease = options.leaseOwner ? new ClusterLease({ store: options.store, name: 'domain-recheck', owner: options.leaseOwner, ttlMs: intervalMs + 60_000, log }) : undefined;
  const job = periodicJob({
    name: 'domain re-check',
    intervalMs,
    lease,
    firstRunDelayMs: options.firstRunDelayMs ?? Math.min(intervalMs, 60_000),
    log,
    onError: () => {
      context = null;
    },
    run: async (signal) => {
      context ??= options.context ? Promise.resolve(options.context) : domainContextOf(options.config, options.store, log);
      const ctx = await context;
      const started = Date.now();
      const result = await recheckAllDomains({ ...ctx, log: ctx.log ?? log }, signal);
      log.debug({ ...result, ms: Date.now() - started }, 'domain re-check done');
    },
  });
  job.start();
  return () => job.stop();
}
