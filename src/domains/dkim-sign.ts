// DKIM signing at delivery (RFC 6376, RFC 8463 for Ed25519), relaxed/relaxed. The header
// list covers what a reader sees and what RFC 8058 §4 requires (List-Unsubscribe and
// List-Unsubscribe-Post both signed), and From, To, Subject and Date are over-signed: listed
// once more than they occur, so a copy of any of them added later breaks the signature
// (RFC 6376 §8.15, §5.4.2: a name with no instance left hashes as the null string).
//
// Not mailauth's dkimSign: it lists each name only as often as the field occurs, so it
// cannot over-sign, and it calls crypto.sign synchronously. The signature here is made on
// the thread pool (callback form of crypto.sign) and checked in the tests by mailauth's
// dkimVerify and by python3-dkim.
import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { DkimAlgorithm } from '../store/index.ts';
import { relaxedBodyHash, relaxedHeader, splitMessage, type HeaderField } from './dkim-canon.ts';

export interface DkimSigningKey {
  /** d=: the sending domain (its registered name in Postline). */
  readonly domain: string;
  /** s= */
  readonly selector: string;
  readonly algorithm: DkimAlgorithm;
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
}

export class DkimSignError extends Error {
  readonly code: 'DKIM_NO_FROM' | 'DKIM_KEY_INVALID' | 'DKIM_SIGN_FAILED';
  constructor(code: DkimSignError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DkimSignError';
    this.code = code;
  }
}

/** Signed when present, in this order (h= spelling). */
export const DKIM_SIGNED_HEADERS = [
  'From', 'To', 'Cc', 'Subject', 'Date', 'Message-ID', 'Reply-To', 'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding',
  'List-Unsubscribe', 'List-Unsubscribe-Post', 'List-Id', 'Feedback-ID', 'In-Reply-To', 'References',
] as const;

/** Listed once more than they occur (RFC 6376 §8.15), present or not. */
export const DKIM_OVERSIGNED_HEADERS: ReadonlySet<string> = new Set(['from', 'to', 'subject', 'date']);

/** The h= list for a message's fields: present names as often as they occur, over-signed ones once more. */
export function dkimHeaderList(fields: readonly HeaderField[]): string[] {
  const list: string[] = [];
  for (const name of DKIM_SIGNED_HEADERS) {
    const lower = name.toLowerCase();
    const n = fields.filter((f) => f.name === lower).length + (DKIM_OVERSIGNED_HEADERS.has(lower) ? 1 : 0);
    for (let i = 0; i < n; i++) list.push(name);
  }
  return list;
}

/** RFC 6376 §5.4.2: each name takes the last instance not yet used, from the bottom up. */
function canonicalSignedFields(fields: readonly HeaderField[], names: readonly string[]): string {
  const used = new Set<number>();
  let out = '';
  for (const name of names) {
    const lower = name.toLowerCase();
    for (let i = fields.length - 1; i >= 0; i--) {
      if (!used.has(i) && fields[i].name === lower) {
        used.add(i);
        out += `${relaxedHeader(fields[i].raw)}\r\n`;
        break;
      }
    }
  }
  return out;
}

const LINE = 76;

/** Folds `tags` into the start of a DKIM-Signature field, lines under ~78 octets (b= follows on its own line). */
function foldTags(tags: readonly string[]): string {
  let out = 'DKIM-Signature:';
  let width = out.length;
  const put = (piece: string, sep: string): void => {
    if (width + sep.length + piece.length > LINE) {
      out += '\r\n\t';
      width = 1;
      sep = '';
    }
    out += sep + piece;
    width += sep.length + piece.length;
  };
  tags.forEach((tag, i) => {
    const text = i < tags.length - 1 ? `${tag};` : tag;
    if (tag.startsWith('h=')) {
      // FWS is allowed around the colons of h= (RFC 6376 §3.5 sig-h-tag).
      const names = text.split(':');
      names.forEach((n, j) => put(j < names.length - 1 ? `${n}:` : n, j === 0 ? ' ' : ''));
    } else {
      put(text, ' ');
    }
  });
  return out;
}

