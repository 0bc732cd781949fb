// The tenant-isolation table: every tenant route that names an object, and every tenant list,
// with how tenant B (the owner) creates the object. isolation.test.ts proves that tenant A's
// key gets 404 (objects) or does not see B's object (lists), and that B's own request works.
// The test also fails when a tenant route in the OpenAPI document with a `{param}`, or any
// tenant GET, is missing here: add your route's row when you add the route.
import type { ApiClient } from './api-test-app.ts';
import { putTenantSending, type Store } from '../../src/store/index.ts';

/** What a setup may use beyond the owner's key: the store (to stand in for the delivery thread) and the owner's tenant id. */
export interface IsolationContext {
  readonly store: Store;
  readonly tenantId: string;
}

export interface IsolationRoute {
  /** `METHOD /path/{param}` exactly as in /api/v1/openapi.json. */
  readonly route: string;
  /** 'object': A gets 404 for B's object. 'list': A's 200 list omits B's object. Default 'object'. */
  readonly kind?: 'object' | 'list';
  /** Creates B's object with B's key (all scopes); returns the path params (and `id` for lists). */
  readonly setup: (owner: ApiClient, context: IsolationContext) => Promise<Record<string, string>>;
  /** Request body, if the route takes one. */
  readonly body?: (params: Record<string, string>) => unknown;
  /** What B gets for the same request: proves the 404 is isolation, not a broken route. */
  readonly ownerStatus: number;
}

async function created(owner: ApiClient, url: string, body: unknown): Promise<string> {
  const res = await owner.request('POST', url, body);
  if (res.status !== 201) throw new Error(`setup POST ${url}: ${res.status} ${res.text}`);
  return res.body.id as string;
}

let seq = 0;
const newKey = (owner: ApiClient) => created(owner, '/api/v1/keys', { name: 'isolation', scopes: ['read'] });
const newCredential = (owner: ApiClient) => created(owner, '/api/v1/smtp-credentials', {});
const newDomain = (owner: ApiClient) => created(owner, '/api/v1/domains', { name: `iso${process.pid}-${++seq}.example` });
/** Under .invalid (RFC 6761 §6.4): verification answers "missing" without asking DNS, so the owner's check stays on this machine. */
const newInvalidDomain = (owner: ApiClient) => created(owner, '/api/v1/domains', { name: `iso${process.pid}-${++seq}.invalid` });
const newTemplate = (owner: ApiClient) => created(owner, '/api/v1/templates', { name: `iso-${++seq}`, subject: 'Hi {{name}}', text: 'Hello {{name}}' });
/** A message scheduled an hour ahead, so that it can still be cancelled. */
async function newScheduledMessage(owner: ApiClient): Promise<string> {
  const domainId = await newDomain(owner);
  const domain = (await owner.request('GET', '/api/v1/domains?limit=100')).body.data.find((d: { id: string }) => d.id === domainId).name;
  const res = await owner.request('POST', '/api/v1/messages', { from: `news@${domain}`, to: 'someone@example.net', text: 'x', send_at: new Date(Date.now() + 3600_000).toISOString() });
  if (res.status !== 202) throw new Error(`setup POST /api/v1/messages: ${res.status} ${res.text}`);
  return res.body.id as string;
}

/** A webhook endpoint at a public IP literal (the isolation app runs with the SSRF guard on; nothing is ever called). */
const newWebhook = (owner: ApiClient) => created(owner, '/api/v1/webhooks', { url: 'https://1.1.1.1/postline-isolation' });
/** A webhook and a (pending) test delivery of it. */
async function newWebhookDelivery(owner: ApiClient): Promise<Record<string, string>> {
  const id = await newWebhook(owner);
  const res = await owner.request('POST', `/api/v1/webhooks/${id}/test`);
  if (res.status !== 202) throw new Error(`setup POST /api/v1/webhooks/${id}/test: ${res.status} ${res.text}`);
  return { id, deliveryId: res.body.id as string };
}

/** A suppressed address on the transactional stream: `{ id, stream, address }`. */
async function newSuppression(owner: ApiClient): Promise<Record<string, string>> {
  const address = `iso${process.pid}-${++seq}@suppressed.example`;
  const res = await owner.request('POST', '/api/v1/suppressions', { entries: [{ address, reason: 'complaint' }] });
  if (res.status !== 200) throw new Error(`setup POST /api/v1/suppressions: ${res.status} ${res.text}`);
  return { id: res.body.data[0].id as string, stream: 'transactional', address };
}

