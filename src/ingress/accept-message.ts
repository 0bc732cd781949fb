// DATA (RFC 5321 §4.1.1.4): stream the message through intake into the spool, then commit
// message + recipients + event in one group-committed transaction, and only then reply 250
// with the queue id. Any failure before the commit answers 4xx/5xx: nothing is half-accepted.
// With X-Postline-Idempotency-Key (idempotency.ts) the key is looked up and recorded in that
// same transaction, so of two concurrent submissions with one key exactly one is stored.
import { pipeline } from 'node:stream/promises';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Logger } from 'pino';
import { smtpError, SmtpError, domainOf } from '../smtp/index.ts';
import { parseInboundReport, authenticationResults, type InboundReport } from '../bounces/index.ts';
import { recordFeedback, type FeedbackOutcome } from '../feedback/record-feedback.ts';
import type { InboundFeedback } from '../feedback/inbound-feedback.ts';
import type { VerpCodec } from '../feedback/verp.ts';
import { newId, insertMessage, suppressedAmong, type StoredBody, type Store, type NewRecipient, type ClaimedRecipient } from '../store/index.ts';
import { storeErrorKind } from '../store/store-errors.ts';
import { MessageIntake } from './message-intake.ts';
import { rewriteHeaders, type HeaderFacts } from './header-policy.ts';
import type { ListenerKind, SessionUser } from './session-policy.ts';
import { domainInSet, type TenantDirectory } from './tenant-directory.ts';
import {
  FingerprintTap, findSmtpIdempotencyHit, idempotencyConflict, maybePurgeIdempotencyKeys, rememberQueueId,
  type SmtpIdempotencyClaim, type SmtpIdempotencyHit,
} from './idempotency.ts';

export interface AcceptContext {
  readonly kind: ListenerKind;
  readonly store: Store;
  readonly directory: TenantDirectory;
  readonly hostname: string;
  readonly hostedDomains: ReadonlySet<string>;
  readonly maxMessageBytes: number;
  readonly maxHeaderBytes: number;
  readonly queueLifetimeMs: number;
  readonly log: Logger;
  /** Hands accepted recipients straight to delivery (optional: without it the queue polls). */
  readonly handoff?: DeliveryHandoff;
  /** MX side: bounce/complaint intake and Authentication-Results (feedback/); absent: plain inbound mail. */
  readonly feedback?: InboundFeedback | null;
}

/** What ingress needs of the delivery loop; implemented by queue/'s scheduler. */
export interface DeliveryHandoff {
  reserve(count: number): { owner: string; leaseMs: number } | null;
  deliver(claimed: readonly ClaimedRecipient[]): void;
  release(count: number): void;
}

