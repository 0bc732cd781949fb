// Turning an attempt's outcomes into state: recipient rows, attempt rows, events and, for
// failures, the RFC 3464 DSN to the sender, all in one transaction (the outbox rule: the
// event exists exactly when the state change does).
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import { buildDsn, type DsnRecipient } from '../delivery/dsn.ts';
import { classifyBounce } from '../delivery/bounce-class.ts';
import type { GroupAttempt, GroupOutcome } from '../delivery/deliver-group.ts';
import {
  newId, insertMessage, markDelayDsn, recordOutcomes,
  type ClaimedRecipient, type Database, type NewAttempt, type Stream, type NewEvent, type RecipientUpdate, type NewMessage,
} from '../store/index.ts';
import { nextAttempt } from './retry-schedule.ts';
import { autoSuppress, type AutoSuppressEntry, type AutoSuppressOptions } from '../feedback/auto-suppress.ts';

export interface MessageInfo {
  readonly id: string;
  readonly tenantId: string | null;
  readonly origin: string;
  readonly mailFrom: string;
  readonly isBounce: boolean;
  readonly createdAt: number;
  readonly headerSize: number;
  readonly size: number;
  readonly dsnRet: 'FULL' | 'HDRS' | null;
  readonly dsnEnvid: string | null;
  /** As given at send time (HTTP API), echoed in every event of the message. */
  readonly tags?: readonly string[] | null;
  readonly metadata?: Record<string, unknown> | null;
  readonly body: () => Buffer | Readable;
  /** The message's stream: whose suppression list a hard bounce or repeated soft failure lands on. */
  readonly stream?: Stream;
}

export interface SettleOptions {
  readonly owner: string;
  readonly hostname: string;
  readonly retrySchedule: readonly number[];
  readonly queueLifetimeMs: number;
  /** Hard bounces and repeated expiries of tenant mail go on the suppression list (feedback/auto-suppress.ts). */
  readonly autoSuppress?: AutoSuppressOptions;
  /** queue.delay_warning_after: a NOTIFY=DELAY recipient still deferred this long gets one "delayed" DSN; 0 or absent: never. */
  readonly delayWarningAfterMs?: number;
}

export interface Settlement {
  readonly write: (trx: Kysely<Database>) => Promise<Set<number>>;
  readonly final: boolean;
  readonly dsnQueued: boolean;
}

type Fate = 'delivered' | 'deferred' | 'bounced' | 'expired';

function notifySet(notify: string | null): Set<string> {
  return new Set((notify ?? '').toUpperCase().split(',').filter(Boolean));
}

/** RFC 3461 §4.1: without NOTIFY, failures are reported; NEVER silences everything. */
function wantsDsn(notify: string | null, kind: 'FAILURE' | 'SUCCESS' | 'DELAY'): boolean {
  const set = notifySet(notify);
  if (set.size === 0) return kind === 'FAILURE';
  if (set.has('NEVER')) return false;
  return set.has(kind);
}

