// Hard / soft / block for a bounce that arrived as a message. The status rules are the ones
// synchronous delivery uses (delivery/bounce-class.ts); this file only adds what an
// asynchronous report needs on top: a class-4 report never suppresses, a vague X.0.0 status is
// sharpened by the remote's reply text, and sender-side failures are not the recipient's fault.
import { classifyBounce as classifyByStatus } from '../delivery/bounce-class.ts';
import type { BounceClass } from '../delivery/bounce-class.ts';
import { statusInText } from './delivery-status.ts';

export type { BounceClass };

export interface BounceFacts {
  /** RFC 3463 status, e.g. '5.1.1'. */
  readonly status: string;
  readonly smtpCode: number | null;
  /** The remote's reply or the report's diagnostic text. */
  readonly diagnostic: string;
}

// Only the start of a diagnostic is read: replies are short, and this keeps the regular
// expressions below linear on hostile input.
const MAX_TEXT_CHARS = 2000;

// Statuses that name the recipient's address or domain as the problem (RFC 3463 §3.2):
// X.1.1 bad mailbox, X.1.2 bad system, X.1.3 bad syntax, X.1.6 moved, X.4.4 no route, and
// RFC 7505 §3.3 X.1.10 null MX.
const HARD_STATUSES: ReadonlySet<string> = new Set(['5.1.1', '5.1.2', '5.1.3', '5.1.6', '5.1.10', '5.4.4']);
// RFC 3463 X.1.7 / X.1.8: the remote refuses our envelope sender, not the recipient.
const SENDER_STATUSES: ReadonlySet<string> = new Set(['5.1.7', '5.1.8']);

// Text rules, tried in order, each naming the RFC 3463 subject.detail it implies. Block comes
// before "user unknown": a reputation refusal read as a dead address would suppress a good one.
// Every pattern is a flat alternation (no nested quantifiers): linear time.
const TEXT_RULES: ReadonlyArray<readonly [detail: string, pattern: RegExp]> = [
  // RFC 7505 §3.3
  ['1.10', /\bnull mx\b/],
  // RFC 3463 X.2.2 mailbox full; "over quota" is how most hosts say it.
  ['2.2', /mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the |their |storage )?(?:quota|storage)|insufficient (?:storage|disk space|space)|mailbox size limit|out of storage|storage (?:space )?(?:is )?full|mailbox has exceeded/],
  // RFC 3463 X.7.1 delivery not authorized: lists, reputation, authentication policy.
  ['7.1', /spamhaus|spamcop|barracuda|\bsorbs\b|\b(?:dnsbl|rbl|dbl|uribl|surbl)\b|block ?list|black ?list|deny ?list|\bblocked\b|\bblacklisted\b|reputation|\bspam\b|unsolicited|\bbanned\b|\bdmarc\b|unauthenticated|\bpolicy\b|not permitted to send|poor reputation|rate limited/],
  // RFC 3463 X.1.2 bad destination system.
  ['1.2', /host or domain name not found|domain (?:name )?(?:not found|does not exist)|no such domain|unrout(?:e)?able (?:address|domain)|\bnxdomain\b|no mx (?:record|host)/],
  // RFC 3463 X.1.1 bad destination mailbox; disabled and deleted accounts count as gone.
  ['1.1', /user unknown|unknown user|no such (?:user|mailbox|recipient|address|account)|unknown (?:recipient|mailbox|address)|(?:user|mailbox|address|account|recipient) (?:does not|doesn't) exist|does not exist|doesn't exist|doesn't have an? [a-z0-9.-]{1,64} account|recipient not found|recipientnotfound|recipnotfound|address not found|not a valid (?:mailbox|recipient|user)|invalid (?:recipient|mailbox|address|user)|mailbox (?:is )?(?:unavailable|disabled|inactive|not found)|account (?:is |has been )?(?:disabled|deactivated|inactive|closed|suspended)|no mailbox|recipient address rejected|couldn't be found|could not be found|undeliverable address|not our customer|no longer (?:valid|active|exists|in use)/],
  // RFC 3463 X.3.4 message too big for system.
  ['3.4', /message (?:is )?too (?:big|large)|size (?:limit )?exceed|exceeds (?:the )?(?:maximum )?(?:message )?size/],
  // RFC 3463 X.4.6 routing loop.
  ['4.6', /\bloops? back\b|mail loop|routing loop|too many hops/],
  // RFC 3463 X.4.1 / X.4.7: no answer, delivery time expired.
  ['4.7', /expired|too long in (?:the )?queue|retry timeout exceeded/],
  ['4.1', /timed? ?out|connection refused|no route to host|network is unreachable/],
];

/**
 * The RFC 3463 subject.detail (e.g. '1.1', '2.2', '7.1') that a reply text implies, or
 * undefined when the text says nothing recognisable.
 */
export function detailFromText(text: string): string | undefined {
  const lower = text.slice(0, MAX_TEXT_CHARS).toLowerCase();
  for (const [detail, pattern] of TEXT_RULES) if (pattern.test(lower)) return detail;
  return undefined;
}

/**
 * A vague status (X.0.0) replaced by the more precise one inside the reply text when they agree
 * on the class: `Status: 5.0.0` with `Diagnostic-Code: smtp; 550 5.1.1 …` is a 5.1.1.
 */
export function specificStatus(status: string, diagnostic: string): string {
  if (!/^[245]\.0\.0$/.test(status)) return status;
  const inText = statusInText(diagnostic);
  return inText && inText.charAt(0) === status.charAt(0) ? inText : status;
}

/**
 * hard (the address or its domain is gone: suppress), soft (may work later: count), block
 * (policy, reputation or authentication: fix the sending side). Class 2 and 4 statuses are
 * always soft (RFC 3463 §3.1: a persistent transient failure).
 */
export function classifyBounce(facts: BounceFacts): BounceClass {
  if (facts.status.charAt(0) !== '5') return 'soft';
  const status = specificStatus(facts.status, facts.diagnostic);
  if (SENDER_STATUSES.has(status)) return 'block';
  const byStatus = classifyByStatus(status, facts.smtpCode);
  // RFC 3463 X.7.x: security or policy status.
  if (byStatus === 'block') return 'block';
  if (HARD_STATUSES.has(status)) return 'hard';
  const detail = detailFromText(facts.diagnostic);
  if (detail === '7.1') return 'block';
  if (detail === '1.1' || detail === '1.2' || detail === '1.10') return 'hard';
  // RFC 3463 X.2.2 mailbox full under a 5xx: common practice counts it soft, it may empty.
  if (detail === '2.2') return 'soft';
  return byStatus;
}
