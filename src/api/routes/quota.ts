// Tenant: its own sending quota and usage (issue 5). The admin sets the quota with
// PATCH /api/v1/tenants/{id} `quota`; over it, mail is deferred to the next hour or day.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { tenantIdOf } from '../auth.ts';
import { quotaSchema, sendingJson } from './tenant-sending.ts';

export const quotaRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'GET', url: '/api/v1/quota', config: { scope: 'read' },
    schema: { tags: ['quota'], summary: 'This tenant\'s sending quota and what it has sent this hour and today', response: { 200: quotaSchema } },
    handler: async (request) => (await sendingJson(store, tenantIdOf(request))).quota,
  });
};