/** A message to a destination of its own, scheduled an hour ahead (so it stays in the queue): `{ id: messageId, domain }`. */
async function newQueuedMessage(owner: ApiClient): Promise<Record<string, string>> {
  const domainId = await newDomain(owner);
  const from = (await owner.request('GET', `/api/v1/domains/${domainId}`)).body.name;
  const domain = `dest${process.pid}-${++seq}.example`;
  const res = await owner.request('POST', '/api/v1/messages', {
    from: `news@${from}`, to: `someone@${domain}`, subject: 'Hello', text: 'Hello', html: '<p>Hello</p>',
    attachments: [{ filename: 'a.txt', content: Buffer.from('attached').toString('base64'), content_type: 'text/plain' }],
    send_at: new Date(Date.now() + 3600_000).toISOString(),
  });
  if (res.status !== 202) throw new Error(`setup POST /api/v1/messages: ${res.status} ${res.text}`);
  return { id: res.body.id as string, domain };
}

/** A message kept by capture mode: what the delivery thread's capture does to its recipients, done here. */
async function newCapturedMessage(owner: ApiClient, context: IsolationContext): Promise<Record<string, string>> {
  const { id } = await newQueuedMessage(owner);
  await context.store.write((trx) => trx.updateTable('recipients')
    .set({ status: 'delivered', last_mx: null, last_code: 250, last_response: '250 2.0.0 Captured (sandbox: not sent)' })
    .where('message_id', '=', id).where('tenant_id', '=', context.tenantId).execute());
  return { id };
}

/** A contact of the owner: `{ id }`. */
async function newContact(owner: ApiClient): Promise<Record<string, string>> {
  return { id: await created(owner, '/api/v1/contacts', { email: `iso${process.pid}-${++seq}@contacts.example` }) };
}
const newList = async (owner: ApiClient) => ({ id: await created(owner, '/api/v1/lists', { name: `iso-${++seq}` }) });
const newSegment = async (owner: ApiClient) => ({ id: await created(owner, '/api/v1/segments', { name: `iso-${++seq}`, filter: { field: 'name', op: 'exists' } }) });
/** A list with one finished import (one rejected row): `{ id, jobId }`. */
async function newImport(owner: ApiClient): Promise<Record<string, string>> {
  const { id } = await newList(owner);
  const res = await owner.request('POST', `/api/v1/lists/${id}/import`, `email\r\niso${++seq}@contacts.example\r\nbad\r\n`, { 'content-type': 'text/csv' });
  if (res.status !== 200) throw new Error(`setup import: ${res.status} ${res.text}`);
  return { id, jobId: res.body.id as string };
}

/** A link host of one of the owner's domains: `{ domain, id }` (the host, for lists). */
async function newLinkHost(owner: ApiClient): Promise<Record<string, string>> {
  const domain = (await owner.request('GET', `/api/v1/domains/${await newDomain(owner)}`)).body.name as string;
  const res = await owner.request('PUT', `/api/v1/link-hosts/${domain}`, { host: `links.${domain}` });
  if (res.status !== 200) throw new Error(`setup PUT /api/v1/link-hosts: ${res.status} ${res.text}`);
  return { domain, id: `links.${domain}` };
}

/** A draft campaign of the owner to a new list, from a new domain: `{ id }`. */
async function newCampaign(owner: ApiClient): Promise<Record<string, string>> {
  const domainId = await newDomain(owner);
  const from = (await owner.request('GET', `/api/v1/domains/${domainId}`)).body.name;
  const { id: list } = await newList(owner);
  return { id: await created(owner, '/api/v1/campaigns', { name: `iso-${++seq}`, from: `news@${from}`, subject: 'Hi', text: 'Hello', lists: [list] }) };
}

