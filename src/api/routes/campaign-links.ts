// The public links of campaign messages, without authentication: the signed token is the
// credential (campaigns/link-signer.ts). A token we did not sign gets 404 and changes nothing.
//   POST /u/{token}   RFC 8058 §3.2 one-click: body `List-Unsubscribe=One-Click`
//                     (x-www-form-urlencoded or multipart/form-data) unsubscribes from all
//                     mail of the tenant's broadcast stream, no further interaction; the
//                     preference page's form posts `scope=list|all` here too.
//   GET  /u/{token}   the small preference page (RFC 8058 §3.2: a GET must not unsubscribe,
//                     since scanners fetch links).
//   GET  /t/o/{token} open pixel (a 1×1 GIF); GET /t/c/{token}?u=… click redirect to the
//                     one URL the token was signed for.
//   GET  /c/{token}   double opt-in: a page with a confirm button; POST /c/{token} confirms
//                     (opt-in time and IP recorded). A GET never confirms: scanners fetch links.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { campaignServiceOf } from '../../campaigns/index.ts';
import { unsubscribe, unsubscribeTarget } from '../../campaigns/unsubscribe.ts';
import { recordTracking, trackedMessage } from '../../campaigns/track-event.ts';
import { confirmListMember, getContact, getList } from '../../store/index.ts';

