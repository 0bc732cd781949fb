// What a tenant's message looks like on the wire, decided at delivery time (not when it was
// queued, so a DKIM rotation or a return path verified meanwhile applies to retries):
// - Feedback-ID (Gmail's feedback loop) and, when configured, CFBL-Address (RFC 9477) are
//   added unless the message has them, before signing so that they are signed;
// - DKIM-Signature fields from the sending domain's active keys (RSA, and Ed25519 when
//   enabled, RFC 8463) are prepended;
// - the envelope sender becomes a VERP return path per recipient (feedback/verp.ts) when the
//   domain's return-path host verified, so asynchronous bounces come back matched and SPF
//   aligns on the return-path host; otherwise the submitted sender stays.
// Mail without a tenant (relayed DSNs, our own reports) and the null sender go out unchanged.
import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import type { Database } from '../store/index.ts';
import { domainOf } from '../smtp/index.ts';
import { dkimSignatureHeaders, loadSigningKeys } from '../domains/index.ts';
import { headAndRelaxedBodyHash } from '../domains/dkim-body-stream.ts';

const CRLF = Buffer.from('\r\n');
import type { VerpCodec } from '../feedback/verp.ts';
import { Gate } from '../concurrency/gate.ts';

export interface OutboundOptions {
  readonly db: Kysely<Database>;
  readonly secretKey: Buffer;
  /** null: VERP off (`feedback.verp: false`). */
  readonly verp: VerpCodec | null;
  /** RFC 9477 CFBL-Address value, e.g. `fbl@mta.example; report=arf`; null: none. */
  readonly cfblAddress: string | null;
  /** Opens a spooled body as a stream (hashed for DKIM without holding it). */
  readonly openSpool: (path: string) => AsyncIterable<Buffer>;
}

export interface OutboundMessage {
  readonly id: string;
  readonly tenantId: string | null;
  readonly stream: string;
  readonly mailFrom: string;
  readonly isBounce: boolean;
  readonly fromHeader: string | null;
  readonly size: number;
  readonly inline: Buffer | null;
  readonly bodyPath: string | null;
  readonly body: () => Buffer | Readable;
}

export interface OutboundPlan {
  readonly body: () => Buffer | Readable;
  readonly size: number;
  /** The envelope sender for one recipient row. */
  readonly mailFrom: (recipientId: number) => string;
  /** True when every recipient needs its own transaction (VERP). */
  readonly perRecipient: boolean;
  /** `d=`/`s=` of the signatures added, for the attempt's record. */
  readonly dkim: readonly string[];
}

const DOMAIN_CACHE_MS = 60_000;

/** At most a few spooled (over 1 MiB) bodies are read for hashing at once: each holds stream buffers. */
const largeBodies = new Gate(4);
const returnPaths = new WeakMap<object, Map<string, { domain: string | null; at: number }>>();

/** The tenant's sending domain that owns `name` (or a parent of it) when its return path verified. */
async function returnPathDomain(db: Kysely<Database>, tenantId: string, name: string): Promise<string | null> {
  let cache = returnPaths.get(db);
  if (!cache) returnPaths.set(db, cache = new Map());
  const key = `${tenantId}|${name}`;
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < DOMAIN_CACHE_MS) return hit.domain;
  const labels = name.split('.');
  const names = labels.slice(0, -1).map((_, i) => labels.slice(i).join('.'));
  const rows = names.length === 0 ? [] : await db.selectFrom('domains').select(['name', 'return_path_ok'])
    .where('tenant_id', '=', tenantId).where('name', 'in', names).execute();
  const owner = rows.sort((a, b) => b.name.length - a.name.length)[0];
  const domain = owner && owner.return_path_ok === 1 ? owner.name : null;
  if (cache.size > 10_000) cache.clear();
  cache.set(key, { domain, at: Date.now() });
  return domain;
}

