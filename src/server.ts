// Wires the stages together for one process: store → ingress → queue/delivery, plus the
// HTTP listener. Everything is created here and nowhere else (factories, no singletons).
import { writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import pino, { type Logger } from 'pino';
import Fastify from 'fastify';
import type { Config } from './config/index.ts';
import { parseListen } from './config/index.ts';
import { openStore, queueCounts, type Store } from './store/index.ts';
import { createIngress, type Ingress } from './ingress/index.ts';
import { createScheduler, type Scheduler } from './queue/index.ts';
import { ConnectionPool } from './delivery/connection-pool.ts';
import { DnsResolver } from './delivery/dns-resolver.ts';
import { loadTlsMaterial } from './tls/tls-material.ts';
import { randomSecret } from './security/password-hash.ts';

export interface RunningServer {
  readonly listening: Record<string, string>;
  readonly dataDir: string;
  readonly adminTokenFile: string | null;
  readonly store: Store;
  stop(): Promise<void>;
}

export function createLogger(config: Readonly<Config>): Logger {
  return pino({ level: config.log.level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/** The admin token: configured, or generated once into <data_dir>/admin-token (0600). */
async function ensureAdminToken(config: Readonly<Config>, dataDir: string): Promise<string | null> {
  if (config.admin_token) return null;
  const file = join(dataDir, 'admin-token');
  if (!existsSync(file)) await writeFile(file, `${randomSecret(32)}\n`, { mode: 0o600, flag: 'wx' }).catch(() => undefined);
  await readFile(file, 'utf8');
  return file;
}

export async function startServer(config: Readonly<Config>, log: Logger = createLogger(config)): Promise<RunningServer> {
  const dataDir = resolve(config.data_dir);
  const store = await openStore({ dataDir, databaseUrl: config.database.url });
  const adminTokenFile = await ensureAdminToken(config, dataDir);
  const tls = await loadTlsMaterial({ dataDir, hostname: config.hostname, cert: config.tls.cert, key: config.tls.key });
  const resolver = new DnsResolver({ servers: [...config.dns.servers], timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl });
  const pool = new ConnectionPool({
    ehloName: config.hostname,
    port: config.delivery.port,
    connectTimeoutMs: config.delivery.connect_timeout,
    greetingTimeoutMs: config.delivery.greeting_timeout,
    commandTimeoutMs: config.delivery.command_timeout,
    dataTimeoutMs: config.delivery.data_timeout,
    maxConnectionsPerDestination: config.delivery.max_connections_per_destination,
    maxConnections: config.delivery.max_connections,
    maxMessagesPerConnection: config.delivery.max_messages_per_connection,
    idleTimeoutMs: config.delivery.idle_connection_timeout,
    logger: log.child({ stage: 'delivery' }),
  });
  const scheduler: Scheduler = createScheduler({
    store, pool, log: log.child({ stage: 'queue' }),
    router: { resolver, relayhost: config.delivery.relayhost, allowPrivate: config.delivery.allow_private },
    owner: `${config.hostname}:${process.pid}:${randomUUID().slice(0, 8)}`,
    hostname: config.hostname,
    deliveryPort: config.delivery.port,
    retrySchedule: config.queue.retry_schedule,
    queueLifetimeMs: config.queue.max_lifetime,
    leaseMs: config.queue.lease,
    pollIntervalMs: config.queue.poll_interval,
    claimBatch: config.queue.claim_batch,
  });
  const ingress: Ingress = createIngress({ config, store, log: log.child({ stage: 'ingress' }), tls, handoff: scheduler });
  const listening = await ingress.listen();
  const http = Fastify({ logger: false });
  http.get('/healthz', async () => ({ status: 'ok' }));
  http.get('/readyz', async () => ({ status: 'ok', queue: await queueCounts(store.db) }));
  const httpAddr = parseListen(config.http.listen);
  if (httpAddr) {
    await http.listen({ host: httpAddr.host, port: httpAddr.port });
    const a = http.server.address();
    if (a && typeof a === 'object') listening.http = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }
  await scheduler.start();
  let stopping: Promise<void> | null = null;
  return {
    listening,
    dataDir,
    adminTokenFile,
    store,
    stop() {
      stopping ??= (async () => {
        await ingress.close();
        await http.close();
        await scheduler.stop();
        await pool.close();
        await store.close();
      })();
      return stopping;
    },
  };
}
