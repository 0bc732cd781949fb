// One campaign message for one contact: the campaign's Handlebars sources rendered with the
// contact's fields, links rewritten for click tracking and an open pixel (when on), built by
// compose/ and given the bulk-mail headers: List-Unsubscribe with an HTTPS URL and a mailto
// (RFC 2369 §3.2), List-Unsubscribe-Post for one-click (RFC 8058 §3.1), and List-Id
// (RFC 2919 §3). The delivery thread's DKIM signer lists all three in h= (RFC 8058 §4 asks
// that both List-Unsubscribe fields be signed).
import { composeMessage, type ComposedMessage, type TemplateRenderer } from '../compose/index.ts';
import type { CampaignTable, ContactTable } from '../store/index.ts';
import type { LinkSigner } from './link-signer.ts';
import { rewriteHtmlForTracking } from './tracking-rewrite.ts';

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

/** What a template sees: `{{contact.name}}`, `{{contact.email}}`, `{{contact.<attribute>}}`, `{{campaign.name}}`, `{{unsubscribe_url}}`. */
export function templateData(campaign: Pick<CampaignTable, 'name' | 'id'>, contact: Pick<ContactTable, 'email' | 'name' | 'attributes' | 'id'>, unsubscribeUrl: string): Record<string, unknown> {
  const attributes = JSON.parse(contact.attributes) as Record<string, unknown>;
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
export async function buildCampaignMessage(campaign: CampaignTable, content: CampaignContent, contact: ContactTable, messageId: string, options: CampaignMessageOptions): Promise<ComposedMessage> {
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
  }, { id: messageId, hostname: options.hostname, date: options.date ?? new Date(), maxMessageBytes: options.maxMessageBytes, maxRecipients: 1 });
  const extra = `List-Unsubscribe: <${unsubscribeUrl}>,\r\n <mailto:unsubscribe+${token}@${options.mailtoHost}?subject=unsubscribe>\r\n`
    + 'List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n' // RFC 8058 §3.1
    + `List-Id: ${listIdHeader(campaign)}\r\n`
    // Gmail's feedback loop: the campaign first, so complaint rates are reported per campaign
    // (delivery adds its default `<stream>:<tenant>:<domain>:postline` only when none is set).
    + `Feedback-ID: ${campaign.id}:${campaign.tenant_id}:${campaign.from_address.slice(campaign.from_address.lastIndexOf('@') + 1).toLowerCase()}:postline\r\n`;
  const head = Buffer.from(extra);
  return { ...composed, raw: Buffer.concat([head, composed.raw]), headerSize: composed.headerSize + head.length };
}
