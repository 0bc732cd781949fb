// What other stages use from bounce, complaint and auto-reply parsing (the MX side), and the
// Authentication-Results of inbound mail.
export { parseInboundReport } from './parse-report.ts';
export type { InboundReport, BouncedRecipient } from './parse-report.ts';
export { classifyBounce } from './classify-bounce.ts';
export type { BounceClass, BounceFacts } from './classify-bounce.ts';
export { parseDeliveryStatus } from './delivery-status.ts';
export type { DeliveryStatus, DeliveryStatusRecipient, ReportAction } from './delivery-status.ts';
export { parseFeedbackReport } from './arf.ts';
export type { FeedbackReport } from './arf.ts';
export { autoReplyReason } from './auto-reply.ts';
export { parseTextBounce } from './text-bounce.ts';
export type { TextBounce, TextBounceFormat, TextBounceRecipient } from './text-bounce.ts';
export { authenticationResults } from './authentication-results.ts';
export type { AuthenticationResultsOptions } from './authentication-results.ts';
export { mailauthResolver } from './mailauth-resolver.ts';
export type { MailauthResolver } from './mailauth-resolver.ts';
