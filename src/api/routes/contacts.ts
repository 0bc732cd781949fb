// Contacts of a tenant (issue 9): the people campaigns are sent to. The email is stored in
// the suppression list's normalised form and is unique per tenant; `status` follows the
// recipient's own word (unsubscribed, complained) and hard bounces, and is kept in step
// with the broadcast suppression list by the unsubscribe endpoints.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { TemplateRenderer } from '../../compose/index.ts';
import { campaignServiceOf, sendConfirmation } from '../../campaigns/index.ts';
import {
  addListMembers, deleteContact, getLinkHost, findContactByEmail, getContact, getList, listContactsPage, normaliseSuppressionAddress, updateContact, upsertContacts,
  type ContactListTable, type ContactTable,
} from '../../store/index.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { idParams, isoTime, noContent, timestamp } from '../schemas.ts';

export const CONTACT_STATUSES = ['subscribed', 'unsubscribed', 'bounced', 'complained'] as const;

const email = z.string().max(320).transform((value, ctx) => {
  const normal = normaliseSuppressionAddress(value);
  if (normal === undefined) {
    ctx.addIssue({ code: 'custom', message: 'not a valid email address' });
    return z.NEVER;
  }
  return normal;
});
export const contactAttributes = z.record(z.string().regex(/^[A-Za-z0-9_]{1,64}$/), z.union([z.string().max(2000), z.number(), z.boolean(), z.null()]))
  .refine((a) => Object.keys(a).length <= 100, 'at most 100 attributes');

const createBody = z.strictObject({
  email,
  name: z.string().trim().max(200).nullable().optional(),
  attributes: contactAttributes.optional(),
  lists: z.array(z.string().min(1).max(100)).max(100).optional().describe('List ids to add the contact to: subscribed, or for a double opt-in list unconfirmed until the confirmation link is followed'),
});
const updateBody = z.strictObject({
  name: z.string().trim().max(200).nullable().optional(),
  attributes: contactAttributes.optional().describe('Replaces the attributes'),
  status: z.enum(CONTACT_STATUSES).optional(),
});

export const contactSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  attributes: z.record(z.string(), z.unknown()),
  status: z.enum(CONTACT_STATUSES),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'Contact' });

export function contactJson(c: ContactTable): z.output<typeof contactSchema> {
  return {
    id: c.id, email: c.email, name: c.name, attributes: JSON.parse(c.attributes) as Record<string, unknown>, status: c.status,
    created_at: isoTime(c.created_at), updated_at: isoTime(c.updated_at),
  };
}

const listQuery = pageQuery.extend({
  list_id: z.string().max(100).optional().describe('Only members of this list'),
  status: z.enum(CONTACT_STATUSES).optional(),
  q: z.string().trim().min(1).max(320).optional().describe('Part of the address'),
});

const tags = ['contacts'];

export const contactRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config } = app.postline;
  const renderer = new TemplateRenderer();

  app.route({
    method: 'GET', url: '/api/v1/contacts', config: { scope: 'read' },
    schema: { tags, summary: 'List contacts', querystring: listQuery, response: { 200: pageOf(contactSchema) } },
    handler: async (request) => {
      const q = request.query;
      const page = await paginate(q, (p) => listContactsPage(store.db, tenantIdOf(request), { listId: q.list_id, status: q.status, q: q.q }, p), (c) => c.id);
      return { data: page.data.map(contactJson), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/contacts', config: { scope: 'manage' },
    schema: { tags, summary: 'Create a contact', description: '409 when the tenant has a contact with this address.', body: createBody, response: { 201: contactSchema } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const b = request.body;
      const lists: ContactListTable[] = [];
      for (const id of b.lists ?? []) {
        const list = await getList(store.db, tenantId, id);
        if (!list) throw new ApiProblem('validation', `no list ${id}`, { errors: [{ in: 'body', pointer: '/lists', detail: `no list ${id}` }] });
        lists.push(list);
      }
      if (await findContactByEmail(store.db, tenantId, b.email)) throw new ApiProblem('conflict', `a contact with the address ${b.email} exists`, { code: 'CONTACT_EXISTS' });
      const now = Date.now();
      const id = await store.write(async (trx) => {
        const [c] = await upsertContacts(trx, tenantId, [{ email: b.email, name: b.name ?? null, attributes: b.attributes ?? null }], now);
        for (const list of lists) await addListMembers(trx, tenantId, list.id, [c.id], { now, ip: request.ip, status: list.opt_in === 'double' ? 'unconfirmed' : 'subscribed' });
        return c.id;
      });
      const contact = (await getContact(store.db, tenantId, id))!;
      // Double opt-in: the confirmation mail goes out after the contact is stored.
      const doubles = lists.filter((l) => l.opt_in === 'double');
      if (doubles.length) {
        const { signer } = await campaignServiceOf(app.postline);
        for (const list of doubles) {
          const host = list.confirm_from ? await getLinkHost(store.db, tenantId, list.confirm_from.slice(list.confirm_from.lastIndexOf('@') + 1)) : null;
          await sendConfirmation(store, config, signer, renderer, list, contact, host ? `https://${host}` : undefined);
        }
      }
      return reply.code(201).send(contactJson(contact));
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/contacts/:id', config: { scope: 'read' },
    schema: { tags, summary: 'Get a contact', params: idParams, response: { 200: contactSchema } },
    handler: async (request) => {
      const c = await getContact(store.db, tenantIdOf(request), request.params.id);
      if (!c) throw new ApiProblem('not-found', `no contact ${request.params.id}`);
      return contactJson(c);
    },
  });

  app.route({
    method: 'PATCH', url: '/api/v1/contacts/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Change a contact', params: idParams, body: updateBody, response: { 200: contactSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const c = await store.write(async (trx) => (await getContact(trx, tenantId, request.params.id)) ? updateContact(trx, tenantId, request.params.id, request.body, Date.now()) : undefined);
      if (!c) throw new ApiProblem('not-found', `no contact ${request.params.id}`);
      return contactJson(c);
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/contacts/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Delete a contact (and its list memberships)', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      if (!(await store.write((trx) => deleteContact(trx, tenantId, request.params.id)))) throw new ApiProblem('not-found', `no contact ${request.params.id}`);
      return reply.code(204).send();
    },
  });
};
