// Webhook endpoints, their deliveries and the HTTP calls made for them. Every function
// that serves the API takes the tenant id and scopes by it, so another tenant's endpoint is
// simply not found. The dispatcher's functions (fan-out, claim, record) work across tenants.
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, EventTable, WebhookAttemptTable, WebhookDeliveryTable, WebhookTable } from '../database.ts';
import type { PageRequest } from './api-keys.ts';
import { insertEvents } from './events.ts';
import { isPostgresDb } from '../sql-dialect.ts';

/** A webhook_attempts row as read. */
export type WebhookAttemptRow = Selectable<WebhookAttemptTable>;

/** Where the dispatcher's fan-out has got to: the last events.id it has turned into deliveries. */
export const WEBHOOK_CURSOR_SETTING = 'webhooks.fanout_cursor';

export async function insertWebhook(db: Kysely<Database>, row: WebhookTable): Promise<WebhookTable> {
  await db.insertInto('webhooks').values(row).execute();
  return row;
}

export async function getWebhook(db: Kysely<Database>, tenantId: string, id: string): Promise<WebhookTable | undefined> {
  return db.selectFrom('webhooks').selectAll().where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
}

export async function listWebhooksPage(db: Kysely<Database>, tenantId: string, page: PageRequest): Promise<WebhookTable[]> {
  let q = db.selectFrom('webhooks').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

export interface WebhookChange {
  readonly url?: string | undefined;
  readonly description?: string | null | undefined;
  readonly events?: readonly string[] | undefined;
  readonly enabled?: boolean | undefined;
}

/**
 * Changes an endpoint; undefined when the tenant has no such endpoint. Enabling clears the
 * disabled and failing state; disabling by hand fails its pending deliveries (replayable).
 */
export async function updateWebhook(db: Kysely<Database>, tenantId: string, id: string, change: WebhookChange, now = Date.now()): Promise<WebhookTable | undefined> {
  const current = await getWebhook(db, tenantId, id);
  if (!current) return undefined;
  const set: Partial<WebhookTable> = { updated_at: now };
  if (change.url !== undefined) set.url = change.url;
  if (change.description !== undefined) set.description = change.description;
  if (change.events !== undefined) set.events = JSON.stringify(change.events);
  if (change.enabled === true && current.enabled === 0) {
    Object.assign(set, { enabled: 1, disabled_reason: null, disabled_at: null, failing_since: null });
  } else if (change.enabled === false && current.enabled === 1) {
    Object.assign(set, { enabled: 0, disabled_reason: 'manual', disabled_at: now });
    await failPendingDeliveries(db, id, 'WEBHOOK_DISABLED', now);
  }
  await db.updateTable('webhooks').set(set).where('id', '=', id).execute();
  return getWebhook(db, tenantId, id);
}

export async function deleteWebhook(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('webhooks').where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The endpoints fan-out writes deliveries for. */
export async function listEnabledWebhooks(db: Kysely<Database>): Promise<Array<Pick<WebhookTable, 'id' | 'tenant_id' | 'events' | 'created_at'>>> {
  return db.selectFrom('webhooks').select(['id', 'tenant_id', 'events', 'created_at']).where('enabled', '=', 1).execute();
}

/**
 * Rewrites secrets stored in plaintext (rows from before encryption at rest) with
 * `seal(secret, webhookId)`; returns how many. Sealed values start with `v1:`.
 */
export async function sealPlaintextWebhookSecrets(db: Kysely<Database>, seal: (secret: string, webhookId: string) => string): Promise<number> {
  const rows = await db.selectFrom('webhooks').select(['id', 'secret']).where('secret', 'not like', 'v1:%').execute();
  for (const r of rows) await db.updateTable('webhooks').set({ secret: seal(r.secret, r.id) }).where('id', '=', r.id).where('secret', '=', r.secret).execute();
  return rows.length;
}

/** Endpoint details the sender needs, by id (any tenant). */
export async function getWebhooksByIds(db: Kysely<Database>, ids: readonly string[]): Promise<WebhookTable[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('webhooks').selectAll().where('id', 'in', [...ids]).execute();
}

async function failPendingDeliveries(db: Kysely<Database>, webhookId: string, error: string, now: number): Promise<void> {
  await db.updateTable('webhook_deliveries').set({ status: 'failed', last_error: error, updated_at: now })
    .where('webhook_id', '=', webhookId).where('status', '=', 'pending').execute();
}

/**
 * Disables an endpoint the dispatcher gave up on, records a `webhook.disabled` event for its
 * tenant (fanned out to the tenant's other endpoints) and fails its pending deliveries.
 * False when it was already disabled (another call got there first).
 */
export async function disableWebhook(db: Kysely<Database>, id: string, reason: 'gone' | 'failing', data: Record<string, unknown>, now = Date.now()): Promise<boolean> {
  const row = await db.updateTable('webhooks').set({ enabled: 0, disabled_reason: reason, disabled_at: now, updated_at: now })
    .where('id', '=', id).where('enabled', '=', 1).returning(['tenant_id', 'url']).executeTakeFirst();
  if (!row) return false;
  await failPendingDeliveries(db, id, reason === 'gone' ? 'WEBHOOK_GONE' : 'WEBHOOK_FAILING', now);
  await insertEvents(db, [{
    type: 'webhook.disabled', tenantId: row.tenant_id,
    data: { webhook_id: id, url: row.url, reason, disabled_at: new Date(now).toISOString(), ...data },
  }], now);
  return true;
}

/**
 * Events with id in (afterId, upToId], in id (commit) order; only those of `tenantIds` when
 * given (the tenants that have endpoints), so other tenants' rows are never returned.
 */
export async function readEventsInRange(db: Kysely<Database>, afterId: number, upToId: number, tenantIds: readonly string[] | null): Promise<Selectable<EventTable>[]> {
  let q = db.selectFrom('events').selectAll().where('id', '>', afterId).where('id', '<=', upToId);
  if (tenantIds !== null) q = q.where('tenant_id', 'in', [...tenantIds]);
  return q.orderBy('id').execute();
}

/**
 * The highest event id below which every event is committed, so a reader in id order never
 * passes one that commits later. SQLite has one writer at a time: the highest visible id.
 * PostgreSQL commits concurrent transactions in any order (node A's id 10 may commit after
 * node B's id 11): a SHARE lock on the table waits for the transactions inserting events
 * right now to finish, and ids handed out after it are higher than any seen under it.
 */
export async function maxCommittedEventId(db: Kysely<Database>): Promise<number> {
  if (!isPostgresDb(db)) return maxEventId(db);
  return db.transaction().execute(async (trx) => {
    await sql`SET LOCAL lock_timeout = '2s'`.execute(trx);
    await sql`LOCK TABLE events IN SHARE MODE`.execute(trx);
    return maxEventId(trx);
  });
}

export async function maxEventId(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('events').select((eb) => eb.fn.max('id').as('m')).executeTakeFirst();
  return row?.m == null ? 0 : Number(row.m);
}

/** Inserts deliveries; one that exists for the same endpoint and event is skipped (idempotent fan-out). */
export async function insertDeliveries(db: Kysely<Database>, rows: readonly WebhookDeliveryTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    await db.insertInto('webhook_deliveries').values(rows.slice(i, i + 200))
      .onConflict((oc) => oc.columns(['webhook_id', 'event_uid']).doNothing()).execute();
  }
}

/** Pending deliveries of one endpoint that are due, in event order. */
export async function findDueDeliveries(db: Kysely<Database>, webhookId: string, now: number, limit: number): Promise<WebhookDeliveryTable[]> {
  return db.selectFrom('webhook_deliveries').selectAll()
    .where('webhook_id', '=', webhookId).where('status', '=', 'pending').where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at').orderBy('event_id').limit(limit).execute();
}

/**
 * Leases deliveries for a call: next_attempt_at moves to `until`, so a node that dies
 * mid-call leaves them due again once the lease runs out. Returns the ids it got.
 */
export async function leaseDeliveries(db: Kysely<Database>, ids: readonly string[], now: number, until: number): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.updateTable('webhook_deliveries').set({ next_attempt_at: until })
    .where('id', 'in', [...ids]).where('status', '=', 'pending').where('next_attempt_at', '<=', now)
    .returning('id').execute();
  return new Set(rows.map((r) => r.id));
}

