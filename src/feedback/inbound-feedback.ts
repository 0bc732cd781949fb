// What the MX listener needs to take reports in: the VERP codec (to recognise and authenticate
// return-path recipients), the feedback-loop addresses, the suppression rules, and the DNS
// resolver behind Authentication-Results. Built once in server.ts.
import type { MailauthResolver } from '../bounces/index.ts';
import type { AutoSuppressOptions } from './auto-suppress.ts';
import type { VerpCodec } from './verp.ts';

export interface InboundFeedback {
  readonly verp: VerpCodec | null;
  /** Lower-case addresses where ARF reports arrive without a VERP token (a SIGHUP changes it in place). */
  readonly fblAddresses: Set<string>;
  readonly autoSuppress: AutoSuppressOptions;
  /** Compute and prepend Authentication-Results (RFC 8601) on MX mail; null: off. */
  readonly authResults: { readonly resolver: MailauthResolver; readonly timeoutMs: number } | null;
}