const FORM_BODY_LIMIT_BYTES = 8 * 1024;
// The smallest transparent GIF (43 bytes).
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const tokenParams = z.object({ token: z.string().min(1).max(200) });

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">`
    + `<title>${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.4rem 1rem;margin:.25rem 0}</style></head>`
    + `<body><h1>${title}</h1>${body}</body></html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The form fields of a small urlencoded or multipart body (RFC 7578 §4.2 name= parts). */
function formFields(request: FastifyRequest): Map<string, string> {
  const raw = typeof request.body === 'string' ? request.body : '';
  const out = new Map<string, string>();
  const type = String(request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    for (const m of raw.matchAll(/content-disposition:\s*form-data;\s*name="([^"]+)"[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*\r?\n([^\r\n]*)/gi)) out.set(m[1], m[2]);
  } else {
    for (const [k, v] of new URLSearchParams(raw)) out.set(k, v);
  }
  return out;
}

const noStore = { 'cache-control': 'no-store, private', 'referrer-policy': 'no-referrer' };
const tags = ['public'];

export const campaignLinkRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config } = app.postline;
  const { signer } = await campaignServiceOf(app.postline);
  const readText = (_request: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void) => done(null, body);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT_BYTES }, readText);
  app.addContentTypeParser('multipart/form-data', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT_BYTES }, readText);
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, auth: 'public' };
  });

  app.route({
    method: 'GET', url: '/u/:token',
    schema: { hide: true, tags, summary: 'Unsubscribe preference page', params: tokenParams },
    handler: async (request, reply) => {
      const messageId = signer.verifyUnsubscribe(request.params.token);
      const target = messageId ? await unsubscribeTarget(store, messageId) : null;
      reply.headers(noStore).type('text/html; charset=utf-8');
      if (!target) return reply.code(404).send(page('Link not valid', '<p>This unsubscribe link is not valid.</p>'));
      const action = `/u/${encodeURIComponent(request.params.token)}`;
      const done = target.contactStatus === 'unsubscribed' ? '<p>You are unsubscribed from all our mail.</p>' : '';
      const lists = target.listIds.length ? `<form method="post" action="${action}"><input type="hidden" name="scope" value="list"><button type="submit">Unsubscribe from this list</button></form>` : '';
      return page('Email preferences', `<p>${escapeHtml(target.email)}</p>${done}${lists}<form method="post" action="${action}"><input type="hidden" name="scope" value="all"><button type="submit">Unsubscribe from all</button></form>`);
    },
  });

  app.route({
    method: 'POST', url: '/u/:token', bodyLimit: FORM_BODY_LIMIT_BYTES,
    schema: { hide: true, tags, summary: 'One-click unsubscribe (RFC 8058) and the preference form', params: tokenParams },
    handler: async (request, reply) => {
      const messageId = signer.verifyUnsubscribe(request.params.token);
      const target = messageId ? await unsubscribeTarget(store, messageId) : null;
      reply.headers(noStore);
      if (!target) return reply.code(404).type('text/plain; charset=utf-8').send('unknown unsubscribe link\n');
      const form = formFields(request);
      // RFC 8058 §3.2: the one-click POST carries List-Unsubscribe=One-Click.
      const oneClick = form.get('List-Unsubscribe') === 'One-Click';
      const scope = !oneClick && form.get('scope') === 'list' ? 'list' : 'all';
      await unsubscribe(store, target, scope, oneClick ? 'one-click' : 'page');
      if (oneClick) return reply.type('text/plain; charset=utf-8').send('unsubscribed\n');
      return reply.type('text/html; charset=utf-8').send(page('Unsubscribed', scope === 'list' ? '<p>You will no longer get mail from this list.</p>' : '<p>You will no longer get our mail.</p>'));
    },
  });

  /** The list and contact of a confirmation token, when signed here and both still exist. */
  async function confirmTarget(token: string) {
    const named = signer.verifyConfirm(token);
    if (!named) return null;
    const list = await store.db.selectFrom('contact_lists').select('tenant_id').where('id', '=', named.listId).executeTakeFirst();
    if (!list) return null;
    const [l, contact] = await Promise.all([getList(store.db, list.tenant_id, named.listId), getContact(store.db, list.tenant_id, named.contactId)]);
    return l && contact ? { list: l, contact } : null;
  }

  app.route({
    method: 'GET', url: '/c/:token',
    schema: { hide: true, tags, summary: 'Double opt-in confirmation page', params: tokenParams },
    handler: async (request, reply) => {
      const target = await confirmTarget(request.params.token);
      reply.headers(noStore).type('text/html; charset=utf-8');
      if (!target) return reply.code(404).send(page('Link not valid', '<p>This confirmation link is not valid.</p>'));
      return page(`Confirm your subscription to ${escapeHtml(target.list.name)}`, `<p>${escapeHtml(target.contact.email)}</p>`
        + `<form method="post" action="/c/${encodeURIComponent(request.params.token)}"><button type="submit">Confirm</button></form>`);
    },
  });

  app.route({
    method: 'POST', url: '/c/:token', bodyLimit: FORM_BODY_LIMIT_BYTES,
    schema: { hide: true, tags, summary: 'Confirm a double opt-in subscription', params: tokenParams },
    handler: async (request, reply) => {
      const target = await confirmTarget(request.params.token);
      reply.headers(noStore).type('text/html; charset=utf-8');
      if (!target) return reply.code(404).send(page('Link not valid', '<p>This confirmation link is not valid.</p>'));
      await store.write((trx) => confirmListMember(trx, target.list.id, target.contact.id, request.ip, Date.now()));
      return page('Subscription confirmed', `<p>You will get ${escapeHtml(target.list.name)}.</p>`);
    },
  });

  app.route({
    method: 'GET', url: '/t/o/:token',
    schema: { hide: true, tags, summary: 'Open tracking pixel', params: tokenParams },
    handler: async (request, reply) => {
      const messageId = signer.verifyOpen(request.params.token);
      const msg = messageId ? await trackedMessage(store, messageId) : null;
      if (!msg || !messageId) return reply.code(404).headers(noStore).type('text/plain; charset=utf-8').send('not found\n');
      await recordTracking(store, config, messageId, msg, 'open', null, { ip: request.ip, userAgent: request.headers['user-agent'] ?? null });
      return reply.headers(noStore).type('image/gif').send(PIXEL);
    },
  });

  app.route({
    method: 'GET', url: '/t/c/:token',
    schema: { hide: true, tags, summary: 'Click tracking redirect', params: tokenParams, querystring: z.object({ u: z.string().max(8192).default('') }) },
    handler: async (request, reply) => {
      const click = signer.verifyClick(request.params.token, request.query.u);
      const msg = click ? await trackedMessage(store, click.messageId) : null;
      if (!click || !msg) return reply.code(404).headers(noStore).type('text/plain; charset=utf-8').send('unknown link\n');
      await recordTracking(store, config, click.messageId, msg, 'click', click.url, { ip: request.ip, userAgent: request.headers['user-agent'] ?? null });
      return reply.code(302).headers(noStore).header('location', click.url).send();
    },
  });
};
