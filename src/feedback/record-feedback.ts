// What an inbound report does to what we sent. Runs in the transaction that stores the report
// (accept-message.ts), so the 250 to the reporting MTA is sent only once its effects are
// committed. The recipient is known exactly from the VERP token; a feedback-loop report at a
// configured FBL address (no token) is matched by the original's Message-ID and recipient.
//   bounce, action failed  → message.bounced (async: true, classification, diagnostic); hard and
//                            block mark the recipient bounced; hard suppresses, soft counts.
//   bounce, action delayed → message.delayed (the remote is still trying).
//   complaint (ARF)        → message.complained; the address is suppressed (`complaint`).
//   auto-reply             → message.auto_replied; never a bounce.
// Whatever the mail is, one sent to a campaign message's mailto unsubscribe address (RFC 2369
// §3.2) unsubscribes its contact as the one-click POST does (campaigns/mailto-unsubscribe.ts).
import type { Kysely } from 'kysely';
import type { InboundReport, BouncedRecipient } from '../bounces/index.ts';
import { insertEvents, type Database, type NewEvent, type Stream } from '../store/index.ts';
import { applyMailtoUnsubscribes } from '../campaigns/mailto-unsubscribe.ts';
import { autoSuppress, type AutoSuppressOptions } from './auto-suppress.ts';

export interface FeedbackSource {
  /**
   * Recipient rows named by valid VERP tokens among the envelope recipients; negative numbers
   * stand for valid mailto unsubscribe tokens (VerpMatch), which name no recipient row.
   */
  readonly verpRecipientIds: readonly number[];
  /** True when the report came to a configured FBL address. */
  readonly viaFbl: boolean;
  /** The stored inbound message (the report itself), for the events. */
  readonly reportMessageId: string;
}

export interface FeedbackOutcome {
  readonly kind: InboundReport['kind'];
  /** Recipients of ours the report was matched to. */
  readonly matched: number;
  /** Addresses put on a suppression list. */
  readonly suppressed: readonly string[];
  /** Contacts unsubscribed through the mailto unsubscribe address. */
  readonly unsubscribed: number;
}

interface Target {
  readonly id: number;
  readonly messageId: string;
  readonly tenantId: string;
  readonly rcpt: string;
  readonly status: string;
  readonly stream: Stream;
  readonly tags: string | null;
  readonly metadata: string | null;
}

async function targetsOf(trx: Kysely<Database>, report: InboundReport, source: FeedbackSource): Promise<Target[]> {
  const rowIds = source.verpRecipientIds.filter((id) => id > 0);
  const base = trx.selectFrom('recipients').innerJoin('messages', 'messages.id', 'recipients.message_id')
    .select(['recipients.id as id', 'recipients.message_id as messageId', 'recipients.tenant_id as tenantId', 'recipients.rcpt as rcpt',
      'recipients.status as status', 'messages.stream as stream', 'messages.tags as tags', 'messages.metadata as metadata'])
    .where('recipients.tenant_id', 'is not', null);
  if (rowIds.length > 0) {
    return (await base.where('recipients.id', 'in', rowIds).execute()) as Target[];
  }
  // A feedback loop's report: the original's Message-ID, then its recipient (RFC 5965 §3.2
  // Original-Rcpt-To, or the original's To). When the provider redacted the recipient and the
  // message had several, nobody is blamed.
  if (!source.viaFbl || report.kind !== 'complaint' || !report.originalMessageId) return [];
  const rows = (await base.where('messages.message_id_header', '=', report.originalMessageId).execute()) as Target[];
  const named = new Set(report.recipients.map((a) => a.toLowerCase()));
  if (named.size > 0) return rows.filter((r) => named.has(r.rcpt.toLowerCase()));
  return rows.length === 1 ? rows : [];
}

/** The report's line about `rcpt`: by address, else (one recipient per VERP return path) the first failure or delay. */
function lineFor(recipients: readonly BouncedRecipient[], rcpt: string): BouncedRecipient | undefined {
  const lower = rcpt.toLowerCase();
  return recipients.find((r) => r.address.toLowerCase() === lower)
    ?? recipients.find((r) => r.action === 'failed')
    ?? recipients.find((r) => r.action === 'delayed');
}

function echo(t: Target): Record<string, unknown> {
  return {
    ...(t.tags ? { tags: JSON.parse(t.tags) as unknown } : {}),
    ...(t.metadata ? { metadata: JSON.parse(t.metadata) as unknown } : {}),
  };
}

export async function recordFeedback(trx: Kysely<Database>, report: InboundReport, source: FeedbackSource, options: AutoSuppressOptions, now = Date.now()): Promise<FeedbackOutcome> {
  const unsubscribed = await applyMailtoUnsubscribes(trx, source.reportMessageId, new Set(source.verpRecipientIds.filter((id) => id < 0)), now);
  if (report.kind === 'unknown') return { kind: report.kind, matched: 0, suppressed: [], unsubscribed };
  const targets = await targetsOf(trx, report, source);
  const events: NewEvent[] = [];
  const suppressed: string[] = [];
  for (const t of targets) {
    const base = { message_id: t.messageId, recipient: t.rcpt, recipient_id: t.id, async: true, report_message_id: source.reportMessageId, ...echo(t) };
    if (report.kind === 'bounce') {
      const line = lineFor(report.recipients, t.rcpt);
      if (!line || (line.action !== 'failed' && line.action !== 'delayed')) continue;
      const facts = {
        ...base, classification: line.class, enhanced: line.status, code: line.smtpCode, diagnostic: line.diagnostic,
        reporting_mta: report.reportingMta ?? null, remote_mta: line.remoteMta ?? null,
      };
      if (line.action === 'delayed') {
        events.push({ type: 'message.delayed', tenantId: t.tenantId, messageId: t.messageId, recipientId: t.id, data: facts });
        continue;
      }
      events.push({ type: 'message.bounced', tenantId: t.tenantId, messageId: t.messageId, recipientId: t.id, data: facts });
      if (line.class !== 'soft' && t.status === 'delivered') {
        // Accepted by the next hop, refused later: the recipient's final state is a bounce after all.
        await trx.updateTable('recipients').set({ status: 'bounced', last_code: line.smtpCode, last_enhanced: line.status, last_response: line.diagnostic.slice(0, 1000), updated_at: now })
          .where('id', '=', t.id).execute();
      }
      const reason = await autoSuppress(trx, { tenantId: t.tenantId, stream: t.stream, address: t.rcpt, kind: line.class, description: line.diagnostic, messageId: t.messageId }, options, now);
      if (reason) suppressed.push(t.rcpt);
    } else if (report.kind === 'complaint') {
      events.push({
        type: 'message.complained', tenantId: t.tenantId, messageId: t.messageId, recipientId: t.id,
        data: { ...base, feedback_type: report.feedbackType, user_agent: report.userAgent ?? null, source_ip: report.sourceIp ?? null, arrival_date: report.arrivalDate ?? null, feedback_id: report.feedbackId ?? null },
      });
      await autoSuppress(trx, { tenantId: t.tenantId, stream: t.stream, address: t.rcpt, kind: 'complaint', description: `complaint (${report.feedbackType})${report.userAgent ? ` via ${report.userAgent}` : ''}`, messageId: t.messageId }, options, now);
      suppressed.push(t.rcpt);
    } else {
      events.push({ type: 'message.auto_replied', tenantId: t.tenantId, messageId: t.messageId, recipientId: t.id, data: { ...base, reason: report.reason } });
    }
  }
  await insertEvents(trx, events, now);
  return { kind: report.kind, matched: targets.length, suppressed, unsubscribed };
}
