// Sending domains, minimal: a tenant adds and removes the domains it may send from. DNS
// verification, DKIM keys and record suggestions arrive with the domains work.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { DomainTable } from '../../store/index.ts';
import { addDomain, deleteDomain, listDomains, listDomainsPage } from '../../store/index.ts';
import { normaliseDomain } from '../../smtp/index.ts';
import { tenantIdOf } from '../auth.ts';
import { audit } from '../audit.ts';
import { ApiProblem, fieldProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, idParams, isoTime, noContent, timestamp } from '../schemas.ts';

export const domainSchema = z.object({
  id: z.string(),
  tenant_id: z.string(),
  name: z.string().describe('ASCII (A-label) form, lower case'),
  verified: z.boolean(),
  created_at: timestamp,
}).meta({ id: 'Domain' });

function domainJson(d: DomainTable): z.output<typeof domainSchema> {
  return { id: d.id, tenant_id: d.tenant_id, name: d.name, verified: d.verified === 1, created_at: isoTime(d.created_at) };
}

const tags = ['domains'];

export const tenantDomainRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'POST', url: '/api/v1/domains', config: { scope: 'manage' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags,
      summary: 'Add a sending domain',
      description: 'Answers 201 for a new domain, 200 when this tenant already has it, 409 when another tenant has it.',
      body: z.strictObject({ name: z.string().min(1).max(253).describe('Domain name; IDNs are accepted and stored as A-labels') }),
      response: { 200: domainSchema, 201: domainSchema },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const name = normaliseDomain(request.body.name);
      if (!name) throw fieldProblem('body', ['name'], `"${request.body.name}" is not a valid domain name`, 'unprocessable');
      const mine = (await listDomains(store.db, tenantId)).find((d) => d.name === name);
      if (mine) return reply.code(200).send(domainJson(mine));
      const taken = await store.db.selectFrom('domains').select('id').where('name', '=', name).executeTakeFirst();
      if (taken) throw fieldProblem('body', ['name'], `domain ${name} belongs to another tenant`, 'conflict');
      const row = await store.write(async (trx) => {
        const added = await addDomain(trx, tenantId, name);
        await audit(trx, request, 'domain.added', { tenantId, id: added.id }, { name });
        return added;
      });
      return reply.code(201).send(domainJson(row));
    },
  });
  app.route({
    method: 'GET', url: '/api/v1/domains', config: { scope: 'read' },
    schema: { tags, summary: "List this tenant's sending domains", querystring: pageQuery, response: { 200: pageOf(domainSchema) } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const page = await paginate(request.query, (p) => listDomainsPage(store.db, tenantId, p), (d) => d.id);
      return { data: page.data.map(domainJson), next_cursor: page.next_cursor };
    },
  });
  app.route({
    method: 'DELETE', url: '/api/v1/domains/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Remove a sending domain', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const removed = await store.write(async (trx) => {
        const done = await deleteDomain(trx, tenantId, request.params.id);
        if (done) await audit(trx, request, 'domain.removed', { tenantId, id: request.params.id });
        return done;
      });
      if (!removed) throw new ApiProblem('not-found', `no domain ${request.params.id}`);
      return reply.code(204).send();
    },
  });
};
