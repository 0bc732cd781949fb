// One campaign message for one contact: the campaign's Handlebars sources rendered with the
// contact's fields, links rewritten for click tracking and an open pixel (when on), built by
// compose/ and given the bulk-mail headers: List-Unsubscribe with an HTTPS URL and a mailto
// (RFC 2369 §3.2), List-Unsubscribe-Post for one-click (RFC 8058 §3.1), and List-Id
// (RFC 2919 §3). The delivery thread's DKIM signer lists all three in h= (RFC 8058 §4 asks
// that both List-Unsubscribe fields be signed).
import Handlebars from 'handlebars';
import { Parser } from 'htmlparser2';
import { composeMessage, type ComposedMessage, type TemplateRenderer } from '../compose/index.ts';
import type { CampaignTable, ContactTable } from '../store/index.ts';
import type { LinkSigner } from './link-signer.ts';
import { escapeAttr, rewriteHtmlForTracking } from './tracking-rewrite.ts';

export interface CampaignContent {
  readonly subject: string;
  readonly html: string | null;
  readonly text: string | null;
}

export interface CampaignMessageOptions {
  readonly hostname: string;
  readonly signer: LinkSigner;
  readonly renderer: TemplateRenderer;
  /** The host of the mailto unsubscribe address (this instance's return-path host of the sender domain). */
  readonly mailtoHost: string;
  readonly maxMessageBytes: number;
  /** The links' base URL for this sender domain (its link host); default the signer's. */
  readonly linkBase?: string;
  readonly date?: Date;
}

/** Per message: its Date (default now) and the host of its Message-ID (default options.hostname). */
export interface CampaignMessageStamp {
  readonly date?: Date;
  readonly hostname?: string;
}

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * The contact fields a message is made from: a contact row (attributes as JSON text), or the
 * copy in a message made when sent (campaign-body.ts; attributes already parsed there).
 */
export type CampaignContact = Pick<ContactTable, 'id' | 'email' | 'name'> & { readonly attributes: string | Readonly<Record<string, unknown>> };