export const ISOLATION_ROUTES: IsolationRoute[] = [
  { route: 'GET /api/v1/keys', kind: 'list', setup: async (o) => ({ id: await newKey(o) }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/keys/{id}', setup: async (o) => ({ id: await newKey(o) }), ownerStatus: 204 },
  { route: 'GET /api/v1/smtp-credentials', kind: 'list', setup: async (o) => ({ id: await newCredential(o) }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/smtp-credentials/{id}', setup: async (o) => ({ id: await newCredential(o) }), ownerStatus: 204 },
  { route: 'GET /api/v1/domains', kind: 'list', setup: async (o) => ({ id: await newDomain(o) }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/domains/{id}', setup: async (o) => ({ id: await newDomain(o) }), ownerStatus: 204 },
  { route: 'GET /api/v1/domains/{id}', setup: async (o) => ({ id: await newDomain(o) }), ownerStatus: 200 },
  { route: 'POST /api/v1/domains/{id}/verify', setup: async (o) => ({ id: await newInvalidDomain(o) }), ownerStatus: 200 },
  { route: 'POST /api/v1/domains/{id}/dkim/rotate', setup: async (o) => ({ id: await newDomain(o) }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/messages/{id}', setup: async (o) => ({ id: await newScheduledMessage(o) }), ownerStatus: 200 },
  { route: 'GET /api/v1/templates', kind: 'list', setup: async (o) => ({ id: await newTemplate(o) }), ownerStatus: 200 },
  { route: 'GET /api/v1/templates/{id}', setup: async (o) => ({ id: await newTemplate(o) }), ownerStatus: 200 },
  { route: 'PATCH /api/v1/templates/{id}', setup: async (o) => ({ id: await newTemplate(o) }), body: () => ({ subject: 'Changed' }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/templates/{id}', setup: async (o) => ({ id: await newTemplate(o) }), ownerStatus: 204 },
  { route: 'POST /api/v1/templates/{id}/preview', setup: async (o) => ({ id: await newTemplate(o) }), body: () => ({ data: { name: 'x' } }), ownerStatus: 200 },
  { route: 'GET /api/v1/messages', kind: 'list', setup: async (o) => ({ id: await newScheduledMessage(o) }), ownerStatus: 200 },
  { route: 'GET /api/v1/messages/{id}', setup: async (o) => ({ id: await newScheduledMessage(o) }), ownerStatus: 200 },
  { route: 'GET /api/v1/messages/{id}/raw', setup: async (o) => ({ id: await newScheduledMessage(o) }), ownerStatus: 200 },
  // Events name their message: B's message id must not appear in A's feed.
  { route: 'GET /api/v1/events', kind: 'list', setup: async (o) => ({ id: await newScheduledMessage(o) }), ownerStatus: 200 },
  // Stats name no object: B's counts of message.scheduled must not show in A's (A sends nothing here).
  { route: 'GET /api/v1/stats', kind: 'list', setup: async (o) => ({ id: (await newScheduledMessage(o), '"message.scheduled"') }), ownerStatus: 200 },
  // The quota names no object: B's quota (set as the admin would) must not show in A's.
  {
    route: 'GET /api/v1/quota', kind: 'list',
    setup: async (_o, c) => (await c.store.write((trx) => putTenantSending(trx, c.tenantId, { quota_per_hour: 987_654 })), { id: '987654' }),
    ownerStatus: 200,
  },
  { route: 'GET /api/v1/webhooks', kind: 'list', setup: async (o) => ({ id: await newWebhook(o) }), ownerStatus: 200 },
  { route: 'GET /api/v1/webhooks/{id}', setup: async (o) => ({ id: await newWebhook(o) }), ownerStatus: 200 },
  { route: 'PATCH /api/v1/webhooks/{id}', setup: async (o) => ({ id: await newWebhook(o) }), body: () => ({ description: 'changed' }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/webhooks/{id}', setup: async (o) => ({ id: await newWebhook(o) }), ownerStatus: 204 },
  { route: 'GET /api/v1/webhooks/{id}/deliveries', setup: newWebhookDelivery, ownerStatus: 200 },
  // Still pending, so the owner's replay is a 409: the route runs, and A's 404 is isolation.
  { route: 'POST /api/v1/webhooks/{id}/deliveries/{deliveryId}/replay', setup: newWebhookDelivery, ownerStatus: 409 },
  { route: 'POST /api/v1/webhooks/{id}/replay', setup: async (o) => ({ id: await newWebhook(o) }), body: () => ({ since: '2020-01-01T00:00:00Z' }), ownerStatus: 202 },
  { route: 'POST /api/v1/webhooks/{id}/test', setup: async (o) => ({ id: await newWebhook(o) }), ownerStatus: 202 },
  { route: 'GET /api/v1/suppressions', kind: 'list', setup: newSuppression, ownerStatus: 200 },
  { route: 'GET /api/v1/suppressions/{stream}/{address}', setup: newSuppression, ownerStatus: 200 },
  { route: 'DELETE /api/v1/suppressions/{stream}/{address}', setup: newSuppression, ownerStatus: 204 },
  // The CSV names no ids: B's address must not appear in A's export.
  { route: 'GET /api/v1/suppressions/export', kind: 'list', setup: async (o) => ({ id: (await newSuppression(o)).address }), ownerStatus: 200 },
  // Dashboard routes (issue 6). Destinations name domains: B's destination must not show in A's.
  { route: 'GET /api/v1/queue/destinations', kind: 'list', setup: async (o) => ({ id: (await newQueuedMessage(o)).domain }), ownerStatus: 200 },
  // Counts name no object: B's non-zero count (read by B right after queueing) must not be A's (A never sends).
  { route: 'GET /api/v1/queue/counts', kind: 'list', setup: async (o) => {
    await newQueuedMessage(o);
    return { id: `"queued":${(await o.request('GET', '/api/v1/queue/counts')).body.queued}` };
  }, ownerStatus: 200 },
  { route: 'GET /api/v1/queue', kind: 'list', setup: async (o) => ({ id: (await newQueuedMessage(o)).id }), ownerStatus: 200 },
  { route: 'GET /api/v1/inbox', kind: 'list', setup: newCapturedMessage, ownerStatus: 200 },
  { route: 'GET /api/v1/messages/{id}/content', setup: async (o) => ({ id: (await newQueuedMessage(o)).id }), ownerStatus: 200 },
  { route: 'GET /api/v1/messages/{id}/attachments/{index}', setup: async (o) => ({ id: (await newQueuedMessage(o)).id, index: '0' }), ownerStatus: 200 },
  // Contacts, lists and segments (issue 9).
  { route: 'GET /api/v1/contacts', kind: 'list', setup: newContact, ownerStatus: 200 },
  { route: 'GET /api/v1/contacts/{id}', setup: newContact, ownerStatus: 200 },
  { route: 'PATCH /api/v1/contacts/{id}', setup: newContact, body: () => ({ name: 'Changed' }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/contacts/{id}', setup: newContact, ownerStatus: 204 },
  { route: 'GET /api/v1/lists', kind: 'list', setup: newList, ownerStatus: 200 },
  { route: 'GET /api/v1/lists/{id}', setup: newList, ownerStatus: 200 },
  { route: 'PATCH /api/v1/lists/{id}', setup: newList, body: () => ({ description: 'changed' }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/lists/{id}', setup: newList, ownerStatus: 204 },
  // A JSON body: B's own request reaches the media-type check (415), A's stops at the list (404).
  { route: 'POST /api/v1/lists/{id}/import', setup: newList, body: () => ({ email: 'x@example.com' }), ownerStatus: 415 },
  { route: 'GET /api/v1/lists/{id}/export', setup: newList, ownerStatus: 200 },
  { route: 'GET /api/v1/lists/{id}/imports/{jobId}', setup: newImport, ownerStatus: 200 },
  { route: 'GET /api/v1/lists/{id}/imports/{jobId}/rejected', setup: newImport, ownerStatus: 200 },
  { route: 'GET /api/v1/segments', kind: 'list', setup: newSegment, ownerStatus: 200 },
  { route: 'GET /api/v1/segments/{id}', setup: newSegment, ownerStatus: 200 },
  { route: 'PATCH /api/v1/segments/{id}', setup: newSegment, body: () => ({ name: 'changed' }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/segments/{id}', setup: newSegment, ownerStatus: 204 },
  { route: 'GET /api/v1/segments/{id}/count', setup: newSegment, ownerStatus: 200 },
  // Campaigns (issue 9). Pause and resume of a draft are 409 for the owner: the route runs, A's 404 is isolation.
  { route: 'GET /api/v1/campaigns', kind: 'list', setup: newCampaign, ownerStatus: 200 },
  { route: 'GET /api/v1/campaigns/{id}', setup: newCampaign, ownerStatus: 200 },
  { route: 'PATCH /api/v1/campaigns/{id}', setup: newCampaign, body: () => ({ name: 'changed' }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/campaigns/{id}', setup: newCampaign, ownerStatus: 204 },
  { route: 'POST /api/v1/campaigns/{id}/send', setup: newCampaign, ownerStatus: 200 },
  { route: 'POST /api/v1/campaigns/{id}/pause', setup: newCampaign, ownerStatus: 409 },
  { route: 'POST /api/v1/campaigns/{id}/resume', setup: newCampaign, ownerStatus: 409 },
  { route: 'POST /api/v1/campaigns/{id}/cancel', setup: newCampaign, ownerStatus: 200 },
  { route: 'POST /api/v1/campaigns/{id}/test', setup: newCampaign, body: () => ({ to: ['qa@example.net'] }), ownerStatus: 202 },
  { route: 'GET /api/v1/campaigns/{id}/report', setup: newCampaign, ownerStatus: 200 },
  { route: 'GET /api/v1/link-hosts', kind: 'list', setup: newLinkHost, ownerStatus: 200 },
  { route: 'PUT /api/v1/link-hosts/{domain}', setup: newLinkHost, body: (p) => ({ host: `go.${p.domain}` }), ownerStatus: 200 },
  { route: 'DELETE /api/v1/link-hosts/{domain}', setup: newLinkHost, ownerStatus: 204 },
];

/** Fills `{name}` placeholders of an OpenAPI path. */
export function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (!(name in params)) throw new Error(`no value for path parameter {${name}} in ${path}`);
    return encodeURIComponent(params[name]);
  });
}
