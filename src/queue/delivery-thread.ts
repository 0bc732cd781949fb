// The delivery loop in its own thread. Node runs JavaScript on one core per thread; an MTA
// spends about half its CPU receiving and half delivering, so delivery (claims, DNS, the
// SMTP client, settling) runs here while the main thread serves SMTP and HTTP. Each
// thread has its own database connection; SQLite serialises their short write transactions.
import { parentPort, workerData } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Config } from '../config/index.ts';
import { openStore, storeOptionsOf, WriteLock, type ClaimedRecipient } from '../store/index.ts';
import { ConnectionPool } from '../delivery/connection-pool.ts';
import { DnsResolver } from '../delivery/dns-resolver.ts';
import { installFastDotStuffing } from '../delivery/dot-stuffing.ts';
import { createLogger } from '../log/create-logger.ts';
import { createScheduler } from './scheduler.ts';
import { DeliveryPacing } from './delivery-pacing.ts';
import { CpuPressure } from '../concurrency/cpu-pressure.ts';
import { secretKeyOf } from '../security/index.ts';
import { createCampaignBodyRenderer, LinkSigner, publicBaseUrl } from '../campaigns/index.ts';
import { VerpCodec } from '../feedback/verp.ts';
import { OutboundPools } from '../pools/index.ts';
import { mtaStsFor, tlsCaOf } from '../delivery/outbound-tls.ts';

export type ToDeliveryThread =
  | { type: 'adopt'; claimed: ClaimedRecipient[] }
  | { type: 'wake' }
  | { type: 'stop' };

export type FromDeliveryThread =
  | { type: 'ready' }
  | { type: 'settled'; count: number }
  | { type: 'stopped' }
  | { type: 'failed'; message: string };

export interface DeliveryThreadData {
  readonly config: Config;
  readonly owner: string;
  readonly maxInflight: number;
  /** The main thread's WriteLock buffer, so both connections take turns without sleeping. */
  readonly writeLockBuffer: SharedArrayBuffer | null;
  /** The accepting thread's CpuPressure buffer (delivery-pacing.ts); null: delivery is never held back. */
  readonly pressureBuffer: SharedArrayBuffer | null;
}

const port = parentPort!;
const { config, owner, maxInflight, writeLockBuffer, pressureBuffer } = workerData as DeliveryThreadData;
const post = (m: FromDeliveryThread) => port.postMessage(m);
const log = createLogger(config.log.level, { thread: 'delivery' });
const adopted = new Set<number>();

/**
 * Lowers this thread's scheduling priority (Linux: a thread id is a pid to setpriority, and
 * /proc/thread-self names the calling thread). Elsewhere, or without permission, nothing.
 */
function niceThisThread(increment: number): number | null {
  if (increment <= 0) return null;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return null;
    const to = Math.min(19, getPriority(tid) + increment);
    setPriority(tid, to);
    return to;
  } catch {
    return null;
  }
}

try {
  const nice = niceThisThread(config.delivery.thread_nice);
  if (nice !== null) log.debug({ nice }, 'delivery thread priority lowered');
  await installFastDotStuffing();
  const writeLock = writeLockBuffer ? new WriteLock(writeLockBuffer) : undefined;
  const store = await openStore({
    ...storeOptionsOf(config), writeLock, applicationName: 'postline-delivery',
    checkpoints: 'background',
    onCheckpointError: (err) => log.debug({ err }, 'WAL checkpoint failed'),
  });
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
    tlsCa: await tlsCaOf(config),
    plaintextFallback: config.tls_policy.plaintext_fallback,
  });
  // Issue 5: source addresses, pacing, quotas (src/pools/) and MTA-STS (src/delivery/mta-sts.ts).
  const pools = new OutboundPools({ config, store, log: log.child({ stage: 'pools' }) });
  await pools.start();
  const mtaSts = await mtaStsFor(config, resolver, store);
  // The instance key: DKIM private keys are sealed with it, VERP tokens are MACed with a key derived from it.
  const secretKey = await secretKeyOf(config);
  const scheduler = createScheduler({
    store, pool, pools, mtaSts, log: log.child({ stage: 'queue' }),
    // Campaign messages are stored as what they are made from and made here, when sent.
    renderBody: createCampaignBodyRenderer({ db: store.db, config, signer: new LinkSigner(secretKey, publicBaseUrl(config)) }),
    router: { resolver, relayhost: config.delivery.relayhost, allowPrivate: config.delivery.allow_private },
    owner,
    hostname: config.hostname,
    deliveryPort: config.delivery.port,
    retrySchedule: config.queue.retry_schedule,
    queueLifetimeMs: config.queue.max_lifetime,
    delayWarningAfterMs: config.queue.delay_warning_after,
    leaseMs: config.queue.lease,
    pollIntervalMs: config.queue.poll_interval,
    claimBatch: config.queue.claim_batch,
    maxInflight,
    pacing: pressureBuffer ? new DeliveryPacing(new CpuPressure(pressureBuffer), config.delivery.paced_rate) : undefined,
    captureAll: config.delivery.mode === 'capture',
    autoSuppress: { softBounceLimit: config.feedback.soft_bounce_limit, softBounceWindowMs: config.feedback.soft_bounce_window },
    outbound: {
      secretKey,
      verp: config.feedback.verp ? new VerpCodec(secretKey, config.domains.return_path_prefix) : null,
      cfblAddress: config.feedback.cfbl_address,
    },
    // Only handed-over recipients count against the main thread's reservations.
    onSettled: (group) => {
      let count = 0;
      for (const r of group) if (adopted.delete(r.id)) count++;
      if (count) post({ type: 'settled', count });
    },
  });
  port.on('message', (m: ToDeliveryThread) => {
    if (m.type === 'adopt') {
      for (const r of m.claimed) adopted.add(r.id);
      scheduler.adopt(m.claimed);
    }
    else if (m.type === 'wake') scheduler.wake();
    else if (m.type === 'stop') {
      void (async () => {
        await scheduler.stop();
        await pools.close();
        await pool.close();
        await store.close();
        post({ type: 'stopped' });
        port.close();
      })();
    }
  });
  await scheduler.start();
  post({ type: 'ready' });
} catch (err) {
  log.fatal({ err }, 'delivery thread failed to start');
  post({ type: 'failed', message: (err as Error).message });
}
