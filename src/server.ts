// Wires the stages together for one process: store → ingress → queue/delivery, plus the
// HTTP listener. Everything is created here and nowhere else (factories, no singletons).
import { writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config/index.ts';
import { parseListen } from './config/index.ts';
import { openStore, releaseLeases, storeOptionsOf, WriteLock, type Store } from './store/index.ts';
import { createApiApp } from './api/index.ts';
import { createIngress, type Ingress } from './ingress/index.ts';
import { CpuPressure, watchCpuPressure } from './concurrency/cpu-pressure.ts';
import { startDeliveryWorker } from './queue/index.ts';
import { createRetentionJob, createWebhookDispatcher } from './events/index.ts';
import { createLogger as createBaseLogger } from './log/create-logger.ts';
import { loadTlsMaterial, reloadTlsMaterial } from './tls/tls-material.ts';
import { randomSecret } from './security/password-hash.ts';
import { secretKeyOf } from './security/index.ts';
import { DnsResolver } from './delivery/dns-resolver.ts';
import { mailauthResolver } from './bounces/index.ts';
import { VerpCodec } from './feedback/verp.ts';
import { startDomainRecheck } from './domains/index.ts';
import type { InboundFeedback } from './feedback/inbound-feedback.ts';
import { newLeaseOwner, nodeIdOf } from './queue/lease-owner.ts';

export interface RunningServer {
  readonly listening: Record<string, string>;
  readonly dataDir: string;
  readonly adminTokenFile: string | null;
  readonly store: Store;
  /**
   * Graceful shutdown: listeners stop accepting at once, open SMTP transactions get `graceMs`
   * (default `shutdown_timeout`) to finish, then delivery stops and this run's leases are
   * released before the store closes.
   */
  stop(graceMs?: number): Promise<void>;
  /** SIGHUP: reads the TLS certificate and key again; new handshakes use them (TLS_RELOAD_FAILED keeps the old). */
  reloadTls(): Promise<void>;
  /**
   * SIGHUP: applies what can change live (ingress.LIVE_SMTP_SETTINGS, feedback.fbl_addresses)
   * from a freshly loaded configuration, and names the other changes that need a restart.
   */
  reloadConfig(next: Readonly<Config>): { applied: string[]; needRestart: string[] };
}

export function createLogger(config: Readonly<Config>): Logger {
  return createBaseLogger(config.log.level);
}

/** The admin token: configured, or generated once into <data_dir>/admin-token (0600). */
async function ensureAdminToken(config: Readonly<Config>, dataDir: string): Promise<{ file: string | null; token: string | null }> {
  if (config.admin_token) return { file: null, token: config.admin_token };
  const file = join(dataDir, 'admin-token');
  if (!existsSync(file)) await writeFile(file, `${randomSecret(32)}\n`, { mode: 0o600, flag: 'wx' }).catch(() => undefined);
  const token = (await readFile(file, 'utf8')).trim();
  return { file, token: token || null };
}

/** Dotted keys whose values differ between two configurations (leaves and arrays compared whole). */
function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(a) || !isObject(b)) return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].flatMap((k) => changedKeys(a[k], b[k], prefix ? `${prefix}.${k}` : k));
}

/** The MX side's bounce, complaint and Authentication-Results settings (feedback/). */
async function inboundFeedbackOf(config: Readonly<Config>): Promise<InboundFeedback> {
  const secretKey = await secretKeyOf(config);
  const resolver = new DnsResolver({ servers: [...config.dns.servers], timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl });
  return {
    verp: config.feedback.verp ? new VerpCodec(secretKey, config.domains.return_path_prefix) : null,
    fblAddresses: new Set(config.feedback.fbl_addresses.map((a) => a.toLowerCase())),
    autoSuppress: { softBounceLimit: config.feedback.soft_bounce_limit, softBounceWindowMs: config.feedback.soft_bounce_window },
    authResults: config.feedback.authentication_results ? { resolver: mailauthResolver(resolver), timeoutMs: 10_000 } : null,
  };
}