/** What a template sees: `{{contact.name}}`, `{{contact.email}}`, `{{contact.<attribute>}}`, `{{campaign.name}}`, `{{unsubscribe_url}}`. */
export function templateData(campaign: Pick<CampaignTable, 'name' | 'id'>, contact: CampaignContact, unsubscribeUrl: string): Record<string, unknown> {
  const attributes = typeof contact.attributes === 'string' ? JSON.parse(contact.attributes) as Record<string, unknown> : contact.attributes;
  return {
    contact: { ...attributes, attributes, email: contact.email, name: contact.name, id: contact.id },
    campaign: { name: campaign.name, id: campaign.id },
    unsubscribe_url: unsubscribeUrl,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** RFC 2919 §2: `<label.namespace>`; the label is the list (or campaign) id, lower-cased. */
export function listIdHeader(campaign: Pick<CampaignTable, 'id' | 'name' | 'list_ids' | 'from_address'>): string {
  const lists = JSON.parse(campaign.list_ids) as string[];
  const label = (lists.length === 1 ? lists[0] : campaign.id).toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const domain = campaign.from_address.slice(campaign.from_address.lastIndexOf('@') + 1).toLowerCase();
  const phrase = campaign.name.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, '').slice(0, 60);
  return phrase ? `"${phrase}" <${label}.${domain}>` : `<${label}.${domain}>`;
}

/** Builds the message of `campaign` for `contact` with queue id `messageId`. Throws ComposeError when a template fails. */
export async function buildCampaignMessage(campaign: CampaignTable, content: CampaignContent, contact: CampaignContact, messageId: string, options: CampaignMessageOptions): Promise<ComposedMessage> {
  const { signer } = options;
  const token = signer.unsubscribeToken(messageId);
  const base = options.linkBase ?? signer.base;
  const unsubscribeUrl = `${base}/u/${token}`;
  const data = templateData(campaign, contact, unsubscribeUrl);
  const rendered = options.renderer.render({ id: campaign.id, subject: content.subject, html: content.html, text: content.text }, data);
  let html = rendered.html;
  let text = rendered.text;
  // A visible unsubscribe link in the body, unless the template placed its own.
  if (html !== null && !(content.html ?? '').includes('unsubscribe_url')) {
    html += `\n<p style="font-size:12px;color:#666"><a href="${escapeHtml(unsubscribeUrl)}">Unsubscribe</a></p>`;
  }
  if (text !== null && !(content.text ?? '').includes('unsubscribe_url')) text += `\n\nUnsubscribe: ${unsubscribeUrl}\n`;
  if (html !== null && (campaign.track_clicks || campaign.track_opens)) {
    html = rewriteHtmlForTracking(html, {
      clickUrl: campaign.track_clicks ? (url) => signer.clickUrl(messageId, url, base) : null,
      openPixelUrl: campaign.track_opens ? signer.openUrl(messageId, base) : null,
      keep: (url) => url === unsubscribeUrl,
    });
  }
  const composed = await composeMessage({
    from: { address: campaign.from_address, name: campaign.from_name, utf8: false },
    to: [{ address: contact.email, name: contact.name, utf8: false }],
    reply_to: campaign.reply_to ? [{ address: campaign.reply_to, name: null, utf8: false }] : undefined,
    subject: rendered.subject, html, text,
  }, { id: messageId, hostname: options.hostname, date: options.date ?? new Date(), maxMessageBytes: options.maxMessageBytes, maxRecipients: 1, repeatable: true });
  return withListHeaders(composed, listHeaders(campaign), unsubscribeUrl, token, options.mailtoHost);
}

/** The bulk-mail headers that are the same for every message of a campaign. */
function listHeaders(campaign: CampaignTable): string {
  return 'List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n' // RFC 8058 §3.1
    + `List-Id: ${listIdHeader(campaign)}\r\n`
    // Gmail's feedback loop: the campaign first, so complaint rates are reported per campaign
    // (delivery adds its default `<stream>:<tenant>:<domain>:postline` only when none is set).
    + `Feedback-ID: ${campaign.id}:${campaign.tenant_id}:${campaign.from_address.slice(campaign.from_address.lastIndexOf('@') + 1).toLowerCase()}:postline\r\n`;
}

/** List-Unsubscribe with the HTTPS URL and the mailto (RFC 2369 §3.2), then the campaign's fixed headers, above the composed ones. */
function withListHeaders(composed: ComposedMessage, fixed: string, unsubscribeUrl: string, token: string, mailtoHost: string): ComposedMessage {
  const head = `List-Unsubscribe: <${unsubscribeUrl}>,\r\n <mailto:unsubscribe+${token}@${mailtoHost}?subject=unsubscribe>\r\n${fixed}`;
  const headBytes = Buffer.byteLength(head);
  const raw = Buffer.allocUnsafe(headBytes + composed.raw.length);
  raw.write(head, 0, 'utf8');
  composed.raw.copy(raw, headBytes);
  return { ...composed, raw, headerSize: composed.headerSize + headBytes };
}

// The campaign's html prepared once (CampaignMessages below). Rendering each contact's html
// and parsing it again for links was a fifth of a message's CPU; when the template's only
// per-contact parts are `{{a.b}}` values in text (and `{{unsubscribe_url}}`, in text or as a
// whole href), the rendered html is rewritten once with markers in their place, then filled.
// Handlebars escapes every value it puts in html (no `<`, `>`, `&`, quotes or `=` survive),
// so a value in text cannot start a tag, end a comment or move a link: the links the parser
// finds, and where, are the same for every contact. Markers are private-use code points; a
// template containing any is left to the general path.
const MARK = /\uE000([^\uE001]*)\uE001|\uE002([^\uE003]*)\uE003/g;
const PRIVATE_MARKS = /[\uE000-\uE003]/;
const UNSUBSCRIBE_HB = '\uE000u\uE001';
const UNSUBSCRIBE_APPENDED = '\uE000a\uE001';
const OPEN = '\uE002o\uE003';

type Slot =
  | { readonly kind: 'value'; readonly path: readonly string[] }
  | { readonly kind: 'unsubscribe' | 'unsubscribe-appended' | 'open' }
  | { readonly kind: 'click'; readonly url: string };

/** A template as literal text between slots: parts[0], slot 0, parts[1], … */
interface SplitHtml {
  readonly parts: readonly string[];
  readonly slots: readonly Slot[];
}

/** The mustache paths of a template made only of text, comments and plain `{{a.b}}` / `{{unsubscribe_url}}`; null for anything else. */
function plainPaths(source: string): string[][] | null {
  let program: hbs.AST.Program;
  try {
    program = Handlebars.parse(source);
  } catch {
    return null;
  }
  const paths: string[][] = [];
  for (const statement of program.body) {
    if (statement.type === 'ContentStatement' || statement.type === 'CommentStatement') continue;
    if (statement.type !== 'MustacheStatement') return null;
    const m = statement as hbs.AST.MustacheStatement;
    if (!m.escaped || m.params.length > 0 || m.hash || m.path.type !== 'PathExpression') return null;
    const path = m.path as hbs.AST.PathExpression;
    // A one-part name could be a helper (`{{log}}`); a dotted path never is.
    if (path.data || path.depth !== 0 || (path.parts.length < 2 && path.parts.join() !== 'unsubscribe_url')) return null;
    paths.push(path.parts);
  }
  return paths;
}

/** Data whose every used value is a marker naming its path; null when two paths clash (`a.b` and `a.b.c`). */
function markerData(paths: readonly string[][], slots: Slot[]): Record<string, unknown> | null {
  const data: Record<string, unknown> = { unsubscribe_url: UNSUBSCRIBE_HB };
  const seen = new Map<string, string>();
  for (const parts of paths) {
    if (parts.length === 1) continue;
    const key = parts.join('\0');
    if (seen.has(key)) continue;
    let node = data;
    for (const part of parts.slice(0, -1)) {
      const next = Object.hasOwn(node, part) ? node[part] : (node[part] = {});
      if (typeof next !== 'object' || next === null) return null;
      node = next as Record<string, unknown>;
    }
    const leaf = parts[parts.length - 1];
    if (Object.hasOwn(node, leaf)) return null;
    const marker = `\uE000${slots.length}\uE001`;
    slots.push({ kind: 'value', path: parts });
    seen.set(key, marker);
    node[leaf] = marker;
  }
  return data;
}

/** True when every marker of `html` sits in text, or is the whole href of a link that is kept (the unsubscribe link). */
function markersOnlyInText(html: string): boolean {
  const allowed: Array<[number, number]> = [];
  const parser = new Parser({
    ontext() {
      allowed.push([parser.startIndex, parser.endIndex + 1]);
    },
    onopentag(name, attribs) {
      const href = attribs.href?.trim();
      if ((name === 'a' || name === 'area') && (href === UNSUBSCRIBE_HB || href === UNSUBSCRIBE_APPENDED)) allowed.push([parser.startIndex, parser.endIndex + 1]);
    },
  }, { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true });
  parser.end(html);
  for (const m of html.matchAll(MARK)) {
    const start = m.index;
    const end = start + m[0].length;
    if (!allowed.some(([a, b]) => start >= a && end <= b)) return false;
  }
  return true;
}

function split(html: string, slotOf: (mark: string) => Slot): SplitHtml {
  const parts: string[] = [];
  const slots: Slot[] = [];
  let pos = 0;
  for (const m of html.matchAll(MARK)) {
    parts.push(html.slice(pos, m.index));
    slots.push(slotOf(m[0]));
    pos = m.index + m[0].length;
  }
  parts.push(html.slice(pos));
  return { parts, slots };
}

function fill(s: SplitHtml, slotText: (slot: Slot) => string): string {
  let out = s.parts[0];
  for (let i = 0; i < s.slots.length; i++) out += slotText(s.slots[i]) + s.parts[i + 1];
  return out;
}

/** Handlebars' own lookup (own properties only, as with allowProtoPropertiesByDefault: false) and escaping. */
function valueAt(data: Record<string, unknown>, path: readonly string[]): string {
  let v: unknown = data;
  for (const part of path) {
    if (v == null) break;
    v = Object.prototype.hasOwnProperty.call(v, part) ? (v as Record<string, unknown>)[part] : undefined;
  }
  return Handlebars.escapeExpression(v as string);
}

interface PreparedHtml {
  /** The rendered html (before the unsubscribe link and tracking), to check each contact's against. */
  readonly rendered: SplitHtml;
  /** The html as sent: unsubscribe link added, links and pixel rewritten. */
  readonly sent: SplitHtml;
}

function prepareHtml(campaign: CampaignTable, content: CampaignContent, renderer: TemplateRenderer): PreparedHtml | null {
  const source = content.html;
  if (source === null || PRIVATE_MARKS.test(source)) return null;
  const paths = plainPaths(source);
  if (!paths) return null;
  const valueSlots: Slot[] = [];
  const data = markerData(paths, valueSlots);
  if (!data) return null;
  let html: string;
  try {
    html = renderer.render({ id: campaign.id, subject: null, html: source, text: null }, data).html ?? '';
  } catch {
    return null; // The general path reports the error, per contact.
  }
  const slotOf = (mark: string): Slot => {
    if (mark === UNSUBSCRIBE_HB) return { kind: 'unsubscribe' };
    if (mark === UNSUBSCRIBE_APPENDED) return { kind: 'unsubscribe-appended' };
    if (mark === OPEN) return { kind: 'open' };
    const n = Number(mark.slice(1, -1));
    return mark.startsWith('\uE000') ? valueSlots[n] : clicks[n];
  };
  const clicks: Slot[] = [];
  const rendered = split(html, slotOf);
  if (!source.includes('unsubscribe_url')) html += `\n<p style="font-size:12px;color:#666"><a href="${UNSUBSCRIBE_APPENDED}">Unsubscribe</a></p>`;
  if (!markersOnlyInText(html)) return null;
  if (campaign.track_clicks || campaign.track_opens) {
    html = rewriteHtmlForTracking(html, {
      clickUrl: campaign.track_clicks ? (url) => {
        clicks.push({ kind: 'click', url });
        return `\uE002${clicks.length - 1}\uE003`;
      } : null,
      openPixelUrl: campaign.track_opens ? OPEN : null,
      keep: (url) => url === UNSUBSCRIBE_HB || url === UNSUBSCRIBE_APPENDED,
    });
  }
  return { rendered, sent: split(html, slotOf) };
}

/**
 * The messages of one campaign content (one A/B variant) for many contacts: the same bytes
 * buildCampaignMessage makes, with the html's links found once (see above) and the headers
 * every message shares made once. Falls back to buildCampaignMessage for a template with
 * logic (blocks, helpers), values in attributes, or a contact whose html comes out otherwise.
 */
export class CampaignMessages {
  readonly #campaign: CampaignTable;
  readonly #content: CampaignContent;
  readonly #options: CampaignMessageOptions;
  readonly #html: PreparedHtml | null;
  readonly #fixedHeaders: string;
  readonly #base: string;
  /** Whether the first contact's html came out the same through Handlebars; null before it. */
  #checked: boolean | null = null;
  /** Subject and text are plain templates and the addresses ASCII (deferredSubject). */
  readonly #plainSubjectText: boolean;

  constructor(campaign: CampaignTable, content: CampaignContent, options: CampaignMessageOptions) {
    this.#campaign = campaign;
    this.#content = content;
    this.#options = options;
    this.#html = prepareHtml(campaign, content, options.renderer);
    this.#fixedHeaders = listHeaders(campaign);
    this.#base = options.linkBase ?? options.signer.base;
    const plain = (source: string | null) => source === null || (!PRIVATE_MARKS.test(source) && plainPaths(source) !== null);
    this.#plainSubjectText = plain(content.subject) && !content.subject.includes('unsubscribe_url') && plain(content.text)
      && !NON_ASCII.test(campaign.from_address) && !(campaign.reply_to !== null && NON_ASCII.test(campaign.reply_to));
  }

  /** Whether the html takes the prepared path (tests). */
  get prepared(): boolean {
    return this.#html !== null;
  }

  /**
   * For a contact whose message may be stored as what it is made from and made when sent
   * (campaigns/campaign-body.ts), its Subject; null when it must be built now. Deferred only
   * when nothing can fail at sending: the html took the prepared path and matched Handlebars
   * for an earlier contact, subject and text are plain `{{a.b}}` templates (no helpers to
   * throw), and the MIME is our own (ASCII addresses), whose bytes repeat for one id and date.
   */
  deferredSubject(contact: CampaignContact): string | null {
    if (this.#checked !== true || !this.#plainSubjectText || NON_ASCII.test(contact.email)) return null;
    // The subject never holds the unsubscribe URL here (see the constructor): no token to make.
    return this.#options.renderer.render({ id: this.#campaign.id, subject: this.#content.subject, html: null, text: null }, templateData(this.#campaign, contact, '')).subject;
  }

  async build(contact: CampaignContact, messageId: string, stamp?: CampaignMessageStamp): Promise<ComposedMessage> {
    const prepared = this.#html;
    const campaign = this.#campaign;
    const content = this.#content;
    const options = stamp ? { ...this.#options, ...stamp } : this.#options;
    if (!prepared || this.#checked === false) return buildCampaignMessage(campaign, content, contact, messageId, options);
    const { signer } = this.#options;
    const base = this.#base;
    const token = signer.unsubscribeToken(messageId);
    const unsubscribeUrl = `${base}/u/${token}`;
    const data = templateData(campaign, contact, unsubscribeUrl);
    // Subject and text through Handlebars as ever; the html's values are read as its compiled
    // code reads a plain path (own properties, then escapeExpression).
    const rendered = this.#options.renderer.render({ id: campaign.id, subject: content.subject, html: this.#checked ? null : content.html, text: content.text }, data);
    const valueOf = (slot: Slot): string => slot.kind === 'value' ? valueAt(data, slot.path) : Handlebars.escapeExpression(unsubscribeUrl);
    if (!this.#checked) {
      // Once per campaign content: the first contact's html, as Handlebars renders it, must be ours.
      this.#checked = fill(prepared.rendered, valueOf) === rendered.html;
      if (!this.#checked) return buildCampaignMessage(campaign, content, contact, messageId, options);
    }
    const html = fill(prepared.sent, (slot) => {
      switch (slot.kind) {
        case 'click': return escapeAttr(signer.clickUrl(messageId, slot.url, base));
        case 'open': return escapeAttr(signer.openUrl(messageId, base));
        case 'unsubscribe-appended': return escapeHtml(unsubscribeUrl);
        default: return valueOf(slot);
      }
    });
    let text = rendered.text;
    if (text !== null && !(content.text ?? '').includes('unsubscribe_url')) text += `\n\nUnsubscribe: ${unsubscribeUrl}\n`;
    const composed = await composeMessage({
      from: { address: campaign.from_address, name: campaign.from_name, utf8: false },
      to: [{ address: contact.email, name: contact.name, utf8: false }],
      reply_to: campaign.reply_to ? [{ address: campaign.reply_to, name: null, utf8: false }] : undefined,
      subject: rendered.subject, html, text,
    }, { id: messageId, hostname: options.hostname, date: options.date ?? new Date(), maxMessageBytes: options.maxMessageBytes, maxRecipients: 1, repeatable: true });
    return withListHeaders(composed, this.#fixedHeaders, unsubscribeUrl, token, options.mailtoHost);
  }
}
