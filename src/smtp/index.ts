export { SmtpError } from './smtp-error.ts';
export { Replies, smtpError } from './codes.ts';
export type { ReplyName } from './codes.ts';
export { parseAddress, domainOf, normaliseDomain } from './address.ts';
export type { ParsedAddress } from './address.ts';
