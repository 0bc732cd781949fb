import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { Database, RecipientStatus } from '../database.ts';
import { insertEvents, type NewEvent } from './events.ts';
import { isPostgresDb } from '../sql-dialect.ts';
import { QUEUE_CHANNEL } from '../postgres/queue-notifier.ts';

export interface ClaimedRecipient {
  readonly id: number;
  readonly messageId: string;
  readonly tenantId: string | null;
  readonly rcpt: string;
  readonly domain: string;
  readonly attempts: number;
  readonly expiresAt: number;
  readonly notify: string | null;
  readonly orcpt: string | null;
  /** Its RFC 3461 "delayed" DSN is already queued (recipients.delay_dsn_at): settle sends no other. */
  readonly delayDsnSent?: boolean;
}

/**
 * Claims due recipients for `owner`: queued or deferred rows whose time has come, and
 * in-flight rows whose lease expired (their worker died). The attempt is counted here,
 * before anything is dialled, so a crash mid-delivery shows as an attempt and a retry.
 */
export async function claimDue(db: Kysely<Database>, options: { owner: string; now: number; leaseMs: number; limit: number; includeExpiredLeases?: boolean }): Promise<ClaimedRecipient[]> {
  const { owner, now, leaseMs, limit } = options;
  const postgres = isPostgresDb(db);
  const claim = async (due: SelectQueryBuilder<Database, 'recipients', { id: number }>) => {
    // PostgreSQL, several nodes: rows another node is claiming right now are skipped, not
    // waited for (FOR UPDATE SKIP LOCKED), so workers never queue up behind each other and
    // no row is claimed twice. SQLite has one writer at a time and needs neither.
    if (postgres) due = due.forUpdate().skipLocked();
    const rows = await db.updateTable('recipients')
      .set({ status: 'inflight', lease_owner: owner, lease_expires_at: now + leaseMs, attempts: sql`attempts + 1`, updated_at: now })
      .where('id', 'in', due)
      .returning(['id', 'message_id', 'tenant_id', 'rcpt', 'domain', 'attempts', 'expires_at', 'dsn_notify', 'dsn_orcpt', 'delay_dsn_at'])
      .execute();
    return rows.map(toClaimed);
  };
  // Two scans, each on its own partial index (an OR of both would scan the table).
  const claimed = await claim(db.selectFrom('recipients').select('id')
    .where('status', 'in', ['queued', 'deferred']).where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at').limit(limit));
  if (options.includeExpiredLeases !== false && claimed.length < limit) {
    claimed.push(...await claim(db.selectFrom('recipients').select('id')
      .where('status', '=', 'inflight').where('lease_expires_at', '<=', now)
      .orderBy('lease_expires_at').limit(limit - claimed.length)));
  }
  return claimed;
}

function toClaimed(r: { id: number; message_id: string; tenant_id: string | null; rcpt: string; domain: string; attempts: number; expires_at: number; dsn_notify: string | null; dsn_orcpt: string | null; delay_dsn_at: number | null }): ClaimedRecipient {
  return {
    id: Number(r.id), messageId: r.message_id, tenantId: r.tenant_id, rcpt: r.rcpt, domain: r.domain,
    attempts: Number(r.attempts), expiresAt: Number(r.expires_at), notify: r.dsn_notify, orcpt: r.dsn_orcpt,
    delayDsnSent: r.delay_dsn_at !== null,
  };
}

/** Earliest time anything becomes due (for the scheduler's sleep), or null when idle. */
export async function nextDueAt(db: Kysely<Database>): Promise<number | null> {
  const row = await db.selectFrom('recipients').select((eb) => eb.fn.min('next_attempt_at').as('t'))
    .where('status', 'in', ['queued', 'deferred']).executeTakeFirst();
  return row?.t == null ? null : Number(row.t);
}

/**
 * Start-up and shutdown: work leased by a previous run of this node (or by this run) is due
 * again now. `owner` names one run; `ownerPrefix` every run of one node (PostgreSQL, where
 * the other nodes' leases must be left alone); neither, every lease (SQLite, one node).
 */
export async function releaseLeases(db: Kysely<Database>, options: { owner?: string; ownerPrefix?: string; now: number }): Promise<number> {
  let q = db.updateTable('recipients').set({ status: 'deferred', lease_owner: null, lease_expires_at: null, next_attempt_at: options.now })
    .where('status', '=', 'inflight');
  if (options.owner) q = q.where('lease_owner', '=', options.owner);
  if (options.ownerPrefix) q = q.where('lease_owner', 'like', `${options.ownerPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  const res = await q.executeTakeFirst();
  if (Number(res.numUpdatedRows) > 0) await notifyQueueOnCommit(db);
  return Number(res.numUpdatedRows);
}

/**
 * Extends the leases of `ids` that `owner` still holds to now + leaseMs: a live worker keeps
 * the work it is doing or queueing however long that takes, and only a dead one's leases run
 * out (then another worker takes them over). Only the ids the worker holds in memory: a row
 * whose outcome could not be recorded must expire, not be kept forever. Answers how many.
 */
export async function renewLeases(db: Kysely<Database>, owner: string, ids: readonly number[], now: number, leaseMs: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < ids.length; i += 500) {
    const res = await db.updateTable('recipients').set({ lease_expires_at: now + leaseMs })
      .where('id', 'in', ids.slice(i, i + 500)).where('status', '=', 'inflight').where('lease_owner', '=', owner).executeTakeFirst();
    n += Number(res.numUpdatedRows);
  }
  return n;
}

/** Hands claims back (deferred, due at `at`) that `owner` still holds: an attempt that could not run. */
export async function deferClaims(db: Kysely<Database>, owner: string, ids: readonly number[], at: number): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db.updateTable('recipients').set({ status: 'deferred', lease_owner: null, lease_expires_at: null, next_attempt_at: at, updated_at: Date.now() })
    .where('id', 'in', [...ids]).where('status', '=', 'inflight').where('lease_owner', '=', owner).executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/**
 * Cancels claimed recipients whose message cannot be made (a campaign message whose campaign
 * is gone, campaigns/campaign-body.ts): `message.cancelled` each, with the reason.
 */
export async function cancelClaims(db: Kysely<Database>, owner: string, ids: readonly number[], reason: string, now = Date.now()): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await db.updateTable('recipients').set({ status: 'cancelled', lease_owner: null, lease_expires_at: null, updated_at: now })
    .where('id', 'in', [...ids]).where('status', '=', 'inflight').where('lease_owner', '=', owner)
    .returning(['id', 'tenant_id', 'message_id', 'rcpt']).execute();
  await insertEvents(db, rows.map((r) => cancelledEvent(r.tenant_id, r, reason)), now);
  return rows.length;
}

/** The `message.cancelled` event of a recipient (docs/events.md); `reason` when delivery, not a user, cancelled it. */
export function cancelledEvent(tenantId: string | null, r: { readonly id: number | bigint; readonly message_id: string; readonly rcpt: string }, reason?: string): NewEvent {
  return {
    type: 'message.cancelled', tenantId, messageId: r.message_id, recipientId: Number(r.id),
    data: { message_id: r.message_id, recipient: r.rcpt, ...(reason === undefined ? {} : { reason }) },
  };
}

/** The size of a message made when sent (`body_render`), recorded at its first attempt. */
export async function recordMadeSize(db: Kysely<Database>, messageId: string, size: number, headerSize: number): Promise<void> {
  await db.updateTable('messages').set({ size, header_size: headerSize }).where('id', '=', messageId).execute();
}

/**
 * PostgreSQL: wakes every node's delivery scheduler when this transaction commits (NOTIFY is
 * delivered at COMMIT, and repeated ones in a transaction fold into one). Call it in a
 * transaction that made recipients due without claiming them. No-op on SQLite.
 */
export async function notifyQueueOnCommit(db: Kysely<Database>): Promise<void> {
  if (isPostgresDb(db)) await sql`select pg_notify(${QUEUE_CHANNEL}, '')`.execute(db);
}

export interface RecipientUpdate {
  readonly id: number;
  readonly owner: string;
  readonly status: RecipientStatus;
  readonly nextAttemptAt?: number;
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly response: string | null;
  readonly mx: string | null;
}

export interface NewAttempt {
  readonly recipientId: number;
  readonly messageId: string;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly outcome: 'delivered' | 'deferred' | 'bounced';
  readonly mxHost: string | null;
  readonly ip: string | null;
  readonly port: number | null;
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly response: string | null;
  readonly tlsVersion: string | null;
  readonly tlsCipher: string | null;
  /** 0010: local address, pool and TLS outcome of the attempt (issue 5). */
  readonly sourceIp?: string | null;
  readonly pool?: string | null;
  readonly tlsOutcome?: string | null;
}

/**
 * Marks that these recipients' RFC 3461 "delayed" DSN is being queued (in the transaction
 * that queues it); answers those not marked before, which alone get one.
 */
export async function markDelayDsn(db: Kysely<Database>, ids: readonly number[], now: number): Promise<Set<number>> {
  const marked = new Set<number>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db.updateTable('recipients').set({ delay_dsn_at: now })
      .where('id', 'in', ids.slice(i, i + 500)).where('delay_dsn_at', 'is', null)
      .returning('id').execute();
    for (const r of rows) marked.add(Number(r.id));
  }
  return marked;
}

/**
 * Records the outcome of an attempt: recipient state, attempt rows and events, in the
 * caller's transaction. A row whose lease another worker took over is left alone
 * (returns false for it), so a late finisher cannot undo newer work.
 */
export async function recordOutcomes(db: Kysely<Database>, updates: readonly RecipientUpdate[], attempts: readonly NewAttempt[], events: readonly NewEvent[], now: number): Promise<Set<number>> {
  const applied = new Set<number>();
  for (const u of updates) {
    const res = await db.updateTable('recipients').set({
      status: u.status,
      next_attempt_at: u.nextAttemptAt ?? now,
      lease_owner: null,
      lease_expires_at: null,
      last_code: u.code,
      last_enhanced: u.enhanced,
      last_response: u.response,
      last_mx: u.mx,
      updated_at: now,
    }).where('id', '=', u.id).where('status', '=', 'inflight').where('lease_owner', '=', u.owner).executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) applied.add(u.id);
  }
  const keep = attempts.filter((a) => applied.has(a.recipientId));
  for (let i = 0; i < keep.length; i += 200) {
    await db.insertInto('attempts').values(keep.slice(i, i + 200).map((a) => ({
      recipient_id: a.recipientId, message_id: a.messageId, started_at: a.startedAt, duration_ms: a.durationMs,
      outcome: a.outcome, mx_host: a.mxHost, ip: a.ip, port: a.port, code: a.code, enhanced: a.enhanced,
      response: a.response, tls_version: a.tlsVersion, tls_cipher: a.tlsCipher,
      source_ip: a.sourceIp ?? null, pool: a.pool ?? null, tls_outcome: a.tlsOutcome ?? null,
    }))).execute();
  }
  await insertEvents(db, events.filter((e) => e.recipientId == null || applied.has(e.recipientId)), now);
  return applied;
}

export interface QueueFilter {
  readonly state?: RecipientStatus | undefined;
  readonly tenantId?: string | undefined;
  readonly limit?: number | undefined;
}

export async function listQueue(db: Kysely<Database>, filter: QueueFilter = {}) {
  let q = db.selectFrom('recipients').innerJoin('messages', 'messages.id', 'recipients.message_id')
    .select(['recipients.id', 'recipients.message_id', 'recipients.rcpt', 'recipients.status', 'recipients.attempts',
      'recipients.next_attempt_at', 'recipients.last_code', 'recipients.last_enhanced', 'recipients.last_response',
      'messages.mail_from', 'messages.subject', 'messages.size', 'messages.created_at', 'messages.tenant_id']);
  if (filter.state) q = q.where('recipients.status', '=', filter.state);
  else q = q.where('recipients.status', 'in', ['queued', 'inflight', 'deferred']);
  if (filter.tenantId) q = q.where('recipients.tenant_id', '=', filter.tenantId);
  return q.orderBy('recipients.id').limit(filter.limit ?? 1000).execute();
}

/** Makes queued/deferred recipients due now; by message id, or all with `all`. */
export async function retryNow(db: Kysely<Database>, target: { messageId: string } | { all: true }, now = Date.now()): Promise<number> {
  let q = db.updateTable('recipients').set({ next_attempt_at: now, updated_at: now }).where('status', 'in', ['queued', 'deferred']);
  if ('messageId' in target) q = q.where('message_id', '=', target.messageId);
  const n = Number((await q.executeTakeFirst()).numUpdatedRows);
  if (n > 0) await notifyQueueOnCommit(db);
  return n;
}

/**
 * Cancels the message's recipients that are not final yet (queue delete). Returns how many;
 * the caller removes the spool file once nothing is in flight (see bodyPathIfFinal).
 */
export async function cancelMessage(db: Kysely<Database>, messageId: string, now = Date.now()): Promise<number> {
  const rows = await db.updateTable('recipients').set({ status: 'cancelled', lease_owner: null, lease_expires_at: null, updated_at: now })
    .where('message_id', '=', messageId).where('status', 'in', ['queued', 'deferred', 'inflight'])
    .returning(['id', 'tenant_id', 'rcpt']).execute();
  await insertEvents(db, rows.map((r) => cancelledEvent(r.tenant_id, { ...r, message_id: messageId })), now);
  return rows.length;
}

export async function queueCounts(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db.selectFrom('recipients').select(['status', (eb) => eb.fn.countAll().as('n')]).groupBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}
