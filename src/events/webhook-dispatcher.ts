// The webhook dispatcher: a main-thread component, apart from delivery, so a dead or slow
// endpoint never holds up mail. Each round it fans new events out into delivery rows
// (webhook-fanout.ts), then sends what is due, endpoint by endpoint: at most
// `max_concurrency_per_endpoint` calls to one endpoint and `max_concurrency` in all, one
// message's deliveries to one endpoint in event order. 2xx succeeds; 410 Gone disables the
// endpoint; anything else is retried on `webhooks.retry_schedule`; an endpoint failing for
// `webhooks.disable_after` is disabled. Delivery is at least once: a crash mid-call sends
// again once the lease on the row runs out.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import {
  disableWebhook, findDueDeliveries, getWebhooksByIds, leaseDeliveries, listEnabledWebhooks, recordDeliveryAttempt, sealPlaintextWebhookSecrets,
  type Store, type WebhookDeliveryTable, type WebhookTable,
} from '../store/index.ts';
import { fanOutBatch, loadFanOutCursor } from './webhook-fanout.ts';
import { nextWebhookAttemptAt } from './webhook-retry.ts';
import { WebhookSender, type WebhookCallResult } from './webhook-sender.ts';
import { openWebhookSecret, sealWebhookSecret, secretKeyOf } from '../security/index.ts';
import { ClusterLease } from '../jobs/cluster-lease.ts';

/** Event ids per fan-out batch, and batches per round (so sending is not starved). */
const FANOUT_BATCH = 2000;
const FANOUT_BATCHES_PER_ROUND = 20;
/** A call's lease beyond its timeout: how long a crashed node's call waits before it is sent again. */
const LEASE_MARGIN_MS = 5_000;
/** The dispatching node renews its cluster lease every round; another takes over this long after it dies. */
const LEASE_TTL_MS = 15_000;

export interface WebhookDispatcherOptions {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
  /** How often to look for new events and due retries (default 250 ms). */
  readonly pollIntervalMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
  /** This node's id: with several nodes on one database, one of them dispatches at a time (issue 7). */
  readonly leaseOwner?: string;
}

export interface WebhookDispatcherStats {
  readonly inflight: number;
  readonly cursor: number;
  readonly calls: { readonly succeeded: number; readonly failed: number };
}

export interface WebhookDispatcher {
  start(): Promise<void>;
  /** Look for work now (new events, a replay, a test ping). */
  wake(): void;
  /** Runs one round (fan-out, then sending what is due) and waits for its calls; for tests. */
  runOnce(): Promise<void>;
  stats(): WebhookDispatcherStats;
  stop(): Promise<void>;
}

