// The delivery loop: claim due recipients (lease + attempt counted first), group them by
// message and destination domain, run each group as one SMTP transaction, settle the
// outcome. Woken at once by new mail; otherwise polls. In-flight work is bounded, so a
// large queue never becomes one huge Promise.all.
import type { Logger } from 'pino';
import type { Readable } from 'node:stream';
import { claimDue, deferClaims, cancelClaims, recordMadeSize, UnmakeableBodyError, releaseLeases, renewLeases, getMessageForDelivery, bodyPathIfFinal, storeErrorKind, type BodyRenderer, type ClaimedRecipient, type Store } from '../store/index.ts';
import { deliverGroup, type GroupAttempt, type GroupOutcome } from '../delivery/deliver-group.ts';
import { planOutbound, type OutboundOptions } from './outbound.ts';
import type { DeliveryPacing } from './delivery-pacing.ts';
import type { AutoSuppressOptions } from '../feedback/auto-suppress.ts';
import type { ConnectionPool } from '../delivery/connection-pool.ts';
import type { RouterOptions } from '../delivery/route.ts';
import type { MtaStsPolicies } from '../delivery/mta-sts.ts';
import type { OutboundPools } from '../pools/index.ts';
import { settle, type MessageInfo } from './settle.ts';
import { leaseOwnerPrefix } from './lease-owner.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SchedulerOptions {
  readonly store: Store;
  readonly pool: ConnectionPool;
  readonly router: RouterOptions;
  readonly log: Logger;
  readonly owner: string;
  readonly hostname: string;
  readonly deliveryPort: number;
  readonly retrySchedule: readonly number[];
  readonly queueLifetimeMs: number;
  /** queue.delay_warning_after (settle.ts); 0 or absent: no "delayed" DSNs. */
  readonly delayWarningAfterMs?: number;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
  readonly claimBatch: number;
  /** Recipients in flight at most; claims pause beyond it. */
  readonly maxInflight?: number;
  /** Called with the recipients whose attempt has finished (settled or failed). */
  readonly onSettled?: (group: readonly ClaimedRecipient[]) => void;
  /** Keep every message instead of sending it (delivery.mode: capture). */
  readonly captureAll?: boolean;
  /** On stop, how long attempts under way may take to finish before they are aborted. */
  readonly drainTimeoutMs?: number;
  /** Hard bounces and repeated soft failures suppress the address (feedback/auto-suppress.ts); absent: never. */
  readonly autoSuppress?: AutoSuppressOptions;
  /** Holds attempts back while the accepting thread is short of CPU (delivery-pacing.ts); absent: never. */
  readonly pacing?: DeliveryPacing;
  /** DKIM signing, feedback headers and VERP return paths (outbound.ts); absent: sent as stored. */
  readonly outbound?: Omit<OutboundOptions, 'db' | 'openSpool'>;
  /** IP pools, per-destination pacing and tenant quotas (src/pools/); absent: default address, no pacing. */
  readonly pools?: OutboundPools;
  /** MTA-STS policies of recipient domains (RFC 8461); absent: opportunistic TLS only. */
  readonly mtaSts?: MtaStsPolicies;
  /** Makes the bytes of messages stored as what they are made from (`body_render`, campaigns/campaign-body.ts). */
  readonly renderBody?: BodyRenderer;
}

export interface Scheduler {
  start(): Promise<void>;
  /**
   * Reserves room for `count` recipients about to be committed by ingress; returns the lease
   * to insert them under, or null when this node is busy (they then wait for a claim).
   */
  reserve(count: number): { owner: string; leaseMs: number } | null;
  /** Starts delivery of recipients committed under a reservation. */
  deliver(claimed: readonly ClaimedRecipient[]): void;
  /** Gives back a reservation whose commit failed. */
  release(count: number): void;
  /** Starts delivery of recipients another thread reserved and committed (see delivery-thread.ts). */
  adopt(claimed: readonly ClaimedRecipient[]): void;
  /** New mail was committed: look for work now. */
  wake(): void;
  stop(): Promise<void>;
  stats(): { inflight: number; groups: number };
}

/** How soon work interrupted by an unavailable database is tried again. */
const UNAVAILABLE_RETRY_MS = 5000;

