// From a validated send request to a message ready to store: template resolved and
// rendered, sender domain checked against the tenant's (as SMTP submission does), MIME
// built, schedule decided. Every refusal is a ComposeError naming the field at fault;
// composeProblem turns it into the problem+json the client sees.
import type { Config } from '../../config/index.ts';
import type { Stream, Store, TemplateTable } from '../../store/index.ts';
import { findTemplate, listDomains, newId } from '../../store/index.ts';
import { parseAddress } from '../../smtp/index.ts';
import {
  ComposeError, HEADER_INJECTION, MAX_SCHEDULE_AHEAD_MS, composeMessage, prepareRawMessage,
  type ComposeErrorKind, type ComposedMessage, type RawMessageInput, type SendMessageInput, type TemplateRenderer,
} from '../../compose/index.ts';
import { ApiProblem, jsonPointer, type ProblemType } from '../problem.ts';
import { sendingDomainSets } from '../../domains/index.ts';

/** A message ready for the acceptance transaction: the composed MIME plus what the API adds. */
export interface PreparedMessage extends ComposedMessage {
  readonly id: string;
  readonly stream: Stream;
  readonly tags: readonly string[] | null;
  readonly metadata: Readonly<Record<string, unknown>> | null;
  /** When it is due; null: at once (and handed to delivery straight away). */
  readonly sendAt: number | null;
}

const SENDER_CACHE_MS = 5000;

/**
 * The tenant's sending domains, cached for a few seconds. A domain not in the cached set is
 * looked up again before refusing, so a domain added a moment ago works at once.
 */
export class SenderDomains {
  readonly #store: Store;
  readonly #requireVerified: boolean;
  readonly #cache = new Map<string, { domains: Set<string>; pending: Set<string>; at: number }>();

  /** `requireVerified` (domains.require_verified): only verified domains may send. */
  constructor(store: Store, requireVerified = true) {
    this.#store = store;
    this.#requireVerified = requireVerified;
  }

