// Double opt-in: a contact added to a `double` list through the API waits as `unconfirmed`
// (campaigns do not reach it) and gets the list's confirmation mail, an editable Handlebars
// template with {{confirm_url}} and the contact's fields, on the transactional stream. The
// signed link (GET shows a button, POST confirms: a scanner's GET confirms nothing) makes
// the member `subscribed` and records the opt-in time and IP.
import type { Config } from '../config/index.ts';
import { composeMessage, type TemplateRenderer } from '../compose/index.ts';
import { insertMessages, newId, type ContactListTable, type ContactTable, type Store } from '../store/index.ts';
import type { LinkSigner } from './link-signer.ts';

export const DEFAULT_CONFIRM_SUBJECT = 'Please confirm your subscription to {{list.name}}';
export const DEFAULT_CONFIRM_TEXT = 'Please confirm that you want to receive {{list.name}}:\n\n{{confirm_url}}\n\nIf you did not ask for it, ignore this message.\n';

/** Queues the confirmation mail of `list` to `contact`; answers the message id. */
export async function sendConfirmation(store: Store, config: Readonly<Config>, signer: LinkSigner, renderer: TemplateRenderer, list: ContactListTable, contact: ContactTable, linkBase?: string): Promise<string> {
  if (!list.confirm_from) throw Object.assign(new Error(`list ${list.id} has no confirm_from`), { code: 'LIST_CONFIRM_FROM_MISSING' });
  const confirmUrl = signer.confirmUrl(list.id, contact.id, linkBase);
  const attributes = JSON.parse(contact.attributes) as Record<string, unknown>;
  const data = { contact: { ...attributes, email: contact.email, name: contact.name }, list: { name: list.name }, confirm_url: confirmUrl };
  const rendered = renderer.render({
    id: list.id, subject: list.confirm_subject ?? DEFAULT_CONFIRM_SUBJECT,
    html: list.confirm_html, text: list.confirm_text ?? (list.confirm_html ? null : DEFAULT_CONFIRM_TEXT),
  }, data);
  const id = newId();
  const m = await composeMessage({
    from: { address: list.confirm_from, name: null, utf8: false }, to: [{ address: contact.email, name: contact.name, utf8: false }],
    subject: rendered.subject, html: rendered.html, text: rendered.text,
  }, { id, hostname: config.hostname, date: new Date(), maxMessageBytes: config.smtp.max_message_bytes, maxRecipients: 1 });
  await store.write((trx) => insertMessages(trx, [{
    id, tenantId: list.tenant_id, origin: 'api', stream: 'transactional', mailFrom: m.mailFrom, body: { size: m.raw.length, inline: m.raw, path: null },
    headerSize: m.headerSize, messageIdHeader: m.messageIdHeader, subject: m.subject, fromHeader: m.fromHeader, smtputf8: m.smtputf8,
    recipients: [{ rcpt: contact.email }], tags: ['confirmation'], metadata: { list_id: list.id, contact_id: contact.id },
  }], { now: Date.now(), lifetimeMs: config.queue.max_lifetime }));
  return id;
}