export function createScheduler(options: SchedulerOptions): Scheduler {
  const { store, log } = options;
  const maxInflight = options.maxInflight ?? 4000;
  const controller = new AbortController();
  let inflight = 0;
  let groups = 0;
  let timer: NodeJS.Timeout | null = null;
  let claiming = false;
  let again = false;
  let backlog = false;
  let stopped = false;
  let unlisten: () => void = () => undefined;
  let renewer: NodeJS.Timeout | null = null;
  /** Recipient ids this worker holds (claimed, handed over, being delivered): their leases are renewed. */
  const held = new Set<number>();
  const running = new Set<Promise<void>>();

  async function tick(): Promise<void> {
    if (stopped) return;
    if (claiming) {
      again = true;
      return;
    }
    claiming = true;
    try {
      do {
        again = false;
        const room = maxInflight - inflight;
        if (room <= 0) {
          backlog = true;
          break;
        }
        backlog = false;
        // A claim lost in a crash only means the row is claimed again: no fsync needed.
        const claimed = await store.write((trx) => claimDue(trx, { owner: options.owner, now: Date.now(), leaseMs: options.leaseMs, limit: Math.min(room, options.claimBatch) }), { durable: false });
        if (claimed.length === 0) break;
        inflight += claimed.length;
        startGroups(claimed);
        if (claimed.length >= Math.min(room, options.claimBatch)) again = backlog = true;
      } while (again && !stopped);
    } catch (err) {
      log.error({ err }, 'claiming work failed; retrying at the next poll');
    } finally {
      claiming = false;
    }
  }

  function startGroups(claimed: readonly ClaimedRecipient[]): void {
    for (const r of claimed) held.add(r.id);
    for (const group of groupClaims(claimed)) {
      const p = runGroup(group).finally(() => {
        for (const r of group) held.delete(r.id);
        inflight -= group.length;
        running.delete(p);
        options.onSettled?.(group);
        // More due work than room at the last claim: claim again as room frees up.
        if (!stopped && backlog) schedule(0);
      });
      running.add(p);
    }
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    if (delayMs === 0) {
      setImmediate(() => void tick());
      return;
    }
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void tick().finally(() => schedule(options.pollIntervalMs));
    }, delayMs);
  }

  const sandbox = sandboxTenants(store);

  /**
   * Records an attempt's outcome, waiting out a database that is briefly unreachable (a
   * restart, a failover): the remote side has answered, and an outcome not recorded means the
   * lease expires and the message goes again. Other errors, or an outage past ~2 minutes, give up.
   */
  async function writeOutcome<T>(work: Parameters<Store['write']>[0], opts: { durable: boolean }): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await store.write(work, opts) as T;
      } catch (err) {
        if (stopped || storeErrorKind(err) !== 'unavailable' || i >= 25) throw err;
        if (i === 0) log.warn({ err }, 'cannot record a delivery outcome: the database is unavailable; retrying');
        await sleep(Math.min(5000, 200 * 2 ** i));
      }
    }
  }

  async function runGroup(group: ClaimedRecipient[]): Promise<void> {
    groups++;
    const first = group[0];
    try {
      if (options.pacing) {
        await options.pacing.turn();
        // Stopping let it go: no new attempt now; the lease is released at shutdown.
        if (stopped) return;
      }
      const meta = await getMessageForDelivery(store.db, first.messageId);
      if (!meta) throw new Error(`message ${first.messageId} vanished`);
      // A spooled body is opened only when it is read (DATA, or a DSN returning it): a
      // stream opened up front and never read holds its file descriptor for good.
      const spooled = meta.body_path;
      let body: () => Buffer | Readable;
      let size = meta.size;
      let headerSize = meta.header_size;
      /** A message made now (`body_render`) whose size is not recorded yet. */
      let madeSize = false;
      if (spooled) body = () => store.spool.open(spooled);
      else if (meta.body) {
        const bytes = Buffer.from(meta.body.buffer, meta.body.byteOffset, meta.body.byteLength);
        body = () => bytes;
      } else if (meta.body_render) {
        if (!options.renderBody) throw new Error(`message ${meta.id} is made when sent, and this scheduler has no renderer`);
        let bytes: Buffer;
        try {
          bytes = await options.renderBody({ messageId: meta.id, tenantId: meta.tenant_id, spec: meta.body_render, createdAt: Number(meta.created_at), messageIdHeader: meta.message_id_header });
        } catch (err) {
          if (!(err instanceof UnmakeableBodyError)) throw err;
          // Nothing to send, ever: say so (message.cancelled with the reason) rather than retry until it expires.
          log.warn({ err, message: meta.id }, 'message cannot be made; its recipients are cancelled');
          await writeOutcome((trx) => cancelClaims(trx, options.owner, group.map((r) => r.id), err.message.slice(0, 500)), { durable: false });
          return;
        }
        body = () => bytes;
        madeSize = meta.size !== bytes.length;
        size = bytes.length;
        const blank = bytes.indexOf('\r\n\r\n');
        headerSize = blank < 0 ? bytes.length : blank + 4;
      } else throw new Error(`message ${meta.id} has no body`);
      const info: MessageInfo = {
        id: meta.id, tenantId: meta.tenant_id, origin: meta.origin, mailFrom: meta.mail_from, isBounce: meta.is_bounce === 1,
        createdAt: Number(meta.created_at), headerSize, size, dsnRet: meta.dsn_ret, dsnEnvid: meta.dsn_envid, body, stream: meta.stream,
        tags: meta.tags ? (JSON.parse(meta.tags) as string[]) : null,
        metadata: meta.metadata ? (JSON.parse(meta.metadata) as Record<string, unknown>) : null,
      };
      const capture = options.captureAll || await sandbox.has(meta.tenant_id);
      const recipients = group.map((r) => ({ id: r.id, rcpt: r.rcpt, notify: r.notify, orcpt: r.orcpt }));
      let delivered: { outcomes: GroupOutcome[]; attempt: GroupAttempt };
      if (capture) delivered = captureGroup(group);
      else {
        const plan = options.outbound
          ? await planOutbound({ ...options.outbound, db: store.db, openSpool: (path) => store.spool.open(path) }, {
            id: meta.id, tenantId: meta.tenant_id, stream: meta.stream, mailFrom: meta.mail_from, isBounce: meta.is_bounce === 1,
            fromHeader: meta.from_header, size, inline: spooled ? null : body() as Buffer, bodyPath: spooled, body,
          })
          : null;
        const deps = { pool: options.pool, router: options.router, port: options.deliveryPort, signal: controller.signal, pools: options.pools, mtaSts: options.mtaSts };
        const message = (mailFrom: string) => ({
          id: meta.id, mailFrom, size: plan?.size ?? size, body: plan?.body ?? body, envid: meta.dsn_envid, ret: meta.dsn_ret, smtputf8: meta.smtputf8 === 1,
          tenantId: meta.tenant_id, stream: meta.stream, requireTls: meta.require_tls === 1,
        });
        if (plan?.perRecipient && recipients.length > 1) {
          // VERP: one envelope sender per recipient, so one transaction each (RFC 5321 §3.3).
          const each = await Promise.all(recipients.map((r) => deliverGroup(first.domain, message(plan.mailFrom(r.id)), [r], deps)));
          delivered = { outcomes: each.flatMap((e) => e.outcomes), attempt: each[0].attempt };
        } else {
          delivered = await deliverGroup(first.domain, message(plan ? plan.mailFrom(recipients[0].id) : meta.mail_from), recipients, deps);
        }
      }
      const { outcomes, attempt } = delivered;
      const settlement = await settle(info, group, outcomes, attempt, {
        owner: options.owner, hostname: options.hostname, retrySchedule: options.retrySchedule, queueLifetimeMs: options.queueLifetimeMs,
        autoSuppress: options.autoSuppress, delayWarningAfterMs: options.delayWarningAfterMs,
      });
      // Not fsync'd on its own: losing a settlement in a crash repeats a delivery, loses nothing;
      // unless the spool file is unlinked next, when a lost settlement would leave a body-less row.
      const write: typeof settlement.write = madeSize
        ? async (trx) => {
          await recordMadeSize(trx, meta.id, size, headerSize);
          return settlement.write(trx);
        }
        : settlement.write;
      await writeOutcome(write, { durable: settlement.final && !!meta.body_path });
      if (settlement.dsnQueued) schedule(0);
      if (settlement.final && meta.body_path) {
        const path = await bodyPathIfFinal(store.db, meta.id);
        if (path) await store.spool.remove(path);
      }
      log.debug({ message: meta.id, domain: first.domain, outcomes: outcomes.map((o) => o.status) }, 'attempt settled');
    } catch (err) {
      if (storeErrorKind(err) === 'unavailable' && !stopped) {
        // The database went away before the outcome was known (reading the message, or
        // recording): hand the claims back, due shortly, once it answers again, rather than
        // leave them leased until the lease expires.
        log.warn({ err, message: first.messageId, domain: first.domain }, 'delivery attempt interrupted: the database is unavailable; retrying shortly');
        const ids = group.map((r) => r.id);
        await writeOutcome((trx) => deferClaims(trx, options.owner, ids, Date.now() + UNAVAILABLE_RETRY_MS), { durable: false })
          .catch((e: unknown) => log.error({ err: e, message: first.messageId }, 'could not hand back claims; their lease expires on its own'));
        return;
      }
      // Our own failure (not the remote's): leave the lease to expire so the work is retried.
      log.error({ err, message: first.messageId, domain: first.domain }, 'delivery attempt failed internally');
    }
  }

  return {
    async start() {
      // Whatever a previous run of this node held is due again now: on SQLite (one node)
      // every lease; on PostgreSQL only this node's, the other nodes' are theirs.
      const ownerPrefix = store.dialect === 'postgres' ? leaseOwnerPrefix(options.owner) : undefined;
      const released = await store.write((trx) => releaseLeases(trx, { now: Date.now(), ownerPrefix }));
      if (released) log.info({ released }, 'recovered in-flight deliveries from the previous run');
      // Another node committed due mail (PostgreSQL NOTIFY): look for work at once.
      unlisten = store.onQueueNotify(() => schedule(0));
      // Leases are renewed while held, a third of their length at a time: work waiting in this
      // worker's own queue stays its own, and only a dead worker's leases expire.
      renewer = setInterval(() => {
        if (held.size === 0 || stopped) return;
        const ids = [...held];
        // PostgreSQL: straight on a pool connection, not queued behind this thread's group
        // commits (a busy worker's batches must not let its own leases run out); SQLite
        // writes through the batcher (one writer, and a single node whose leases are long).
        const renewal = store.dialect === 'postgres'
          ? renewLeases(store.db, options.owner, ids, Date.now(), options.leaseMs)
          : store.write((trx) => renewLeases(trx, options.owner, ids, Date.now(), options.leaseMs), { durable: false });
        void renewal.catch((err: unknown) => log.warn({ err }, 'could not renew delivery leases; retrying'));
      }, Math.max(1000, Math.floor(options.leaseMs / 3)));
      renewer.unref();
      schedule(0);
      schedule(options.pollIntervalMs);
    },
    wake() {
      schedule(0);
    },
    reserve(count) {
      if (stopped || inflight + count > maxInflight) return null;
      inflight += count;
      return { owner: options.owner, leaseMs: options.leaseMs };
    },
    deliver(claimed) {
      if (stopped) return; // Leased in the database: released at the next start.
      startGroups(claimed);
    },
    release(count) {
      inflight -= count;
    },
    adopt(claimed) {
      if (stopped) return;
      inflight += claimed.length;
      startGroups(claimed);
    },
    async stop() {
      // No new work; attempts under way finish and record their outcome (so a message
      // delivered during shutdown is not delivered again), then stragglers are aborted
      // and recorded as deferred.
      stopped = true;
      options.pacing?.close();
      unlisten();
      if (renewer) clearInterval(renewer);
      if (timer) clearTimeout(timer);
      const drained = Promise.allSettled([...running]);
      const limit = new Promise<void>((resolve) => setTimeout(resolve, options.drainTimeoutMs ?? 10_000).unref());
      await Promise.race([drained, limit]);
      controller.abort();
      await drained;
    },
    stats: () => ({ inflight, groups }),
  };
}

