// Signed public links of campaign messages: unsubscribe (/u/…), open pixel (/t/o/…) and
// click redirect (/t/c/…). Each carries the message id (which names exactly one contact
// through the campaign ledger) and an HMAC (RFC 2104) under a key derived from the instance
// secret (HKDF, RFC 5869), as feedback/verp.ts does for return paths. A token cannot be
// guessed, cannot be moved onto another message (so onto another contact), and a click link
// redirects only to the URL it was made for: the MAC covers the URL, so the redirect is
// never open (an attacker cannot mint a link to a URL of their choice).
import { hash, hkdfSync, timingSafeEqual } from 'node:crypto';

/** Bytes of MAC kept: 128 bits, far beyond guessing over HTTP. */
const MAC_BYTES = 16;
const MESSAGE_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export type LinkPurpose = 'unsubscribe' | 'open' | 'click' | 'confirm';

export class LinkSigner {
  // HMAC-SHA-256 as RFC 2104 §2 defines it, H(K ⊕ opad ‖ H(K ⊕ ipad ‖ text)), with the two
  // padded keys made once: a link costs two one-shot hashes, not a createHmac (which converts
  // its key on every call, ~8 µs; three links a message at 20,000 messages/s).
  readonly #ipad: Buffer;
  readonly #opad: Buffer;
  readonly base: string;

  /** `secretKey`: the instance key (security/secret-key.ts); `baseUrl`: where /u/ and /t/ are served. */
  constructor(secretKey: Buffer, baseUrl: string) {
    const key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), 'postline campaign links v1', 32));
    // The key is shorter than SHA-256's 64-byte block: zero-padded to it (RFC 2104 §2 step 1).
    this.#ipad = Buffer.alloc(64, 0x36);
    this.#opad = Buffer.alloc(64, 0x5c);
    for (let i = 0; i < key.length; i++) {
      this.#ipad[i] ^= key[i];
      this.#opad[i] ^= key[i];
    }
    this.base = baseUrl.replace(/\/+$/, '');
  }

  #mac(purpose: LinkPurpose, messageId: string, extra = ''): string {
    const inner = hash('sha256', Buffer.concat([this.#ipad, Buffer.from(`${purpose}\0${messageId}\0${extra}`)]), 'buffer');
    return hash('sha256', Buffer.concat([this.#opad, inner]), 'buffer').subarray(0, MAC_BYTES).toString('base64url');
  }

  #check(purpose: LinkPurpose, messageId: string, mac: string, extra = ''): boolean {
    if (!MESSAGE_ID.test(messageId)) return false;
    const expected = Buffer.from(this.#mac(purpose, messageId, extra));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Double opt-in: `<listId>.<contactId>.<mac>`, the confirmation link's token. */
  confirmToken(listId: string, contactId: string): string {
    return `${listId}.${contactId}.${this.#mac('confirm', listId, contactId)}`;
  }

  confirmUrl(listId: string, contactId: string, base = this.base): string {
    return `${base}/c/${this.confirmToken(listId, contactId)}`;
  }

  /** The list and contact a confirmation token names, or null when we did not sign it. */
  verifyConfirm(token: string): { listId: string; contactId: string } | null {
    const [listId = '', contactId = '', mac = '', ...rest] = token.split('.');
    if (rest.length || !/^lst_[0-9A-Z]{26}$/.test(listId) || !/^ct_[0-9A-Z]{26}$/.test(contactId)) return null;
    const expected = Buffer.from(this.#mac('confirm', listId, contactId));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected) ? { listId, contactId } : null;
  }

  /** `<messageId>.<mac>`: the unsubscribe token (also in the mailto address). */
  unsubscribeToken(messageId: string): string {
    return `${messageId}.${this.#mac('unsubscribe', messageId)}`;
  }

  /** `base`: the sending domain's link host (`https://links.example.com`) instead of the default. */
  unsubscribeUrl(messageId: string, base = this.base): string {
    return `${base}/u/${this.unsubscribeToken(messageId)}`;
  }

  openUrl(messageId: string, base = this.base): string {
    return `${base}/t/o/${messageId}.${this.#mac('open', messageId)}.gif`;
  }

  clickUrl(messageId: string, url: string, base = this.base): string {
    return `${base}/t/c/${messageId}.${this.#mac('click', messageId, url)}?u=${Buffer.from(url).toString('base64url')}`;
  }

  /** The message an unsubscribe token names, or null when it is not one we signed. */
  verifyUnsubscribe(token: string): string | null {
    const [messageId = '', mac = '', ...rest] = token.split('.');
    return rest.length === 0 && this.#check('unsubscribe', messageId, mac) ? messageId : null;
  }

  /** `<messageId>.<mac>.gif` → the message, or null. */
  verifyOpen(path: string): string | null {
    const [messageId = '', mac = '', ext = '', ...rest] = path.split('.');
    return ext === 'gif' && rest.length === 0 && this.#check('open', messageId, mac) ? messageId : null;
  }

  /** `<messageId>.<mac>` and the `u` parameter → the message and the original URL, or null. */
  verifyClick(path: string, encodedUrl: string): { messageId: string; url: string } | null {
    const [messageId = '', mac = '', ...rest] = path.split('.');
    if (rest.length || !/^[A-Za-z0-9_-]*$/.test(encodedUrl)) return null;
    const url = Buffer.from(encodedUrl, 'base64url').toString('utf8');
    return this.#check('click', messageId, mac, url) ? { messageId, url } : null;
  }
}
