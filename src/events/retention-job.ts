// Retention: events (and webhook delivery logs) older than `retention.events_days`, and the
// bytes of finished messages older than `retention.bodies_days`, are deleted by a job in the
// main thread, hourly. Hourly event counts (statistics) are kept until their tenant goes. It deletes in small chunks, each its own short transaction, so
// ingress and the API never wait long for the write lock; 0 days keeps things forever.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { periodicJob } from '../jobs/periodic-job.ts';
import { clearBodiesBefore, deleteDeliveriesBefore, deleteEventsBefore, deleteOrphanEventCounts, purgeExpiredSuppressions, type Store } from '../store/index.ts';
import { ClusterLease } from '../jobs/cluster-lease.ts';

const DAY_MS = 86_400_000;
const CHUNK = 1000;
/** Upper bound of chunks per kind and run, so one run ends; the next run continues. */
const MAX_CHUNKS = 500;

export interface RetentionOptions {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
  /** Time between runs (default one hour); the first run is a minute after start. */
  readonly intervalMs?: number;
  readonly firstRunDelayMs?: number;
  readonly now?: () => number;
  /** This node's id (lease owner): with several nodes on one database the job runs on one of them at a time. */
  readonly leaseOwner?: string;
}

export interface RetentionResult {
  readonly events: number;
  readonly deliveries: number;
  readonly bodies: number;
  /** Suppression list entries whose expiry passed. */
  readonly suppressions: number;
}

export interface RetentionJob {
  start(): void;
  /** One full run; resolves with what it deleted. */
  runOnce(): Promise<RetentionResult>;
  stop(): Promise<void>;
}

export function createRetentionJob(options: RetentionOptions): RetentionJob {
  const { store, config } = options;
  const log = options.log.child({ stage: 'retention' });
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? 3_600_000;
  let stopped = false;

  async function chunks(work: () => Promise<number>): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_CHUNKS && !stopped; i++) {
      const n = await work();
      total += n;
      if (n < CHUNK) break;
    }
    return total;
  }

  async function run(): Promise<RetentionResult> {
    const t = now();
    let events = 0;
    let deliveries = 0;
    let bodies = 0;
    if (config.retention.events_days > 0) {
      const cutoff = t - config.retention.events_days * DAY_MS;
      events = await chunks(() => store.write((trx) => deleteEventsBefore(trx, cutoff, CHUNK), { durable: false }));
      deliveries = await chunks(() => store.write((trx) => deleteDeliveriesBefore(trx, cutoff, CHUNK), { durable: false }));
    }
    if (config.retention.bodies_days > 0) {
      const cutoff = t - config.retention.bodies_days * DAY_MS;
      bodies = await chunks(async () => {
        const { cleared, paths } = await store.write((trx) => clearBodiesBefore(trx, cutoff, CHUNK));
        // After the commit: a crash in between leaves an orphan file, which start-up sweeps.
        for (const p of paths) await store.spool.remove(p);
        return cleared;
      });
    }
    // Expired suppressions no longer count anywhere; removing them keeps the list what users see.
    const suppressions = await chunks(() => store.write((trx) => purgeExpiredSuppressions(trx, t, CHUNK), { durable: false }));
    // Statistics outlive events, but not their tenant.
    await store.write((trx) => deleteOrphanEventCounts(trx), { durable: false });
    if (events || deliveries || bodies || suppressions) log.info({ events, deliveries, bodies, suppressions }, 'retention removed old data');
    return { events, deliveries, bodies, suppressions };
  }

  const lease = options.leaseOwner ? new ClusterLease({ store, name: 'retention', owner: options.leaseOwner, ttlMs: intervalMs + 60_000, log }) : undefined;
  const job = periodicJob({ name: 'retention', intervalMs, firstRunDelayMs: options.firstRunDelayMs ?? 60_000, log, run, lease });
  return {
    start: () => job.start(),
    runOnce: () => job.runOnce(),
    async stop() {
      stopped = true;
      await job.stop();
    },
  };
}
