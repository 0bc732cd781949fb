// Link hosts (issue 9): per sending domain, the host that campaign links (one-click
// unsubscribe, preference page, open pixel, click redirects) point at, e.g. links.example.com
// with a CNAME to this instance, so the links carry the sender's own domain. Without one,
// links use campaigns.public_url. The host must be under the sending domain.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { deleteLinkHost, listDomains, listLinkHosts, putLinkHost, type CampaignLinkHostTable } from '../../store/index.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem } from '../problem.ts';
import { isoTime, noContent, timestamp } from '../schemas.ts';

const hostName = z.string().trim().toLowerCase().max(253)
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/, 'expected a host name such as links.example.com');
const domainParams = z.object({ domain: z.string().min(1).max(253) });

export const linkHostSchema = z.object({
  domain: z.string(),
  host: z.string(),
  created_at: timestamp,
}).meta({ id: 'LinkHost' });

function linkHostJson(r: CampaignLinkHostTable): z.output<typeof linkHostSchema> {
  return { domain: r.domain, host: r.host, created_at: isoTime(r.created_at) };
}

const tags = ['campaigns'];

export const linkHostRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;

  app.route({
    method: 'GET', url: '/api/v1/link-hosts', config: { scope: 'read' },
    schema: { tags, summary: 'Link hosts of the tenant\'s sending domains', response: { 200: z.object({ data: z.array(linkHostSchema) }) } },
    handler: async (request) => ({ data: (await listLinkHosts(store.db, tenantIdOf(request))).map(linkHostJson) }),
  });

  app.route({
    method: 'PUT', url: '/api/v1/link-hosts/:domain', config: { scope: 'manage' },
    schema: {
      tags, summary: 'Set the link host of a sending domain', description: 'The host must be under the domain (links.example.com for example.com) and point (CNAME) at this instance\'s HTTP listener, with a certificate for it at the proxy.',
      params: domainParams, body: z.strictObject({ host: hostName }), response: { 200: linkHostSchema },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const domain = request.params.domain.toLowerCase();
      if (!(await listDomains(store.db, tenantId)).some((d) => d.name === domain)) throw new ApiProblem('not-found', `${domain} is not a sending domain of this tenant`);
      const host = request.body.host;
      if (!host.endsWith(`.${domain}`)) throw new ApiProblem('validation', `the host must be under ${domain}`, { errors: [{ in: 'body', pointer: '/host', detail: `must end with .${domain}` }] });
      return linkHostJson(await store.write((trx) => putLinkHost(trx, tenantId, domain, host, Date.now())));
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/link-hosts/:domain', config: { scope: 'manage' },
    schema: { tags, summary: 'Remove a domain\'s link host (links use campaigns.public_url again)', params: domainParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      if (!(await store.write((trx) => deleteLinkHost(trx, tenantIdOf(request), request.params.domain)))) throw new ApiProblem('not-found', `no link host for ${request.params.domain}`);
      return reply.code(204).send();
    },
  });
};