export function createWebhookDispatcher(options: WebhookDispatcherOptions): WebhookDispatcher {
  const { store, config } = options;
  const log = options.log.child({ stage: 'webhooks' });
  const now = options.now ?? Date.now;
  const settings = config.webhooks;
  const pollMs = options.pollIntervalMs ?? 250;
  const lease = options.leaseOwner ? new ClusterLease({ store, name: 'webhooks', owner: options.leaseOwner, ttlMs: LEASE_TTL_MS, log }) : null;
  const sender = new WebhookSender({ allowPrivate: settings.allow_private, timeoutMs: settings.timeout, connectionsPerOrigin: settings.max_concurrency_per_endpoint * 4 });
  const stopController = new AbortController();
  /** Calls in flight: delivery id → its promise. */
  const inflight = new Map<string, Promise<void>>();
  const perEndpoint = new Map<string, number>();
  /** `${webhookId} ${messageId}` of calls in flight: a message's next event waits for them. */
  const messagesInFlight = new Set<string>();
  const calls = { succeeded: 0, failed: 0 };
  let cursor = 0;
  let started = false;
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  let round: Promise<void> | null = null;
  let again = false;
  let rotation = 0;
  /** The key that opens stored webhook secrets (security/secret-key.ts), loaded on first need. */
  let secretKey: Buffer | null = null;

  async function key(): Promise<Buffer> {
    secretKey ??= await secretKeyOf(config);
    return secretKey;
  }

  async function fanOut(): Promise<void> {
    for (let i = 0; i < FANOUT_BATCHES_PER_ROUND && !stopping; i++) {
      const r = await fanOutBatch(store, cursor, FANOUT_BATCH, now());
      cursor = r.cursor;
      if (!r.more) break;
    }
  }

  async function sendDue(): Promise<void> {
    const t = now();
    const all = await listEnabledWebhooks(store.db);
    // Start one further each round, so under the global bound no endpoint always comes last.
    rotation = all.length === 0 ? 0 : (rotation + 1) % all.length;
    const endpoints = [...all.slice(rotation), ...all.slice(0, rotation)];
    const chosen: WebhookDeliveryTable[] = [];
    let free = settings.max_concurrency - inflight.size;
    for (const w of endpoints) {
      if (free <= 0) break;
      const room = Math.min(free, settings.max_concurrency_per_endpoint - (perEndpoint.get(w.id) ?? 0));
      if (room <= 0) continue;
      // A few extra rows, in case some wait behind an earlier event of their message.
      const due = await findDueDeliveries(store.db, w.id, t, room * 2 + 8);
      const picked = new Set<string>();
      let taken = 0;
      for (const d of due) {
        if (taken >= room) break;
        if (inflight.has(d.id)) continue;
        const key = d.message_id === null ? null : `${d.webhook_id} ${d.message_id}`;
        if (key !== null && (messagesInFlight.has(key) || picked.has(key))) continue;
        if (key !== null) picked.add(key);
        chosen.push(d);
        taken++;
      }
      free -= taken;
    }
    if (chosen.length === 0) return;
    const leaseUntil = t + settings.timeout + LEASE_MARGIN_MS;
    const leased = await store.write((trx) => leaseDeliveries(trx, chosen.map((d) => d.id), t, leaseUntil), { durable: false });
    const hooks = new Map((await getWebhooksByIds(store.db, [...new Set(chosen.map((d) => d.webhook_id))])).map((w) => [w.id, w]));
    const k = await key();
    for (const d of chosen) {
      const hook = hooks.get(d.webhook_id);
      if (!leased.has(d.id) || !hook) continue;
      let secret: string;
      try {
        secret = openWebhookSecret(k, hook.id, hook.secret);
      } catch (err) {
        // Wrong security.secret_key (or an altered row): the lease brings it back once fixed.
        log.error({ err, webhook: hook.id }, 'cannot open the webhook secret: is security.secret_key the one it was sealed with?');
        continue;
      }
      startCall(d, hook, secret);
    }
  }

  function startCall(d: WebhookDeliveryTable, hook: WebhookTable, secret: string): void {
    const key = d.message_id === null ? null : `${d.webhook_id} ${d.message_id}`;
    perEndpoint.set(d.webhook_id, (perEndpoint.get(d.webhook_id) ?? 0) + 1);
    if (key !== null) messagesInFlight.add(key);
    const p = (async () => {
      try {
        const result = await sender.call({ url: hook.url, secret, eventUid: d.event_uid, body: d.payload, signal: stopController.signal }, now);
        await settle(d, hook, result);
      } catch (err) {
        log.error({ err, delivery: d.id, webhook: d.webhook_id }, 'could not record a webhook call');
      } finally {
        inflight.delete(d.id);
        const n = (perEndpoint.get(d.webhook_id) ?? 1) - 1;
        if (n > 0) perEndpoint.set(d.webhook_id, n);
        else perEndpoint.delete(d.webhook_id);
        if (key !== null) messagesInFlight.delete(key);
        // A slot is free: the next due delivery need not wait for the poll.
        if (!stopping) wake();
      }
    })();
    inflight.set(d.id, p);
  }

  async function settle(d: WebhookDeliveryTable, hook: WebhookTable, result: WebhookCallResult): Promise<void> {
    if (result.error === 'WEBHOOK_ABORTED') {
      // Stopping: not an attempt. The lease brings it back after a restart.
      return;
    }
    const t = now();
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    // Standard Webhooks: 410 Gone means the receiver wants no more calls at this URL.
    const gone = result.statusCode === 410;
    const failedAttempts = Number(d.attempts) + 1 - Number(d.schedule_start);
    const nextAt = ok || gone ? null : nextWebhookAttemptAt(settings.retry_schedule, failedAttempts, t);
    if (ok) calls.succeeded++;
    else calls.failed++;
    await store.write(async (trx) => {
      const failingSince = await recordDeliveryAttempt(trx, {
        deliveryId: d.id, webhookId: d.webhook_id, startedAt: result.startedAt, durationMs: result.durationMs,
        statusCode: result.statusCode, error: result.error, responseExcerpt: result.excerpt, succeeded: ok, nextAttemptAt: nextAt,
      }, t);
      if (gone) {
        if (await disableWebhook(trx, d.webhook_id, 'gone', { last_status: 410 }, t)) log.warn({ webhook: d.webhook_id, url: hook.url }, 'webhook endpoint answered 410 Gone: disabled');
      } else if (!ok && failingSince !== null && t - failingSince >= settings.disable_after) {
        const data = { last_status: result.statusCode, last_error: result.error, failing_since: new Date(failingSince).toISOString() };
        if (await disableWebhook(trx, d.webhook_id, 'failing', data, t)) log.warn({ webhook: d.webhook_id, url: hook.url }, 'webhook endpoint failing for too long: disabled');
      }
    }, { durable: false });
    log.debug({ delivery: d.id, webhook: d.webhook_id, status: result.statusCode, error: result.error, ms: result.durationMs }, 'webhook call');
  }

  async function runRound(): Promise<void> {
    try {
      if (lease) {
        const before = lease.held;
        if (!(await lease.hold(now()))) return;
        // Just taken over: another node may have advanced the cursor while it held the lease.
        if (!before) cursor = await loadFanOutCursor(store);
      }
      await fanOut();
      if (!stopping) await sendDue();
    } catch (err) {
      log.error({ err }, 'webhook dispatcher round failed; retrying on the next poll');
    }
  }

  function schedule(delayMs: number): void {
    if (stopping || !started) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, delayMs);
  }

  function tick(): void {
    timer = null;
    if (round) {
      again = true;
      return;
    }
    round = runRound().finally(() => {
      round = null;
      if (again) {
        again = false;
        schedule(0);
      } else schedule(pollMs);
    });
  }

  function wake(): void {
    if (stopping || !started) return;
    if (round) again = true;
    else schedule(0);
  }

  return {
    async start() {
      // Encryption at rest: seal secrets of endpoints created before it (SECURITY.md, Secrets).
      const k = await key();
      const sealed = await store.write((trx) => sealPlaintextWebhookSecrets(trx, (secret, id) => sealWebhookSecret(k, id, secret)));
      if (sealed > 0) log.info({ count: sealed }, 'encrypted webhook secrets stored in plaintext');
      cursor = await loadFanOutCursor(store);
      started = true;
      schedule(0);
    },
    wake,
    async runOnce() {
      if (!started) cursor = await loadFanOutCursor(store);
      while (round) await round;
      await runRound();
      await Promise.all(inflight.values());
    },
    stats: () => ({ inflight: inflight.size, cursor, calls: { ...calls } }),
    async stop() {
      if (stopping) return;
      stopping = true;
      if (timer) clearTimeout(timer);
      if (round) await round;
      await lease?.release();
      // Calls under way get a moment to finish (their results are worth keeping), then are cut.
      const grace = setTimeout(() => stopController.abort(), Math.min(2_000, settings.timeout));
      await Promise.all(inflight.values());
      clearTimeout(grace);
      await sender.close();
    },
  };
}