  async #entry(tenantId: string, fresh: boolean) {
    const hit = this.#cache.get(tenantId);
    if (hit && !fresh && Date.now() - hit.at < SENDER_CACHE_MS) return hit;
    const rows = await listDomains(this.#store.db, tenantId);
    const sandbox = this.#requireVerified && (await this.#store.db.selectFrom('tenants').select('sandbox').where('id', '=', tenantId).executeTakeFirst())?.sandbox === 1;
    const sets = sendingDomainSets(rows, { requireVerified: this.#requireVerified, sandbox });
    const entry = { domains: sets.usable, pending: sets.pending, at: Date.now() };
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(tenantId, entry);
    return entry;
  }

  /** The domains the tenant may send from now. */
  async load(tenantId: string, fresh = false): Promise<ReadonlySet<string>> {
    return (await this.#entry(tenantId, fresh)).domains;
  }

  /** True when every domain is a sending domain of the tenant or a subdomain of one. */
  async owns(tenantId: string, domains: readonly string[]): Promise<boolean> {
    return ownedBy(await this.load(tenantId), domains) || ownedBy(await this.load(tenantId, true), domains);
  }

  /** The tenant's domain, added but not verified yet, that `domain` belongs to (for a precise refusal). */
  async pendingFor(tenantId: string, domain: string): Promise<string | null> {
    const { pending } = await this.#entry(tenantId, false);
    for (let d = domain.toLowerCase(); d.includes('.'); d = d.slice(d.indexOf('.') + 1)) if (pending.has(d)) return d;
    return null;
  }
}

export function ownedBy(owned: ReadonlySet<string>, domains: readonly string[]): boolean {
  return domains.every((domain) => {
    for (let d = domain.toLowerCase(); d.includes('.'); d = d.slice(d.indexOf('.') + 1)) if (owned.has(d)) return true;
    return false;
  });
}

export interface PrepareContext {
  readonly store: Store;
  readonly config: Readonly<Config>;
  readonly renderer: TemplateRenderer;
  readonly domains: SenderDomains;
  readonly tenantId: string;
  readonly now: number;
  /** Templates looked up in this request (a batch often names the same one). */
  readonly templates: Map<string, TemplateTable | undefined>;
}

/** `send_at` as a time, or null for "now"; throws ComposeError beyond 30 days ahead. */
export function scheduleOf(sendAt: string | undefined, now: number): number | null {
  if (sendAt === undefined) return null;
  const at = Date.parse(sendAt);
  if (at <= now) return null;
  if (at - now > MAX_SCHEDULE_AHEAD_MS) throw new ComposeError('SEND_AT_TOO_FAR', 'invalid', '/send_at', 'send_at may be at most 30 days ahead');
  return at;
}

async function assertSenderOwned(ctx: PrepareContext, owned: boolean, from: string, pointer: string): Promise<void> {
  if (owned) return;
  const pending = await ctx.domains.pendingFor(ctx.tenantId, from.slice(from.lastIndexOf('@') + 1));
  if (pending) {
    throw new ComposeError('SENDER_DOMAIN_NOT_VERIFIED', 'unprocessable', pointer,
      `${from} is in ${pending}, which is not verified yet: publish its DNS records and POST /api/v1/domains/{id}/verify`);
  }
  throw new ComposeError('SENDER_DOMAIN_NOT_OWNED', 'unprocessable', pointer, `${from} is not in one of your sending domains: add the domain first`);
}

async function templateOf(ctx: PrepareContext, idOrName: string): Promise<TemplateTable> {
  if (!ctx.templates.has(idOrName)) ctx.templates.set(idOrName, await findTemplate(ctx.store.db, ctx.tenantId, idOrName));
  const row = ctx.templates.get(idOrName);
  if (!row) throw new ComposeError('TEMPLATE_NOT_FOUND', 'not-found', '/template', `no template ${idOrName}`);
  return row;
}

/** A JSON send request → a prepared message. Throws ComposeError. */
export async function prepareJsonMessage(ctx: PrepareContext, input: SendMessageInput): Promise<PreparedMessage> {
  const sendAt = scheduleOf(input.send_at, ctx.now);
  await assertSenderOwned(ctx, await ctx.domains.owns(ctx.tenantId, [input.from.address.slice(input.from.address.lastIndexOf('@') + 1)]), input.from.address, '/from');
  let { subject, html, text } = input;
  if (input.template !== undefined) {
    const template = await templateOf(ctx, input.template);
    const rendered = ctx.renderer.render(template, input.data ?? {});
    if (rendered.subject !== null && /[\r\n]/.test(rendered.subject)) {
      throw new ComposeError('TEMPLATE_SUBJECT_INJECTION', 'invalid', '/data', `the template subject rendered with data ${HEADER_INJECTION}`);
    }
    subject = rendered.subject ?? undefined;
    html = rendered.html ?? undefined;
    text = rendered.text ?? undefined;
  }
  const id = newId(ctx.now);
  const composed = await composeMessage({ ...input, subject, html, text }, {
    id, hostname: ctx.config.hostname, date: new Date(ctx.now),
    maxMessageBytes: ctx.config.smtp.max_message_bytes, maxRecipients: ctx.config.smtp.max_recipients,
  });
  return { id, ...composed, stream: input.stream, tags: input.tags ?? null, metadata: input.metadata ?? null, sendAt };
}

/** A raw send request → a prepared message. Throws ComposeError. */
export async function prepareRawRequest(ctx: PrepareContext, input: RawMessageInput): Promise<PreparedMessage> {
  const sendAt = scheduleOf(input.send_at, ctx.now);
  const from = parseAddress(input.mail_from);
  if (!from) throw new ComposeError('ADDRESS_INVALID', 'invalid', '/mail_from', `"${input.mail_from.slice(0, 100)}" is not a valid email address`);
  const recipients: string[] = [];
  let utf8 = from.utf8;
  for (const [i, rcpt] of input.rcpt_to.entries()) {
    const parsed = parseAddress(rcpt);
    if (!parsed) throw new ComposeError('ADDRESS_INVALID', 'invalid', `/rcpt_to/${i}`, `"${rcpt.slice(0, 100)}" is not a valid email address`);
    utf8 ||= parsed.utf8;
    if (!recipients.includes(parsed.address)) recipients.push(parsed.address);
  }
  if (recipients.length > ctx.config.smtp.max_recipients) {
    throw new ComposeError('MESSAGE_TOO_MANY_RECIPIENTS', 'invalid', '/rcpt_to', `at most ${ctx.config.smtp.max_recipients} recipients per message`);
  }
  const owned = await ctx.domains.load(ctx.tenantId, true);
  await assertSenderOwned(ctx, ownedBy(owned, [from.domain]), from.address, '/mail_from');
  const id = newId(ctx.now);
  const prepared = await prepareRawMessage(Buffer.from(input.data, 'base64'), {
    id, hostname: ctx.config.hostname, date: new Date(ctx.now),
    maxMessageBytes: ctx.config.smtp.max_message_bytes, maxHeaderBytes: ctx.config.smtp.max_header_bytes,
    ownsDomains: (domains) => ownedBy(owned, domains),
  });
  return {
    id, ...prepared, mailFrom: from.address, recipients, smtputf8: utf8,
    stream: input.stream, tags: input.tags ?? null, metadata: input.metadata ?? null, sendAt,
  };
}

const KIND_TYPES: Record<ComposeErrorKind, ProblemType> = {
  'invalid': 'validation', 'too-large': 'payload-too-large', 'unprocessable': 'unprocessable', 'not-found': 'not-found',
};

/**
 * The problem for a ComposeError. `prefix` is where the message sits in the body (a batch
 * item: `['messages', 3]`); template field errors point into the template and are not prefixed.
 */
export function composeProblem(err: ComposeError, prefix: readonly PropertyKey[] = []): ApiProblem {
  const inTemplate = err.code.startsWith('TEMPLATE_') && /^\/(subject|html|text)$/.test(err.pointer);
  const pointer = inTemplate ? err.pointer : jsonPointer(prefix) + err.pointer;
  return new ApiProblem(KIND_TYPES[err.kind], err.message, {
    code: `API_${err.code}`,
    errors: [{ in: 'body', pointer, detail: err.message }],
    ...(inTemplate ? { extensions: { template_field: err.pointer.slice(1) } } : {}),
    cause: err.cause,
  });
}
