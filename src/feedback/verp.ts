// VERP return paths: every delivery of a recipient goes out with its own envelope sender,
// `<prefix>+<token>@<prefix>.<domain>`, so a bounce arriving on the MX listener names the
// exact recipient row it is about, whatever the remote put (or forgot to put) in the report.
// The token carries an HMAC (RFC 2104) under a key derived from the instance secret: a
// forged bounce cannot name a recipient it was not sent, so it cannot suppress addresses.
// The same host receives the mailto unsubscribe address of campaign messages (RFC 2369 §3.2,
// `unsubscribe+<token>@<prefix>.<domain>`): `match` answers for it too, under the same rules.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { MailtoUnsubscribe } from '../campaigns/mailto-unsubscribe.ts';

/** Hex characters of the MAC kept in the token: 64 bits, far beyond guessing over SMTP. */
const MAC_HEX = 16;

export interface VerpMatch {
  /**
   * The recipient row a return path names. For a mailto unsubscribe address, a negative number
   * that stands for its verified token (campaigns/mailto-unsubscribe.ts), never a row id.
   */
  readonly recipientId: number;
  /** A mailto unsubscribe address only: the campaign message its token names. */
  readonly unsubscribeMessageId?: string;
}

export class VerpCodec {
  readonly prefix: string;
  readonly #key: Buffer;
  readonly #unsubscribe: MailtoUnsubscribe;

  /** `secretKey` is the instance key (security/secret-key.ts); a subkey is derived for VERP alone. */
  constructor(secretKey: Buffer, prefix: string) {
    this.prefix = prefix.toLowerCase();
    this.#key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), 'postline verp v1', 32));
    this.#unsubscribe = new MailtoUnsubscribe(secretKey);
  }

  /** The envelope sender for recipient row `recipientId` of a message from `domain`. */
  address(recipientId: number, domain: string): string {
    return `${this.prefix}+${this.token(recipientId)}@${this.prefix}.${domain.toLowerCase()}`;
  }

  /**
   * What an address on the MX side is: `null` when it is not in the VERP form at all,
   * `'forged'` when it is but the MAC does not match, else the recipient it names. Local
   * parts are compared case-insensitively: some MTAs lower-case the whole address. A mailto
   * unsubscribe address is matched the same way (its token, a base64url MAC, keeps its case).
   */
  match(address: string): VerpMatch | 'forged' | null {
    const unsubscribe = this.#unsubscribe.match(address, this.prefix);
    if (unsubscribe === 'forged') return 'forged';
    if (unsubscribe) return { recipientId: unsubscribe.binding, unsubscribeMessageId: unsubscribe.messageId };
    const at = address.lastIndexOf('@');
    if (at < 0) return null;
    const local = address.slice(0, at).toLowerCase();
    const domain = address.slice(at + 1).toLowerCase();
    if (!local.startsWith(`${this.prefix}+`) || !domain.startsWith(`${this.prefix}.`)) return null;
    const m = /^([0-9a-z]{1,12})-([0-9a-f]+)$/.exec(local.slice(this.prefix.length + 1));
    if (!m) return 'forged';
    const recipientId = parseInt(m[1], 36);
    if (!Number.isSafeInteger(recipientId) || recipientId <= 0) return 'forged';
    const expected = Buffer.from(this.#mac(recipientId));
    const given = Buffer.from(m[2]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'forged';
    return { recipientId };
  }

  token(recipientId: number): string {
    return `${recipientId.toString(36)}-${this.#mac(recipientId)}`;
  }

  #mac(recipientId: number): string {
    return createHmac('sha256', this.#key).update(`rcpt:${recipientId}`).digest('hex').slice(0, MAC_HEX);
  }
}
