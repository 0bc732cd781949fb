// The mailto half of a campaign message's List-Unsubscribe (RFC 2369 §3.2): the message names
// `unsubscribe+<token>@<return-path host>`, the token being its HTTPS link's (link-signer.ts
// `unsubscribeToken`: the message id and a MAC over it), so the address acts for exactly one
// message and through it one contact. The return-path host already points at our MX listener
// for VERP bounces, so the listener recognises these addresses through the VERP codec
// (feedback/verp.ts): at RCPT TO a forged token is refused like a forged return path (550
// 5.1.1), and when the mail is stored the contact is unsubscribed by the function behind the
// one-click POST (unsubscribe.ts), in the transaction that stores the mail, before the 250.
//
// Between RCPT (where the MAC is checked) and that transaction, the codec's answer travels as
// a number among the VERP recipient ids: a negative "binding", 52 bits of SHA-256 over the
// token. The transaction acts only on stored recipients whose token has a binding the codec
// handed out, so an address stored without a verified token (when an operator lists the
// return-path host among `smtp.mx_domains`) does nothing.
import { hash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.ts';
import { LinkSigner } from './link-signer.ts';
import { unsubscribeIn, unsubscribeTargetIn } from './unsubscribe.ts';

/** The local part before the `+`: `unsubscribe+<token>@…` (campaign-message.ts writes it). */
export const MAILTO_UNSUBSCRIBE_LOCAL = 'unsubscribe';

export interface MailtoUnsubscribeMatch {
  /** The campaign message the verified token names. */
  readonly messageId: string;
  /** Negative: never a recipient row id (see the file comment). */
  readonly binding: number;
}

/** The token of an `unsubscribe+<token>@…` address as written (its MAC is case-sensitive), or null for any other address. */
export function mailtoUnsubscribeToken(address: string): string | null {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? '' : address.slice(0, at);
  const plus = MAILTO_UNSUBSCRIBE_LOCAL.length;
  if (local.length <= plus + 1 || local[plus] !== '+' || local.slice(0, plus).toLowerCase() !== MAILTO_UNSUBSCRIBE_LOCAL) return null;
  return local.slice(plus + 1);
}

/** The number that stands for a verified token between RCPT and the transaction: -(1 + 52 bits of SHA-256). */
export function mailtoUnsubscribeBinding(token: string): number {
  return -(parseInt(hash('sha256', `postline mailto unsubscribe\0${token}`, 'hex').slice(0, 13), 16) + 1);
}

export class MailtoUnsubscribe {
  readonly #signer: LinkSigner;

  /** `secretKey`: the instance key, as for the campaign links (the same subkey signs both). */
  constructor(secretKey: Buffer) {
    this.#signer = new LinkSigner(secretKey, '');
  }

  /**
   * What a recipient on the MX side is: null when it is not `unsubscribe+…@<hostPrefix>.<domain>`,
   * `'forged'` when it is but the token was not signed here (or was moved onto another message),
   * else the message it names.
   */
  match(address: string, hostPrefix: string): MailtoUnsubscribeMatch | 'forged' | null {
    const token = mailtoUnsubscribeToken(address);
    if (token === null) return null;
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    if (!domain.startsWith(`${hostPrefix}.`)) return null;
    // A return-path prefix of `unsubscribe` itself: its VERP tokens never hold a dot, ours always do.
    if (hostPrefix === MAILTO_UNSUBSCRIBE_LOCAL && !token.includes('.')) return null;
    const messageId = this.#signer.verifyUnsubscribe(token);
    return messageId ? { messageId, binding: mailtoUnsubscribeBinding(token) } : 'forged';
  }
}

/**
 * Acts on the mailto unsubscribe addresses among the recipients of stored inbound message
 * `inboundMessageId` whose tokens have one of `bindings`: each contact is unsubscribed from
 * all mail (scope `all`, method `mailto`), as by the one-click POST. Call inside the
 * transaction that stores the message. Answers how many contacts changed (a token used before,
 * a test send or a deleted contact changes nothing).
 */
export async function applyMailtoUnsubscribes(trx: Kysely<Database>, inboundMessageId: string, bindings: ReadonlySet<number>, now: number): Promise<number> {
  if (bindings.size === 0) return 0;
  const rows = await trx.selectFrom('recipients').select('rcpt').where('message_id', '=', inboundMessageId).execute();
  const done = new Set<string>();
  let changed = 0;
  for (const { rcpt } of rows) {
    const token = mailtoUnsubscribeToken(rcpt);
    if (token === null || !bindings.has(mailtoUnsubscribeBinding(token))) continue;
    // The MAC was checked by the codec that handed out the binding: the token names this message.
    const [messageId = ''] = token.split('.');
    if (done.has(messageId)) continue;
    done.add(messageId);
    const target = await unsubscribeTargetIn(trx, messageId);
    if (target && (await unsubscribeIn(trx, target, 'all', 'mailto', now))) changed++;
  }
  return changed;
}
