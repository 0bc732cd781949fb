// The RFC 3463 status and RFC 3464 action to report for one recipient's outcome. I/O-free:
// the delivery code classifies what happened (`kind`), this file decides what a DSN says.

/** RFC 3464 §2.3.3 action-value. */
export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

/**
 * What happened to the recipient. `reply` means the remote host answered with `smtpCode`;
 * every other kind is an outcome where no reply (or no usable one) decided the result.
 */
export type OutcomeKind =
  | 'reply'
  | 'relayed'
  | 'null-mx'
  | 'nxdomain'
  | 'no-route'
  | 'dns-temporary'
  | 'no-answer'
  | 'connection-lost'
  | 'tls-unavailable'
  | 'tls-failed'
  | 'too-big'
  | 'loop'
  | 'expired'
  | 'local';

export interface Outcome {
  readonly kind: OutcomeKind;
  /** The remote's reply code (RFC 5321 §4.2), for `kind: 'reply'`. */
  readonly smtpCode?: number | null;
  /** The remote's enhanced code (RFC 3463 §2, RFC 2034) if it gave one, e.g. '5.1.1'. */
  readonly enhanced?: string | null;
}

export interface DsnStatus {
  readonly action: DsnAction;
  /** RFC 3463 status-code, e.g. '5.1.1'. */
  readonly status: string;
}

// Outcomes without a reply. Codes from RFC 3463 §3 unless noted; the comment is the reason
// the class is what it is.
const WITHOUT_REPLY = {
  // RFC 3464 §2.3.3 "relayed": handed to a system that sends no success DSNs (the remote
  // did not announce DSN, RFC 3461 §4.2); a success-class status.
  relayed: { action: 'relayed', status: '2.0.0' },
  // RFC 7505 §4.2: a domain that advertises null MX accepts no mail, X.1.10 (RFC 7505 §3.3).
  'null-mx': { action: 'failed', status: '5.1.10' },
  // RFC 3463 X.1.2: bad destination system address (the domain does not exist).
  nxdomain: { action: 'failed', status: '5.1.2' },
  // RFC 3463 X.4.4: unable to route (no MX and no usable address for an implicit MX).
  'no-route': { action: 'failed', status: '5.4.4' },
  // RFC 3463 X.4.3: directory server failure (SERVFAIL, DNS timeout) is transient.
  'dns-temporary': { action: 'delayed', status: '4.4.3' },
  // RFC 3463 X.4.1: no answer from host (connect refused or timed out).
  'no-answer': { action: 'delayed', status: '4.4.1' },
  // RFC 3463 X.4.2: bad connection (dropped mid-transaction).
  'connection-lost': { action: 'delayed', status: '4.4.2' },
  // RFC 3463 X.7.4: security features not supported (policy demands TLS, host offers none).
  'tls-unavailable': { action: 'delayed', status: '4.7.4' },
  // RFC 3463 X.7.5: cryptographic failure (handshake or certificate check failed).
  'tls-failed': { action: 'delayed', status: '4.7.5' },
  // RFC 1870 §6.1 / RFC 3463 X.3.4: larger than the SIZE the remote announced.
  'too-big': { action: 'failed', status: '5.3.4' },
  // RFC 3463 X.4.6: routing loop detected (too many Received hops, RFC 5321 §6.3).
  loop: { action: 'failed', status: '5.4.6' },
  // RFC 3463 X.4.7: delivery time expired. The class stays 4 (the last cause was transient)
  // while the action is failed, as RFC 3464 §2.3.3 lets a persistent transient failure end.
  expired: { action: 'failed', status: '4.4.7' },
  // RFC 3463 X.3.0: our own mail system failed; never a reason to bounce.
  local: { action: 'delayed', status: '4.3.0' },
} as const satisfies Record<Exclude<OutcomeKind, 'reply'>, DsnStatus>;

// RFC 3463 §2: class "." subject "." detail, subject and detail 1 to 3 digits.
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

const ACTION_BY_CLASS = { '2': 'delivered', '4': 'delayed', '5': 'failed' } as const;

/**
 * The status and action a DSN reports for an outcome. For a remote reply the remote's
 * enhanced code is kept when it is well formed; otherwise the reply code's class gives
 * X.0.0 (RFC 3463 §3.1: other or undefined status). A reply we cannot classify (missing,
 * 1xx/3xx) is reported as delayed 4.0.0: an unknown error defers and never bounces.
 */
export function statusForOutcome(outcome: Outcome): DsnStatus {
  if (outcome.kind !== 'reply') return WITHOUT_REPLY[outcome.kind];
  const code = outcome.smtpCode;
  const cls = code != null && Number.isInteger(code) ? String(Math.trunc(code / 100)) : '';
  if (cls !== '2' && cls !== '4' && cls !== '5') return { action: 'delayed', status: '4.0.0' };
  const match = ENHANCED.exec(outcome.enhanced?.trim() ?? '');
  // RFC 2034 §4 / RFC 3463 §2: the class of the enhanced code must agree with the reply
  // code. When a remote gets that wrong the reply code wins, because it is what the client
  // acted on (a 550 rejected the recipient whatever "4.x.x" says).
  const status = match ? `${cls}.${Number(match[2])}.${Number(match[3])}` : `${cls}.0.0`;
  return { action: ACTION_BY_CLASS[cls], status };
}
