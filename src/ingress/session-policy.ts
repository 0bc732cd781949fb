// Who may send what, decided per SMTP command. No path here makes Postline an open relay:
// a recipient outside the hosted domains needs an authenticated tenant (AUTH, or a relay
// network bound to a tenant), and such a tenant may only use its own sender domains.
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { smtpError, parseAddress, SmtpError, type ParsedAddress } from '../smtp/index.ts';
import type { TenantDirectory, TenantRef } from './tenant-directory.ts';
import type { VerpCodec } from '../feedback/verp.ts';

export type ListenerKind = 'submission' | 'mx';

/** What we keep on `session.user` (smtp-server's slot for the authenticated identity). */
export interface SessionUser {
  readonly tenant: TenantRef;
  /** SMTP username, or `relay:<cidr tenant>` for relay-network clients. */
  readonly username: string;
  readonly viaRelayNetwork: boolean;
}

export interface PolicyContext {
  readonly kind: ListenerKind;
  readonly directory: TenantDirectory;
  /** Domains the MX listener accepts mail for (lower-case A-labels). */
  readonly hostedDomains: ReadonlySet<string>;
  /** VERP return paths (feedback/verp.ts): accepted on the MX side when their token verifies. */
  readonly verp?: VerpCodec | null;
}

function addressText(address: SMTPServerAddress): string {
  return address.address;
}

/** MAIL FROM (RFC 5321 §3.3). Returns the parsed sender, or null for the null reverse-path. */
export async function checkMailFrom(ctx: PolicyContext, address: SMTPServerAddress, session: SMTPServerSession): Promise<ParsedAddress | null> {
  const user = session.user as SessionUser | undefined;
  const raw = addressText(address);
  if (ctx.kind === 'submission' && !user) {
    // RFC 4954 §6: 530 5.7.0 when the submission service requires authentication.
    throw smtpError('C530AuthRequired', 'Authentication required: log in with AUTH (after STARTTLS) to send mail');
  }
  // RFC 8689 §4.1: REQUIRETLS only over TLS (RFC 3207: 530). smtp-server refuses it on a
  // plaintext session before this runs ("530 5.7.0 REQUIRETLS not permitted on non-TLS
  // connections"); this check keeps the rule should that ever change. Accepted, the flag is
  // stored with the message (accept-message.ts) and enforced on every onward hop.
  if (session.envelope.requireTLS && !session.secure) {
    throw new SmtpError(530, '5.7.10', 'REQUIRETLS requires a TLS session: issue STARTTLS first', { userError: true });
  }
  if (raw === '') {
    if (user) throw smtpError('C550SenderDenied', 'The null sender <> is not allowed for submission: use an address in one of your domains');
    return null;
  }
  const parsed = parseAddress(raw);
  if (!parsed) throw smtpError('C501BadSender', `Sender address <${raw}> is not a valid mailbox`);
  if (parsed.utf8 && !session.envelope.smtpUtf8) throw smtpError('C553NeedUtf8', 'A UTF-8 sender address requires the SMTPUTF8 parameter (RFC 6531)');
  if (user && !(await ctx.directory.ownsDomain(user.tenant.id, parsed.domain))) {
    if (await ctx.directory.pendingDomain(user.tenant.id, parsed.domain)) {
      throw smtpError('C550SenderDenied', `Sender <${parsed.address}> is in a domain of tenant ${user.tenant.name} that is not verified yet: publish its DNS records, then check them (postline domain check, or POST /api/v1/domains/{id}/verify)`);
    }
    throw smtpError('C550SenderDenied', `Sender <${parsed.address}> is not in a domain of tenant ${user.tenant.name}: add the domain first`);
  }
  return parsed;
}

/** RCPT TO (RFC 5321 §3.3): relay only for an authenticated tenant; hosted domains for anyone. */
export function checkRcptTo(ctx: PolicyContext, address: SMTPServerAddress, session: SMTPServerSession): ParsedAddress {
  const raw = addressText(address);
  const parsed = parseAddress(raw);
  if (!parsed) {
    // Percent hacks, source routes, `!` paths and IP literals end here (classic relay tricks).
    throw smtpError('C501BadAddress', `Recipient address <${raw}> is not a valid mailbox`);
  }
  if (parsed.utf8 && !session.envelope.smtpUtf8) throw smtpError('C553NeedUtf8', 'A UTF-8 recipient address requires the SMTPUTF8 parameter (RFC 6531)');
  const user = session.user as SessionUser | undefined;
  if (user) return parsed;
  if (ctx.kind === 'mx' && ctx.hostedDomains.has(parsed.domain)) return parsed;
  if (ctx.kind === 'mx' && ctx.verp) {
    const match = ctx.verp.match(parsed.address);
    // A return path whose MAC does not verify was never handed out: a forged bounce changes nothing.
    if (match === 'forged') throw smtpError('C550NoSuchUser', `No such return path <${parsed.address}>`);
    if (match) return parsed;
  }
  throw smtpError('C554RelayDenied', 'Relay access denied');
}