export async function acceptMessage(ctx: AcceptContext, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
  const user = session.user as SessionUser | undefined;
  const envelope = session.envelope;
  const queueId = newId();
  const rcpts = envelope.rcptTo;
  const facts: HeaderFacts = { messageId: null, subject: null, from: null, stream: 'transactional', isBounce: false };
  // From: is checked inside the synchronous header callback, so load the tenant's domains first.
  const owned = user ? await ctx.directory.domainsOf(user.tenant.id) : new Set<string>();
  const tls = session.tlsOptions || null;
  const intake = new MessageIntake({
    maxMessageBytes: ctx.maxMessageBytes,
    maxHeaderBytes: ctx.maxHeaderBytes,
    rewriteHeaders: (headers) => rewriteHeaders(headers, {
      kind: ctx.kind,
      hostname: ctx.hostname,
      queueId,
      heloName: session.hostNameAppearsAs || '',
      clientHostname: session.clientHostname || '',
      clientAddress: session.remoteAddress,
      secure: session.secure,
      authenticated: !!user && !user.viaRelayNetwork,
      // version is the negotiated protocol (set in onSecure); standardName is the IANA cipher name.
      tlsProtocol: tls ? tls.version || null : null,
      tlsCipher: tls ? tls.standardName || tls.name : null,
      singleRecipient: rcpts.length === 1 ? rcpts[0].address : null,
      date: new Date(),
    }, user, (domains) => domains.every((d) => domainInSet(owned, d)), facts),
  });
  const writer = ctx.store.spool.createWriter(queueId);
  // Only a tenant's mail can carry an idempotency key; hash what arrives only for those.
  const tap = user ? new FingerprintTap(envelope.mailFrom ? envelope.mailFrom.address : '', rcpts.map((r) => r.address)) : null;
  try {
    if (tap) await pipeline(stream, tap, intake, writer);
    else await pipeline(stream, intake, writer);
  } catch (err) {
    writer.destroy();
    throw storeFailure(err);
  }
  // Checked first, as MessageIntake ranks it: the smuggling defence answers the same way
  // whether or not the message is also too big.
  if (intake.problem === 'bare-newline') {
    await discard(ctx, writer);
    // RFC 5321 §2.3.8: CR and LF only as CRLF. Refusing (not repairing) keeps SMTP smuggling impossible.
    throw smtpError('C550BadContent', 'Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 §2.3.8)');
  }
  if (stream.sizeExceeded || intake.problem === 'too-big') {
    await discard(ctx, writer);
    throw smtpError('C552TooBig', `Message exceeds the maximum size of ${ctx.maxMessageBytes} bytes`);
  }
  if (intake.problem === 'header-too-big') {
    await discard(ctx, writer);
    throw smtpError('C552HeaderTooBig', `Header section exceeds ${ctx.maxHeaderBytes} bytes`);
  }
  if (intake.problem === 'rejected') {
    await discard(ctx, writer);
    const err = intake.problemError;
    throw err instanceof SmtpError ? err : smtpError('C451LocalErr', 'Temporary problem processing the message', { cause: err, userError: false });
  }
  if (writer.result.path) {
    try {
      await ctx.store.spool.syncDir();
    } catch (err) {
      await discard(ctx, writer);
      throw storeFailure(err);
    }
  }
  // On the MX side, mail for hosted domains (and VERP return paths) stays here; only an authorised client relays.
  const verpIds = ctx.kind === 'mx' && ctx.feedback?.verp ? verpRecipientIds(ctx.feedback.verp, rcpts.map((r) => r.address)) : new Map<string, number>();
  let recipients: NewRecipient[] = rcpts.map((r) => ({
    rcpt: r.address,
    received: ctx.kind === 'mx' && (ctx.hostedDomains.has(domainOf(r.address)) || verpIds.has(r.address)),
    notify: r.dsn?.notify?.length ? r.dsn.notify.join(',') : null,
    orcpt: r.dsn?.orcpt ?? null,
  }));
  const mailFrom = envelope.mailFrom ? envelope.mailFrom.address : '';
  const ret = envelope.dsn?.ret?.toUpperCase();
  let body = writer.result;
  if (user) {
    // The tenant's suppression list for the message's stream: those recipients are stored
    // as suppressed (with a message.suppressed event) and never sent; the others go ahead.
    let hits: Awaited<ReturnType<typeof suppressedAmong>>;
    try {
      hits = await suppressedAmong(ctx.store.db, user.tenant.id, facts.stream, recipients.filter((r) => !r.received).map((r) => r.rcpt));
    } catch (err) {
      if (body.path) await ctx.store.spool.remove(body.path).catch(() => undefined);
      throw storeFailure(err);
    }
    if (hits.size > 0) recipients = recipients.map((r) => (r.received ? r : { ...r, suppressed: hits.get(r.rcpt) ?? null }));
  }
  let report: InboundReport | null = null;
  const viaFbl = ctx.kind === 'mx' && !!ctx.feedback && rcpts.some((r) => ctx.feedback!.fblAddresses.has(r.address.toLowerCase()));
  if (ctx.kind === 'mx' && ctx.feedback && !user) {
    try {
      if (verpIds.size > 0 || viaFbl) report = await parseInboundReport(body.inline ?? await readHead(ctx.store, body.path!, REPORT_SCAN_BYTES));
      body = await withAuthenticationResults(ctx, ctx.feedback, body, session);
    } catch (err) {
      if (body.path) await ctx.store.spool.remove(body.path).catch(() => undefined);
      throw storeFailure(err);
    }
  }
  const relayed = recipients.filter((r) => !r.received && !r.suppressed).length;
  const lease = relayed ? ctx.handoff?.reserve(relayed) ?? null : null;
  const tenantId = user?.tenant.id ?? null;
  const claim: SmtpIdempotencyClaim | null = tap && tenantId && facts.idempotencyKey ? { key: facts.idempotencyKey, fingerprint: tap.fingerprint() } : null;
  const now = Date.now();
  let result: { claimed: ClaimedRecipient[]; hit: SmtpIdempotencyHit | null };
  const processed: { outcome: FeedbackOutcome | null } = { outcome: null };
  try {
    // The work may run twice (alone, after another write sank its group): it keeps no state outside.
    result = await ctx.store.write(async (trx) => {
      if (claim && tenantId) {
        const hit = await findSmtpIdempotencyHit(trx, tenantId, claim, now);
        if (hit) return { claimed: [], hit };
      }
      const rows = await insertMessage(trx, {
        id: queueId,
        tenantId,
        origin: ctx.kind === 'mx' && !user ? 'mx' : 'smtp',
        stream: facts.stream,
        mailFrom,
        body,
        headerSize: intake.headerSize + (body.size - writer.result.size),
        messageIdHeader: facts.messageId,
        subject: facts.subject,
        fromHeader: facts.from,
        dsnRet: ret === 'FULL' || ret === 'HDRS' ? ret : null,
        dsnEnvid: envelope.dsn?.envid ?? null,
        isBounce: mailFrom === '' || facts.isBounce,
        smtputf8: !!envelope.smtpUtf8,
        // RFC 8689 §4.1: kept with the message for every onward hop (session-policy.ts refuses it without TLS).
        requireTls: envelope.requireTLS === true,
        clientIp: session.remoteAddress,
        authUser: user?.username ?? null,
        recipients,
        leaseTo: lease,
      }, { now, lifetimeMs: ctx.queueLifetimeMs });
      if (claim && tenantId) await rememberQueueId(trx, tenantId, claim, queueId, now);
      if (report && ctx.feedback) {
        processed.outcome = await recordFeedback(trx, report, { verpRecipientIds: [...verpIds.values()], viaFbl, reportMessageId: queueId }, ctx.feedback.autoSuppress, now);
      }
      return { claimed: rows, hit: null };
    });
  } catch (err) {
    if (lease) ctx.handoff?.release(relayed);
    if (body.path) await ctx.store.spool.remove(body.path).catch(() => undefined);
    throw storeFailure(err);
  }
  if (claim) maybePurgeIdempotencyKeys(ctx.store, ctx.log, now);
  if (result.hit) {
    // Nothing was stored: give back the lease and the spooled body.
    if (lease) ctx.handoff?.release(relayed);
    if (body.path) await ctx.store.spool.remove(body.path);
    if (result.hit.kind === 'conflict') throw idempotencyConflict(claim!.key);
    ctx.log.info({ queueId: result.hit.queueId, idempotencyKey: claim!.key, tenant: user?.tenant.name, client: session.remoteAddress }, 'message already accepted with this idempotency key; not queued again');
    return result.hit.queueId;
  }
  if (lease) ctx.handoff?.deliver(result.claimed);
  ctx.log.info({ queueId, from: mailFrom, rcpts: rcpts.length, size: body.size, tenant: user?.tenant.name, client: session.remoteAddress, listener: ctx.kind }, 'message accepted');
  const outcome = processed.outcome;
  if (outcome) ctx.log.info({ queueId, report: outcome.kind, matched: outcome.matched, suppressed: outcome.suppressed.length }, 'report processed');
  return queueId;
}

