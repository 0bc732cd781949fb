// What a remote's reply says about our sending IP, as opposed to the message or recipient:
// slow down (rate limiting, reputation trouble) or stop using this IP there (a block).
// Texts are those the large providers document or send; the enhanced codes are RFC 3463's
// X.7.x (security or policy status).

/** `rate-limit`: go slower from this IP to this destination; `ip-block`: use another IP there. */
export type ThrottleSignal = 'rate-limit' | 'ip-block';

// Gmail 421-4.7.28 / 4.7.0 "unusual rate", "Try again later"; Microsoft 4.7.500 "Server busy",
// 4.7.650 "temporarily rate limited due to IP reputation", "exceeded the maximum number of
// connections"; Yahoo TSS04 "temporarily deferred due to unexpected volume or user complaints".
const RATE_TEXT = /try again later|try later|too many (?:messages|connections|recipients|sessions|concurrent)|rate[- ]?limit|throttl|unusual rate|temporarily (?:deferred|rate limited|blocked)|unexpected volume|server busy|exceeded the (?:maximum|connection)|\bTS[S0]\d{2}\b|\b4\.7\.(?:28|500|650|0)\b/i;

// Spamhaus/RBL listings, "blocked", "poor reputation", Microsoft 5.7.606/5.7.511 (banned
// sending IP), Yahoo "[BL21]"-style codes; the reply must talk about the client or its IP.
const BLOCK_TEXT = /\bblock(?:ed|list)?\b|black ?list|\blisted\b|reputation|spamhaus|\b(?:rbl|dnsbl)\b|banned|client host|your ip|sending ip|\bip address\b|\b5\.7\.(?:606|511)\b|\[BL\d+\]/i;

const GREYLIST_TEXT = /gr[ae]y[- ]?list/i;

/**
 * Classifies a reply (code, enhanced code, text) for the IP that sent it; null when it says
 * nothing about the IP (a bad mailbox, a full disk, a content rejection).
 */
export function throttleSignal(code: number | null, enhanced: string | null, text: string): ThrottleSignal | null {
  if (code === null) return null;
  // RFC 3463 X.1.x (addressing) and X.2.x (mailbox) speak about the recipient, whatever the text
  // ("4.2.1 mailbox busy, try again later", Gmail's per-recipient 4.2.1 rate).
  if (enhanced && /^[45]\.[12]\./.test(enhanced)) return null;
  if (code >= 400 && code < 500) {
    // Greylisting (often 451 4.7.1) delays a first-time triple; it is not about the sending rate.
    if (GREYLIST_TEXT.test(text)) return null;
    // RFC 5321 §4.2.2: 421 means the service is closing the channel; providers use it to pace.
    if (code === 421 || enhanced?.startsWith('4.7.')) return 'rate-limit';
    // The texts count only without a more specific enhanced code: "451 4.3.0 Try again later"
    // is a mail system trouble (RFC 3463 X.3.x), not a rate, and must not slow a relayhost down.
    if ((!enhanced || enhanced.startsWith('4.0.')) && RATE_TEXT.test(text)) return 'rate-limit';
    return null;
  }
  if (code >= 500 && code < 600) {
    // RFC 3463 X.7.x: a policy refusal; only one that names the client or a listing is about the IP.
    if ((enhanced?.startsWith('5.7.') || code === 554) && BLOCK_TEXT.test(text)) return 'ip-block';
  }
  return null;
}