export async function startServer(startConfig: Readonly<Config>, log: Logger = createLogger(startConfig)): Promise<RunningServer> {
  const roles = new Set(startConfig.roles);
  // A role left out turns its parts off (issue 7): no dashboard without `web`, no campaign
  // expansion without `worker` (the nodes with it expand; a node without only serves the API).
  const config: Readonly<Config> = {
    ...startConfig,
    web: { ...startConfig.web, enabled: startConfig.web.enabled && roles.has('web') },
    campaigns: { ...startConfig.campaigns, runner: startConfig.campaigns.runner && roles.has('worker') },
  };
  const dataDir = resolve(config.data_dir);
  const writeLock = new WriteLock();
  // The delivery thread checkpoints the WAL in the background; this thread's commits never do (open-store.ts).
  const store = await openStore({ ...storeOptionsOf(config), dataDir, writeLock, checkpoints: 'none', applicationName: 'postline' });
  const { file: adminTokenFile, token: adminToken } = await ensureAdminToken(config, dataDir);
  const orphans = await store.sweepSpool();
  if (orphans) log.info({ removed: orphans }, 'removed spool files of messages never accepted');
  const tls = await loadTlsMaterial({ dataDir, hostname: config.hostname, cert: config.tls.cert, key: config.tls.key });
  if (store.dialect === 'sqlite' && !roles.has('worker')) {
    log.warn({ roles: [...roles] }, 'no worker role on SQLite: mail accepted here is delivered only by a process with the worker role on the same database file; split roles across nodes on PostgreSQL');
  }
  const nodeId = nodeIdOf(config);
  // Delivery runs in its own thread (see queue/delivery-thread.ts); it releases the leases
  // of a previous run before ingress starts handing it new ones. Without the worker role,
  // accepted mail stays queued for the worker nodes (woken by NOTIFY on PostgreSQL).
  const owner = newLeaseOwner(nodeId);
  // Delivery gives way while this thread serves HTTP requests and waits for a CPU
  // (queue/delivery-pacing.ts): an application waits for its 202 inside its own request. SMTP
  // clients queue and retry, and measured, holding delivery back for them cost the relay bench
  // a third of its end-to-end rate (1,222 → 810–920 relayed/s) for faster 250s alone.
  let httpRequests = 0;
  let httpRequestsSeen = 0;
  const wanted = roles.has('worker') && roles.has('api') && config.delivery.paced_rate > 0 ? new CpuPressure() : undefined;
  const stopWatching = wanted ? watchCpuPressure(wanted, {
    demand: () => {
      const seen = httpRequests !== httpRequestsSeen;
      httpRequestsSeen = httpRequests;
      return seen;
    },
  }) : null;
  if (wanted && !stopWatching) {
    log.info({ setting: 'delivery.paced_rate' }, 'delivery pacing is off: this system has no per-thread scheduler statistics (/proc/thread-self/schedstat, Linux)');
  }
  const pressure = stopWatching ? wanted : undefined;
  const stopPressure = stopWatching ?? (() => undefined);
  const delivery = roles.has('worker') ? await startDeliveryWorker(config, { owner, log, writeLock, pressure }) : null;
  // Webhooks and retention run here in the main thread, apart from delivery: a dead or slow
  // endpoint holds webhook slots, never mail. With several nodes, each job runs on one node
  // at a time (a cluster lease) among those with the worker role.
  const webhooks = roles.has('worker') ? createWebhookDispatcher({ config, store, log, leaseOwner: nodeId }) : null;
  await webhooks?.start();
  const retention = roles.has('worker') ? createRetentionJob({ config, store, log, leaseOwner: nodeId }) : null;
  retention?.start();
  // Every domain's DNS records checked again every domains.recheck_interval (domain.dns_error when DKIM goes).
  const stopDomainRecheck = roles.has('worker') ? startDomainRecheck({ config, store, log, leaseOwner: nodeId }) : async () => undefined;
  if (!config.domains.require_verified) {
    log.warn({ setting: 'domains.require_verified' }, 'DEVELOPMENT SETTING: tenants may send from domains whose DNS records are not verified (SPF, DKIM and DMARC will fail at the receivers); never run a production instance like this');
  }
  const feedback = await inboundFeedbackOf(config);
  const ingress: Ingress | null = roles.has('smtp')
    ? createIngress({ config, store, log: log.child({ stage: 'ingress' }), tls, handoff: delivery ?? undefined, feedback })
    : null;
  const listening: Record<string, string> = ingress ? await ingress.listen() : {};
  const http = roles.has('api') ? await createApiApp({ config, store, log, adminToken, handoff: delivery }) : null;
  const httpAddr = parseListen(config.http.listen);
  if (http && httpAddr) {
    await http.listen({ host: httpAddr.host, port: httpAddr.port });
    http.server.on('request', () => httpRequests++);
    const a = http.server.address();
    if (a && typeof a === 'object') listening.http = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }
  log.info({ roles: [...roles], node_id: nodeId, database: store.dialect }, 'node started');
  let stopping: Promise<void> | null = null;
  let tlsNow = tls;
  let current = config;
  return {
    listening,
    dataDir,
    adminTokenFile,
    store,
    stop(graceMs = config.shutdown_timeout) {
      stopping ??= (async () => {
        // Intake first, both doors at once: nothing new is accepted while the rest winds down.
        // HTTP requests in progress get the same period; keep-alive sockets then go.
        const httpClosed = http ? http.close() : Promise.resolve();
        const httpBounded = new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            http?.server.closeAllConnections();
            resolve();
          }, graceMs);
          t.unref();
          void httpClosed.finally(() => {
            clearTimeout(t);
            resolve();
          });
        });
        await Promise.all([ingress?.close(graceMs), httpBounded]);
        // Attempts under way record their outcome (or are deferred); leases still held by this
        // run (work handed over but never started) are due again now rather than at expiry.
        await delivery?.stop();
        stopPressure();
        const released = await store.write((trx) => releaseLeases(trx, { owner, now: Date.now() })).catch((err: unknown) => {
          log.warn({ err }, 'could not release delivery leases; they expire on their own');
          return 0;
        });
        if (released) log.info({ released }, 'released delivery leases');
        await webhooks?.stop();
        await retention?.stop();
        await stopDomainRecheck();
        await store.close();
      })();
      return stopping;
    },
    reloadConfig(next) {
      const applied: string[] = [...(ingress?.reconfigure(next) ?? [])];
      const fbl = next.feedback.fbl_addresses.map((a) => a.toLowerCase());
      if (JSON.stringify(current.feedback.fbl_addresses) !== JSON.stringify(next.feedback.fbl_addresses)) {
        feedback.fblAddresses.clear();
        for (const a of fbl) feedback.fblAddresses.add(a);
        applied.push('feedback.fbl_addresses');
      }
      const needRestart = changedKeys(current, next).filter((k) => !applied.includes(k) && !k.startsWith('tls.'));
      current = next;
      log.info({ applied, needRestart }, needRestart.length
        ? 'configuration reloaded; the settings in needRestart take effect only after a restart'
        : 'configuration reloaded');
      return { applied, needRestart };
    },
    async reloadTls() {
      tlsNow = await reloadTlsMaterial(tlsNow);
      ingress?.reloadTls(tlsNow);
      log.info({ cert: tlsNow.certPath }, 'TLS certificate and key reloaded');
    },
  };
}