export async function settle(message: MessageInfo, claimed: readonly ClaimedRecipient[], outcomes: readonly GroupOutcome[], attempt: GroupAttempt, options: SettleOptions): Promise<Settlement> {
  const now = Date.now();
  const byId = new Map(claimed.map((c) => [c.id, c]));
  const updates: RecipientUpdate[] = [];
  const attempts: NewAttempt[] = [];
  const events: NewEvent[] = [];
  const dsnFailed: PendingDsnRecipient[] = [];
  const dsnSuccess: PendingDsnRecipient[] = [];
  const dsnDelayed: PendingDsnRecipient[] = [];
  const delayAfter = options.delayWarningAfterMs ?? 0;
  const failures: Array<{ recipientId: number; entry: AutoSuppressEntry }> = [];
  // Held back by our own pacing (quota, warm-up, rate, back-off): no remote was asked, so
  // the claim's `attempts + 1` is given back (attempts drive the retry schedule).
  const paced: number[] = [];
  let final = true;
  for (const o of outcomes) {
    const r = byId.get(o.id);
    if (!r) continue;
    let fate: Fate = o.status;
    let nextAt: number | undefined;
    // The attempt that decided this recipient (another source address than the group's, issue 5).
    const a = o.attempt ?? attempt;
    if (o.status === 'deferred') {
      // Deferred by our own pacing (quota, warm-up, rate): at the time it allows, not the retry schedule.
      const next = o.retryAt !== undefined
        ? (now >= r.expiresAt ? { expired: true as const } : { expired: false as const, at: Math.min(Math.max(o.retryAt, now), r.expiresAt) })
        : nextAttempt(options.retrySchedule, r.attempts, now, r.expiresAt);
      if (next.expired) fate = 'expired';
      else {
        nextAt = next.at;
        final = false;
        if (o.retryAt !== undefined && o.code === null) paced.push(r.id);
      }
    }
    updates.push({ id: r.id, owner: options.owner, status: fate, nextAttemptAt: nextAt, code: o.code, enhanced: o.enhanced, response: o.response, mx: a.mxHost });
    // Tries from source addresses the destination blocked, earlier in this attempt.
    for (const e of o.earlier ?? []) {
      attempts.push({
        recipientId: r.id, messageId: message.id, startedAt: now - e.attempt.durationMs, durationMs: e.attempt.durationMs,
        outcome: 'deferred', mxHost: e.attempt.mxHost, ip: e.attempt.ip, port: e.attempt.port, code: e.code, enhanced: e.enhanced,
        response: e.response, tlsVersion: e.attempt.tlsVersion, tlsCipher: e.attempt.tlsCipher,
        sourceIp: e.attempt.sourceIp ?? null, pool: e.attempt.pool ?? null, tlsOutcome: e.attempt.tlsOutcome ?? null,
      });
    }
    attempts.push({
      recipientId: r.id, messageId: message.id, startedAt: now - a.durationMs, durationMs: a.durationMs,
      outcome: o.status, mxHost: a.mxHost, ip: a.ip, port: a.port, code: o.code, enhanced: o.enhanced,
      response: o.response, tlsVersion: a.tlsVersion, tlsCipher: a.tlsCipher,
      sourceIp: a.sourceIp ?? null, pool: a.pool ?? null, tlsOutcome: a.tlsOutcome ?? null,
    });
    const base = {
      message_id: message.id, recipient: r.rcpt, recipient_id: r.id, attempt: r.attempts,
      mx_host: a.mxHost, ip: a.ip, code: o.code, enhanced: o.enhanced, response: o.response,
      tls: a.tlsVersion ? { version: a.tlsVersion, cipher: a.tlsCipher } : null,
      source_ip: a.sourceIp ?? null, pool: a.pool ?? null,
      ...(a.tlsOutcome ? { tls_outcome: a.tlsOutcome } : {}),
      ...a.eventFields,
      ...(a.captured ? { captured: true } : {}),
      ...(message.tags ? { tags: message.tags } : {}),
      ...(message.metadata ? { metadata: message.metadata } : {}),
    };
    const eventData: Record<string, unknown> =
      fate === 'deferred' ? { ...base, next_attempt_at: new Date(nextAt!).toISOString() }
      : fate === 'bounced' ? { ...base, classification: classifyBounce(o.enhanced, o.code), diagnostic: o.response }
      : fate === 'expired' ? { ...base, diagnostic: o.response, expired_at: new Date(now).toISOString() }
      : base;
    events.push({ type: `message.${fate}`, tenantId: message.tenantId, messageId: message.id, recipientId: r.id, data: eventData });
    if (message.tenantId && !a.captured && (fate === 'bounced' || fate === 'expired')) {
      const kind = fate === 'expired' ? 'soft' : classifyBounce(o.enhanced, o.code);
      failures.push({ recipientId: r.id, entry: { tenantId: message.tenantId, stream: message.stream ?? 'transactional', address: r.rcpt, kind, description: o.response, messageId: message.id } });
    }
    const dsnBase = { address: r.rcpt, orcpt: r.orcpt, remoteMta: a.mxHost, lastAttemptAt: new Date(now) };
    if ((fate === 'bounced' || fate === 'expired') && wantsDsn(r.notify, 'FAILURE')) {
      // RFC 3463: a bounce reports the remote's permanent code; an expiry reports 4.4.7.
      const status = fate === 'expired' ? '4.4.7' : o.enhanced?.startsWith('5.') ? o.enhanced : '5.0.0';
      dsnFailed.push({ recipientId: r.id, dsn: { ...dsnBase, action: 'failed', status, diagnostic: o.code ? o.response : null } });
    } else if (fate === 'delivered' && !a.remoteSupportsDsn && wantsDsn(r.notify, 'SUCCESS')) {
      // RFC 3461 §5.2.2: the next hop does not speak DSN, so we report "relayed" ourselves.
      dsnSuccess.push({ recipientId: r.id, dsn: { ...dsnBase, action: 'relayed', status: '2.0.0', diagnostic: o.code ? o.response : null } });
    } else if (fate === 'deferred' && !r.delayDsnSent && o.retryAt === undefined && delayAfter > 0 && now - message.createdAt >= delayAfter && wantsDsn(r.notify, 'DELAY')) {
      // RFC 3461 §4.1 / RFC 3464 §2.3.3: the sender asked to hear of delays. Once per
      // recipient (write() marks it, and the next claim says so); not for our own pacing,
      // which is no delivery problem.
      const status = o.enhanced?.startsWith('4.') ? o.enhanced : '4.0.0';
      dsnDelayed.push({ recipientId: r.id, dsn: { ...dsnBase, action: 'delayed', status, diagnostic: o.code ? o.response : null, willRetryUntil: new Date(r.expiresAt) } });
    }
  }
  // Never a DSN for a DSN, for the null sender, or for mail not submitted over SMTP.
  const mayDsn = message.mailFrom !== '' && !message.isBounce && message.origin === 'smtp';
  const groups = mayDsn ? [dsnFailed, dsnSuccess, dsnDelayed].filter((g) => g.length > 0) : [];
  const original = groups.length > 0 ? await readOriginal(message) : null;
  // Built before the transaction (no I/O inside it) for every recipient reported on; the
  // rare subset in write() is rebuilt from the bytes already read.
  const dsns = await Promise.all(groups.map(async (group) => ({ group, full: await dsnMessage(message, group.map((p) => p.dsn), original!, options) })));
  return {
    final,
    dsnQueued: dsns.length > 0,
    write: async (trx) => {
      const applied = await recordOutcomes(trx, updates, attempts, events, now);
      await givePacedAttemptsBack(trx, paced.filter((id) => applied.has(id)));
      if (options.autoSuppress) {
        for (const f of failures) if (applied.has(f.recipientId)) await autoSuppress(trx, f.entry, options.autoSuppress, now);
      }
      for (const { group, full } of dsns) {
        // A recipient whose row was not updated (cancelled meanwhile, or its lease taken
        // over) has no failure on record, so the DSN must not report one either.
        let reported = group.filter((p) => applied.has(p.recipientId));
        if (group === dsnDelayed && reported.length > 0) {
          // At most one "delayed" DSN per recipient: only those not reported on before.
          const first = await markDelayDsn(trx, reported.map((p) => p.recipientId), now);
          reported = reported.filter((p) => first.has(p.recipientId));
        }
        if (reported.length === 0) continue;
        const dsn = reported.length === group.length ? full : await dsnMessage(message, reported.map((p) => p.dsn), original!, options);
        await insertMessage(trx, dsn, { now, lifetimeMs: options.queueLifetimeMs });
      }
      return applied;
    },
  };
}