function fromDomain(fromHeader: string | null): string | null {
  if (!fromHeader) return null;
  try {
    const first = addressparser(fromHeader, { flatten: true })[0];
    return first?.address ? domainOf(first.address).toLowerCase() || null : null;
  } catch {
    return null;
  }
}

/** True when the header section (up to the first empty line) has a field named `name`. */
function hasField(head: string, name: string): boolean {
  return new RegExp(`(^|\\r\\n)${name}:`, 'i').test(head);
}

export async function planOutbound(options: OutboundOptions, msg: OutboundMessage): Promise<OutboundPlan> {
  const unchanged: OutboundPlan = { body: msg.body, size: msg.size, mailFrom: () => msg.mailFrom, perRecipient: false, dkim: [] };
  if (!msg.tenantId || msg.isBounce || msg.mailFrom === '') return unchanged;
  const domain = fromDomain(msg.fromHeader);
  const keys = domain ? await loadSigningKeys(options.db, options.secretKey, domain, { tenantId: msg.tenantId }) : [];
  const rpDomain = options.verp ? await returnPathDomain(options.db, msg.tenantId, domainOf(msg.mailFrom).toLowerCase()) : null;
  const verp = options.verp;
  const mailFrom = verp && rpDomain ? (id: number) => verp.address(id, rpDomain) : () => msg.mailFrom;
  const perRecipient = !!(verp && rpDomain);
  // A spooled (large) body is never read into memory, and is read only when the message is
  // really sent: at DATA, the file is hashed as a stream (DKIM bh=) and then streamed behind
  // the fields added in front of it. An attempt that never reaches DATA opens nothing.
  if (msg.bodyPath) {
    const path = msg.bodyPath;
    const body = () => Readable.from((async function* () {
      const { head, bodyHash } = await largeBodies.run(() => headAndRelaxedBodyHash(options.openSpool(path)));
      const fields = addedFields(msg, domain, head.toString('latin1'), options.cfblAddress);
      const signatures = keys.length > 0 ? await dkimSignatureHeaders(Buffer.concat([fields, head, CRLF]), keys, { bodyHash, onThisThread: true }) : '';
      yield Buffer.concat([Buffer.from(signatures, 'latin1'), fields]);
      for await (const chunk of msg.body() as Readable) yield chunk as Buffer;
    })());
    // RFC 1870 §4: SIZE is an estimate; the added fields are not known before DATA.
    const estimate = msg.size + 512 + keys.length * 1024;
    return { body, size: estimate, mailFrom, perRecipient, dkim: keys.map((k) => `${k.domain}/${k.selector}`) };
  }
  const raw = msg.inline;
  if (!raw) return { ...unchanged, mailFrom, perRecipient };
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end < 0 ? raw.length : end + 2).toString('latin1');
  const added = addedFields(msg, domain, head, options.cfblAddress);
  const withFields = added.length ? Buffer.concat([added, raw]) : raw;
  const signatures = keys.length > 0 ? await dkimSignatureHeaders(withFields, keys, { onThisThread: true }) : '';
  const out = signatures ? Buffer.concat([Buffer.from(signatures, 'latin1'), withFields]) : withFields;
  return {
    body: () => out, size: out.length, mailFrom, perRecipient,
    dkim: keys.map((k) => `${k.domain}/${k.selector}`),
  };
}

/** Feedback-ID and CFBL-Address, each unless the message already has one. */
function addedFields(msg: OutboundMessage, domain: string | null, head: string, cfblAddress: string | null): Buffer {
  let added = '';
  if (!hasField(head, 'feedback-id')) added += `Feedback-ID: ${feedbackId(msg, domain)}\r\n`;
  if (cfblAddress && !hasField(head, 'cfbl-address')) added += `CFBL-Address: ${cfblAddress}\r\n`;
  return Buffer.from(added, 'latin1');
}

/** Gmail's Feedback-ID: colon-separated identifiers, the last one naming the sender. */
function feedbackId(msg: OutboundMessage, domain: string | null): string {
  return `${msg.stream}:${msg.tenantId}:${domain ?? 'unknown'}:postline`;
}