/** Bytes of a report read for parsing: the parser itself looks at no more than 128 KiB. */
const REPORT_SCAN_BYTES = 256 * 1024;

/** Envelope recipients that are VERP return paths with a valid token, and the recipient row each names. */
function verpRecipientIds(verp: VerpCodec, addresses: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of addresses) {
    const m = verp.match(a);
    if (m && m !== 'forged') out.set(a, m.recipientId);
  }
  return out;
}

async function readHead(store: Store, path: string, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of store.spool.open(path)) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

/**
 * RFC 8601: SPF, DKIM and DMARC of a message received on the MX side, prepended as
 * Authentication-Results. Messages kept in the database row (up to 1 MiB, nearly all) get it;
 * a spooled one is stored as received (documented).
 */
async function withAuthenticationResults(ctx: AcceptContext, feedback: InboundFeedback, body: StoredBody, session: SMTPServerSession): Promise<StoredBody> {
  if (!feedback.authResults || !body.inline) return body;
  const field = await authenticationResults({
    raw: body.inline, ip: session.remoteAddress, helo: session.hostNameAppearsAs || '', mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    hostname: ctx.hostname, resolver: feedback.authResults.resolver, timeoutMs: feedback.authResults.timeoutMs,
  });
  const inline = Buffer.concat([Buffer.from(field, 'latin1'), body.inline]);
  return { ...body, inline, size: inline.length };
}

async function discard(ctx: AcceptContext, writer: { result: { path: string | null } }): Promise<void> {
  try {
    const path = writer.result.path;
    if (path) await ctx.store.spool.remove(path);
  } catch {
    // Not finished: the writer removed its own file when destroyed.
  }
}

/** True when the spool or the database failed for want of space: the disk, a quota, or the database's own limit. */
export function isStorageFull(err: unknown): boolean {
  return storeErrorKind(err) === 'full';
}

/**
 * A failed write before the commit: nothing was accepted, so the reply is temporary and the
 * client keeps the message. Full storage says so (RFC 3463 X.3.1), which tells a sending MTA
 * the problem is ours and lasting, not its message; anything else is a local error.
 */
function storeFailure(err: unknown): SmtpError {
  if (isStorageFull(err)) return smtpError('C452SystemFull', 'Insufficient system storage, please try again later', { cause: err, userError: false });
  return smtpError('C451LocalErr', 'Temporary problem storing the message, please try again', { cause: err, userError: false });
}
