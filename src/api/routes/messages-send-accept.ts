// Acceptance: prepared messages, their recipients and events go into the store in one
// group-committed transaction (with the Idempotency-Key record, when there is one), and
// the 202 is answered only after that commit is durable. Messages due now are inserted
// already claimed and handed to this node's delivery loop (as SMTP ingress does); scheduled
// ones wait in the queue with next_attempt_at = send_at.
import type { Config } from '../../config/index.ts';
import type { DeliveryHandoff } from '../../ingress/index.ts';
import type { ClaimedRecipient, Store } from '../../store/index.ts';
import { insertMessages, suppressedAmong, type Stream, type SuppressionHit, type SuppressionReason } from '../../store/index.ts';
import { isoTime } from '../schemas.ts';
import type { PreparedMessage } from './messages-send-prepare.ts';
import { findIdempotencyHit, rememberResponse, type IdempotencyClaim, type IdempotencyHit } from './send-idempotency.ts';

export type SendStatus = 'queued' | 'scheduled';
/** A recipient's status in the 202: also `suppressed` (on the tenant's list for the stream: not sent). */
export type RecipientSendStatus = SendStatus | 'suppressed';

/** What the client learns of an accepted message (the 202 body of a single send). */
export interface AcceptedMessage {
  id: string;
  status: SendStatus;
  send_at: string | null;
  recipients: Array<{ id: number; email: string; status: RecipientSendStatus; reason?: SuppressionReason }>;
}

export interface AcceptDeps {
  readonly store: Store;
  readonly config: Readonly<Config>;
  readonly handoff: DeliveryHandoff | null;
}

export type AcceptOutcome =
  | { readonly kind: 'accepted'; readonly status: number; readonly body: string }
  | IdempotencyHit;

/**
 * Stores `messages` for the tenant and returns the response built by `respond` (serialised,
 * so that exactly these bytes are remembered for the Idempotency-Key). With a claim whose
 * key is already known, nothing is stored and the earlier outcome is returned instead.
 */
export async function acceptMessages(
  deps: AcceptDeps,
  tenantId: string,
  messages: readonly PreparedMessage[],
  claim: IdempotencyClaim | null,
  respond: (accepted: readonly AcceptedMessage[]) => { status: number; body: unknown },
): Promise<AcceptOutcome> {
  const now = Date.now();
  if (messages.length === 0 && !claim) {
    const response = respond([]);
    return { kind: 'accepted', status: response.status, body: JSON.stringify(response.body) };
  }
  const lifetimeMs = deps.config.queue.max_lifetime;
  // Read before the write (outside the lock): an entry added in between is a race the
  // caller could not tell from adding it a moment later.
  const suppressed = await suppressionsFor(deps.store, tenantId, messages);
  const isSuppressed = (m: PreparedMessage, rcpt: string) => suppressed.get(m.stream)?.get(rcpt) ?? null;
  const immediate = messages.reduce((n, m) => n + (m.sendAt === null ? m.recipients.filter((r) => !isSuppressed(m, r)).length : 0), 0);
  const lease = immediate > 0 ? deps.handoff?.reserve(immediate) ?? null : null;
  let result: { outcome: AcceptOutcome; claimed: ClaimedRecipient[] };
  try {
    // The work may run twice (alone, after another write sank its group): it keeps no state outside.
    result = await deps.store.write(async (trx) => {
      if (claim) {
        const hit = await findIdempotencyHit(trx, tenantId, claim, now);
        if (hit) return { outcome: hit, claimed: [] };
      }
      const inserted = await insertMessages(trx, messages.map((m) => ({
        id: m.id, tenantId, origin: 'api' as const, stream: m.stream, mailFrom: m.mailFrom,
        body: { size: m.raw.length, inline: m.raw, path: null }, headerSize: m.headerSize,
        messageIdHeader: m.messageIdHeader, subject: m.subject, fromHeader: m.fromHeader, smtputf8: m.smtputf8,
        recipients: m.recipients.map((rcpt) => ({ rcpt, suppressed: isSuppressed(m, rcpt) })),
        tags: m.tags, metadata: m.metadata, sendAt: m.sendAt,
        leaseTo: m.sendAt === null ? lease : null,
      })), { now, lifetimeMs });
      const accepted: AcceptedMessage[] = [];
      const claimed: ClaimedRecipient[] = [];
      messages.forEach((m, i) => {
        const { claimed: rows, recipientIds } = inserted[i];
        if (m.sendAt === null && lease) claimed.push(...rows);
        const status: SendStatus = m.sendAt === null ? 'queued' : 'scheduled';
        accepted.push({
          id: m.id, status, send_at: m.sendAt === null ? null : isoTime(m.sendAt),
          recipients: m.recipients.map((email, j) => {
            const hit = isSuppressed(m, email);
            return hit ? { id: recipientIds[j], email, status: 'suppressed' as const, reason: hit.reason } : { id: recipientIds[j], email, status };
          }),
        });
      });
      const response = respond(accepted);
      const body = JSON.stringify(response.body);
      if (claim) await rememberResponse(trx, tenantId, claim, response.status, body, now);
      return { outcome: { kind: 'accepted' as const, status: response.status, body }, claimed };
    });
  } catch (err) {
    if (lease) deps.handoff?.release(immediate);
    throw err;
  }
  if (lease) {
    if (result.claimed.length > 0) deps.handoff?.deliver(result.claimed);
    // A replay inserted nothing; give back what was reserved for it.
    if (result.claimed.length < immediate) deps.handoff?.release(immediate - result.claimed.length);
  }
  return result.outcome;
}

/** Per stream, the recipients of `messages` on the tenant's suppression list. */
async function suppressionsFor(store: Store, tenantId: string, messages: readonly PreparedMessage[]): Promise<Map<string, Map<string, SuppressionHit>>> {
  const byStream = new Map<Stream, Set<string>>();
  for (const m of messages) {
    let set = byStream.get(m.stream);
    if (!set) byStream.set(m.stream, set = new Set());
    for (const r of m.recipients) set.add(r);
  }
  const out = new Map<string, Map<string, SuppressionHit>>();
  for (const [stream, addresses] of byStream) {
    const hits = await suppressedAmong(store.db, tenantId, stream, [...addresses]);
    if (hits.size > 0) out.set(stream, hits);
  }
  return out;
}