export interface DeliveryResult {
  readonly deliveryId: string;
  readonly webhookId: string;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly responseExcerpt: string | null;
  readonly succeeded: boolean;
  /** For a failure: when to try again, or null when the schedule ran out. */
  readonly nextAttemptAt: number | null;
}

/**
 * Records one call and the delivery's new state; returns the endpoint's failing_since after
 * it. An endpoint deleted during the call took its deliveries with it: nothing is recorded.
 */
export async function recordDeliveryAttempt(db: Kysely<Database>, r: DeliveryResult, now = Date.now()): Promise<number | null> {
  const exists = await db.selectFrom('webhook_deliveries').select('id').where('id', '=', r.deliveryId).executeTakeFirst();
  if (!exists) return null;
  await db.insertInto('webhook_attempts').values({
    delivery_id: r.deliveryId, webhook_id: r.webhookId, started_at: r.startedAt, duration_ms: r.durationMs,
    status_code: r.statusCode, error: r.error, response_excerpt: r.responseExcerpt, outcome: r.succeeded ? 'succeeded' : 'failed',
  }).execute();
  const status = r.succeeded ? 'succeeded' as const : r.nextAttemptAt === null ? 'failed' as const : 'pending' as const;
  await db.updateTable('webhook_deliveries').set((eb) => ({
    status, attempts: eb('attempts', '+', 1), next_attempt_at: r.nextAttemptAt ?? now,
    last_status: r.statusCode, last_error: r.error, updated_at: now,
  })).where('id', '=', r.deliveryId).where('status', '=', 'pending').execute();
  if (r.succeeded) {
    await db.updateTable('webhooks').set({ failing_since: null }).where('id', '=', r.webhookId).where('failing_since', 'is not', null).execute();
    return null;
  }
  await db.updateTable('webhooks').set({ failing_since: now }).where('id', '=', r.webhookId).where('failing_since', 'is', null).execute();
  const row = await db.selectFrom('webhooks').select('failing_since').where('id', '=', r.webhookId).executeTakeFirst();
  return row?.failing_since == null ? null : Number(row.failing_since);
}