/** b= value folded (base64 may carry FWS, RFC 6376 §3.5) after the `\tb=` that starts its line. */
function foldSignature(b64: string): string {
  let out = '';
  for (let i = 0; i < b64.length; i += 72) out += (i === 0 ? '' : '\r\n\t') + b64.slice(i, i + 72);
  return out;
}

const keyCache = new Map<string, KeyObject>();

function privateKey(pem: string): KeyObject {
  let key = keyCache.get(pem);
  if (!key) {
    try {
      key = createPrivateKey(pem);
    } catch (err) {
      throw new DkimSignError('DKIM_KEY_INVALID', 'a DKIM private key does not parse', { cause: err });
    }
    if (keyCache.size >= 1000) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(pem, key);
  }
  return key;
}

function signAsync(algorithm: DkimAlgorithm, data: Buffer, key: KeyObject, onThisThread = false): Promise<Buffer> {
  if (onThisThread) {
    try {
      const digestFirst = algorithm === 'ed25519-sha256';
      return Promise.resolve(sign(digestFirst ? null : 'sha256', digestFirst ? createHash('sha256').update(data).digest() : data, key));
    } catch (err) {
      return Promise.reject(new DkimSignError('DKIM_SIGN_FAILED', `${algorithm} signing failed: ${(err as Error).message}`, { cause: err }));
    }
  }
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, signature: Buffer): void => {
      if (err) reject(new DkimSignError('DKIM_SIGN_FAILED', `${algorithm} signing failed: ${err.message}`, { cause: err }));
      else resolve(signature);
    };
    // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonicalized data (PureEdDSA over it).
    if (algorithm === 'ed25519-sha256') sign(null, createHash('sha256').update(data).digest(), key, done);
    else sign('sha256', data, key, done);
  });
}

/**
 * The DKIM-Signature header field(s) for `raw` (the message as it will be sent), one per key,
 * each CRLF-terminated: prepend them to the message. '' for no keys. Throws DkimSignError
 * DKIM_NO_FROM for a message without From (RFC 6376 §5.4: From must be signed).
 * With `opts.bodyHash` (the relaxed body hash, base64), `raw` need only be the header section.
 * `opts.onThisThread` signs on the calling thread rather than libuv's pool: the delivery
 * thread runs at a lower priority, and its signatures should too (and not hold up the
 * WAL fsyncs that share the pool).
 */
export async function dkimSignatureHeaders(raw: Buffer, keys: readonly DkimSigningKey[], opts: { now?: Date; bodyHash?: string; onThisThread?: boolean } = {}): Promise<string> {
  if (keys.length === 0) return '';
  const { fields, body } = splitMessage(raw);
  if (!fields.some((f) => f.name === 'from')) throw new DkimSignError('DKIM_NO_FROM', 'cannot DKIM-sign a message without a From field (RFC 6376 §5.4)');
  const names = dkimHeaderList(fields);
  const signedFields = canonicalSignedFields(fields, names);
  // A body too large to hold (a spooled message) is hashed as a stream by the caller
  // (dkim-body-stream.ts), which then passes only the header section as `raw`.
  const bodyHash = opts.bodyHash ?? await relaxedBodyHash(body);
  const t = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const out: string[] = [];
  for (const key of keys) {
    const unsigned = foldTags([
      'v=1', `a=${key.algorithm}`, 'c=relaxed/relaxed', `d=${key.domain}`, `s=${key.selector}`, `t=${t}`,
      `h=${names.join(':')}`, `bh=${bodyHash}`,
    ]) + ';\r\n\tb=';
    // RFC 6376 §3.7: the signature field itself is hashed last, with an empty b= and no CRLF.
    const data = Buffer.from(signedFields + relaxedHeader(unsigned), 'latin1');
    const signature = await signAsync(key.algorithm, data, privateKey(key.privateKeyPem), opts.onThisThread);
    out.push(`${unsigned}${foldSignature(signature.toString('base64'))}\r\n`);
  }
  return out.join('');
}
