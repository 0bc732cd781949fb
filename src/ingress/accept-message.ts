// DATA (RFC 5321 §4.1.1.4): stream the message through intake into the spool, then commit
// message + recipients + event in one group-committed transaction, and only then reply 250
// with the queue id. Any failure before the commit answers 4xx/5xx: nothing is half-accepted.
import { pipeline } from 'node:stream/promises';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Logger } from 'pino';
import { smtpError, SmtpError, domainOf } from '../smtp/index.ts';
import { newId, insertMessage, type Store, type NewRecipient, type ClaimedRecipient } from '../store/index.ts';
import { MessageIntake } from './message-intake.ts';
import { rewriteHeaders, type HeaderFacts } from './header-policy.ts';
import type { ListenerKind, SessionUser } from './session-policy.ts';
import { domainInSet, type TenantDirectory } from './tenant-directory.ts';

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
  try {
    await pipeline(stream, intake, writer);
  } catch (err) {
    writer.destroy();
    throw smtpError('C451LocalErr', 'Temporary problem storing the message, please try again', { cause: err, userError: false });
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
  const body = writer.result;
  if (body.path) await ctx.store.spool.syncDir();
  // On the MX side, mail for hosted domains stays here; only an authorised client relays.
  const recipients: NewRecipient[] = rcpts.map((r) => ({
    rcpt: r.address,
    received: ctx.kind === 'mx' && ctx.hostedDomains.has(domainOf(r.address)),
    notify: r.dsn?.notify?.length ? r.dsn.notify.join(',') : null,
    orcpt: r.dsn?.orcpt ?? null,
  }));
  const mailFrom = envelope.mailFrom ? envelope.mailFrom.address : '';
  const ret = envelope.dsn?.ret?.toUpperCase();
  const relayed = recipients.filter((r) => !r.received).length;
  const lease = relayed ? ctx.handoff?.reserve(relayed) ?? null : null;
  let claimed: ClaimedRecipient[];
  try {
    claimed = await ctx.store.write((trx) => insertMessage(trx, {
      id: queueId,
      tenantId: user?.tenant.id ?? null,
      origin: ctx.kind === 'mx' && !user ? 'mx' : 'smtp',
      stream: facts.stream,
      mailFrom,
      body,
      headerSize: intake.headerSize,
      messageIdHeader: facts.messageId,
      subject: facts.subject,
      fromHeader: facts.from,
      dsnRet: ret === 'FULL' || ret === 'HDRS' ? ret : null,
      dsnEnvid: envelope.dsn?.envid ?? null,
      isBounce: mailFrom === '' || facts.isBounce,
      smtputf8: !!envelope.smtpUtf8,
      clientIp: session.remoteAddress,
      authUser: user?.username ?? null,
      recipients,
      leaseTo: lease,
    }, { now: Date.now(), lifetimeMs: ctx.queueLifetimeMs }));
  } catch (err) {
    if (lease) ctx.handoff?.release(relayed);
    if (body.path) await ctx.store.spool.remove(body.path);
    throw smtpError('C451LocalErr', 'Temporary problem storing the message, please try again', { cause: err, userError: false });
  }
  if (lease) ctx.handoff?.deliver(claimed);
  ctx.log.info({ queueId, from: mailFrom, rcpts: rcpts.length, size: body.size, tenant: user?.tenant.name, client: session.remoteAddress, listener: ctx.kind }, 'message accepted');
  return queueId;
}

async function discard(ctx: AcceptContext, writer: { result: { path: string | null } }): Promise<void> {
  try {
    const path = writer.result.path;
    if (path) await ctx.store.spool.remove(path);
  } catch {
    // Not finished: the writer removed its own file when destroyed.
  }
}