export async function getDelivery(db: Kysely<Database>, tenantId: string, webhookId: string, id: string): Promise<WebhookDeliveryTable | undefined> {
  return db.selectFrom('webhook_deliveries').selectAll()
    .where('id', '=', id).where('webhook_id', '=', webhookId).where('tenant_id', '=', tenantId).executeTakeFirst();
}

export async function listDeliveriesPage(db: Kysely<Database>, tenantId: string, webhookId: string, page: PageRequest & { status?: string | undefined }): Promise<WebhookDeliveryTable[]> {
  let q = db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId).where('tenant_id', '=', tenantId);
  if (page.status !== undefined) q = q.where('status', '=', page.status as WebhookDeliveryTable['status']);
  if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
  return q.orderBy('id').limit(page.limit).execute();
}

/** The calls made for these deliveries, in order; at most `perDelivery` (the latest) each. */
export async function listAttemptsFor(db: Kysely<Database>, deliveryIds: readonly string[], perDelivery = 50): Promise<Map<string, WebhookAttemptRow[]>> {
  const out = new Map<string, WebhookAttemptRow[]>(deliveryIds.map((id) => [id, []]));
  if (deliveryIds.length === 0) return out;
  const rows = await db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', [...deliveryIds]).orderBy('id').execute();
  for (const row of rows) out.get(row.delivery_id)?.push(row);
  for (const [id, list] of out) if (list.length > perDelivery) out.set(id, list.slice(-perDelivery));
  return out;
}

/** Sends a delivery again now, with a fresh retry schedule. False when it is still pending. */
export async function replayDelivery(db: Kysely<Database>, id: string, now = Date.now()): Promise<boolean> {
  const r = await db.updateTable('webhook_deliveries').set((eb) => ({ status: 'pending', schedule_start: eb.ref('attempts'), next_attempt_at: now, updated_at: now }))
    .where('id', '=', id).where('status', '!=', 'pending').executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Replays every failed delivery of the endpoint created at or after `since`; returns how many. */
export async function replayFailedSince(db: Kysely<Database>, webhookId: string, since: number, now = Date.now()): Promise<number> {
  const r = await db.updateTable('webhook_deliveries').set((eb) => ({ status: 'pending', schedule_start: eb.ref('attempts'), next_attempt_at: now, updated_at: now }))
    .where('webhook_id', '=', webhookId).where('status', '=', 'failed').where('created_at', '>=', since).executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Deliveries by status (all tenants), for /metrics. */
export async function deliveryCounts(db: Kysely<Database>): Promise<{ pending: number; due: number }> {
  const now = Date.now();
  const pending = await db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow();
  const due = await db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'pending').where('next_attempt_at', '<=', now).executeTakeFirstOrThrow();
  return { pending: Number(pending.n), due: Number(due.n) };
}

/** Retention: deletes up to `limit` deliveries (and their calls) created before `cutoff`; returns how many. */
export async function deleteDeliveriesBefore(db: Kysely<Database>, cutoff: number, limit: number): Promise<number> {
  const ids = await db.selectFrom('webhook_deliveries').select('id').where('created_at', '<', cutoff).where('status', '!=', 'pending').limit(limit).execute();
  if (ids.length === 0) return 0;
  await db.deleteFrom('webhook_deliveries').where('id', 'in', ids.map((r) => r.id)).execute();
  return ids.length;
}