// Issue 5: "pacing deferrals still count as attempts". Claims count an attempt up front
// (store/repos/queue.ts); one that never reached a remote is undone here, in the same transaction.
async function givePacedAttemptsBack(trx: Kysely<Database>, ids: readonly number[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 500) {
    await trx.updateTable('recipients').set((eb) => ({ attempts: eb('attempts', '-', 1) }))
      .where('id', 'in', ids.slice(i, i + 500)).where('attempts', '>', 0).execute();
  }
}

interface PendingDsnRecipient {
  readonly recipientId: number;
  readonly dsn: DsnRecipient;
}

/** The original, read once, as far as a DSN returns it in full (1 MiB, dsn.ts): one byte more tells it is larger. */
async function readOriginal(message: MessageInfo): Promise<Buffer> {
  const body = message.body();
  return Buffer.isBuffer(body) ? body : readHead(body, Math.min(message.size, 1024 * 1024 + 1));
}

async function dsnMessage(message: MessageInfo, recipients: DsnRecipient[], original: Buffer, options: SettleOptions): Promise<NewMessage> {
  const id = newId();
  const bytes = await buildDsn({
    reportingMta: options.hostname,
    from: `MAILER-DAEMON@${options.hostname}`,
    to: message.mailFrom,
    envid: message.dsnEnvid,
    ret: message.dsnRet,
    arrivalDate: new Date(message.createdAt),
    recipients,
    originalHeaders: original.subarray(0, message.headerSize),
    originalMessage: () => original,
    originalSize: message.size,
    messageId: `<${id}@${options.hostname}>`,
  });
  const headerEnd = bytes.indexOf('\r\n\r\n');
  return {
    id,
    tenantId: message.tenantId,
    origin: 'dsn',
    mailFrom: '',
    body: { size: bytes.length, inline: bytes, path: null },
    headerSize: headerEnd < 0 ? bytes.length : headerEnd + 4,
    messageIdHeader: `<${id}@${options.hostname}>`,
    subject: recipients[0].action === 'failed' ? 'Undelivered Mail Returned to Sender' : 'Delivery Status Notification (Success)',
    fromHeader: `MAILER-DAEMON@${options.hostname}`,
    isBounce: true,
    recipients: [{ rcpt: message.mailFrom }],
  };
}

async function readHead(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= limit) break;
  }
  stream.destroy();
  return Buffer.concat(chunks, size).subarray(0, limit);
}