/** Capture mode: the message is kept, and reported as delivered, without any SMTP. */
function captureGroup(group: readonly ClaimedRecipient[]): { outcomes: GroupOutcome[]; attempt: GroupAttempt } {
  return {
    outcomes: group.map((r) => ({ id: r.id, status: 'delivered', code: 250, enhanced: '2.0.0', response: '250 2.0.0 Captured (sandbox: not sent)' })),
    attempt: { mxHost: null, ip: null, port: null, tlsVersion: null, tlsCipher: null, durationMs: 0, remoteSupportsDsn: true, captured: true },
  };
}

/** Which tenants are sandboxes, cached for a few seconds. */
function sandboxTenants(store: Store): { has(tenantId: string | null): Promise<boolean> } {
  let cache: { at: number; ids: Set<string> } | null = null;
  return {
    async has(tenantId) {
      if (!tenantId) return false;
      if (!cache || Date.now() - cache.at > 5000) {
        const rows = await store.db.selectFrom('tenants').select('id').where('sandbox', '=', 1).execute();
        cache = { at: Date.now(), ids: new Set(rows.map((r) => r.id)) };
      }
      return cache.ids.has(tenantId);
    },
  };
}

/** Recipients of one message at one domain travel together (RFC 5321 §3.3: one transaction). */
function groupClaims(claimed: readonly ClaimedRecipient[]): ClaimedRecipient[][] {
  const groups = new Map<string, ClaimedRecipient[]>();
  for (const r of claimed) {
    const key = `${r.messageId}\u0000${r.domain}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(r);
  }
  return [...groups.values()];
}
