// Admin: tenants. `{id}` takes the tenant's id or its name.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Store, TenantTable } from '../../store/index.ts';
import { createTenant, deleteTenant, findTenant, listTenantsPage, updateTenant } from '../../store/index.ts';
import { ApiProblem, fieldProblem } from '../problem.ts';
import { audit } from '../audit.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, idParams, isoTime, noContent, timestamp } from '../schemas.ts';
import { tenantSendingBody, tenantSendingSchema, sendingJson, saveTenantSending } from './tenant-sending.ts';

// Same rule as store/repos/tenants.ts createTenant, checked here so the problem points at /name.
const tenantName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit");

export const tenantSchema = z.object({
  id: z.string(),
  name: z.string(),
  sandbox: z.boolean().describe('Outbound mail is captured instead of sent'),
  created_at: timestamp,
}).meta({ id: 'Tenant' });

/** One tenant with its IP pool per stream and its sending quota (issue 5). */
const tenantDetailSchema = tenantSchema.extend(tenantSendingSchema).meta({ id: 'TenantDetail' });

export function tenantJson(t: TenantTable): z.output<typeof tenantSchema> {
  return { id: t.id, name: t.name, sandbox: t.sandbox === 1, created_at: isoTime(t.created_at) };
}

/** The tenant named by a path parameter (id or name), or a 404 problem. */
export async function tenantOr404(store: Store, idOrName: string): Promise<TenantTable> {
  const t = await findTenant(store.db, idOrName);
  if (!t) throw new ApiProblem('not-found', `no tenant "${idOrName}"`);
  return t;
}

async function assertNameFree(store: Store, name: string, exceptId?: string): Promise<void> {
  const other = await findTenant(store.db, name);
  if (other && other.id !== exceptId) throw fieldProblem('body', ['name'], `a tenant named "${name}" already exists`, 'conflict');
}

export const tenantRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  const tags = ['tenants'];

  app.route({
    method: 'POST',
    url: '/api/v1/tenants',
    bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags,
      summary: 'Create a tenant',
      body: z.strictObject({ name: tenantName, sandbox: z.boolean().default(false) }),
      response: { 201: tenantDetailSchema },
    },
    handler: async (request, reply) => {
      await assertNameFree(store, request.body.name);
      const t = await store.write(async (trx) => {
        const created = await createTenant(trx, request.body.name, { sandbox: request.body.sandbox });
        await audit(trx, request, 'tenant.created', { tenantId: created.id, id: created.id }, { name: created.name, sandbox: request.body.sandbox });
        return created;
      });
      return reply.code(201).send({ ...tenantJson(t), ...await sendingJson(store, t.id) });
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/tenants',
    schema: { tags, summary: 'List tenants', querystring: pageQuery, response: { 200: pageOf(tenantSchema) } },
    handler: async (request) => {
      const page = await paginate(request.query, (p) => listTenantsPage(store.db, p), (t) => t.id);
      return { data: page.data.map(tenantJson), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/tenants/:id',
    schema: { tags, summary: 'Get a tenant, its IP pools and its sending quota', params: idParams, response: { 200: tenantDetailSchema } },
    handler: async (request) => {
      const t = await tenantOr404(store, request.params.id);
      return { ...tenantJson(t), ...await sendingJson(store, t.id) };
    },
  });

  app.route({
    method: 'PATCH',
    url: '/api/v1/tenants/:id',
    bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags,
      summary: 'Rename a tenant, change its sandbox mode, its IP pool per stream or its sending quota',
      params: idParams,
      body: z.strictObject({ name: tenantName.optional(), sandbox: z.boolean().optional(), ...tenantSendingBody }),
      response: { 200: tenantDetailSchema },
    },
    handler: async (request) => {
      const t = await tenantOr404(store, request.params.id);
      if (request.body.name !== undefined) await assertNameFree(store, request.body.name, t.id);
      const { pools, quota, ...fields } = request.body;
      const updated = await store.write(async (trx) => {
        const changed = await updateTenant(trx, t.id, fields);
        if (changed && (pools || quota)) await saveTenantSending(trx, app.postline.config, t.id, { pools, quota });
        if (changed) await audit(trx, request, 'tenant.updated', { tenantId: t.id, id: t.id }, { ...request.body });
        return changed;
      });
      if (!updated) throw new ApiProblem('not-found', `no tenant "${request.params.id}"`);
      // Its keys carry its name and sandbox mode (http.key_cache).
      app.postline.auth.forgetKeys();
      return { ...tenantJson(updated), ...await sendingJson(store, t.id) };
    },
  });

  app.route({
    method: 'DELETE',
    url: '/api/v1/tenants/:id',
    schema: {
      tags,
      summary: 'Delete a tenant and everything it owns',
      description: 'Refused with 409 while the tenant has mail queued, deferred or in flight.',
      params: idParams,
      response: { 204: noContent },
    },
    handler: async (request, reply) => {
      const t = await tenantOr404(store, request.params.id);
      const result = await store.write(async (trx) => {
        const r = await deleteTenant(trx, t.id);
        if (r.outcome === 'deleted') await audit(trx, request, 'tenant.deleted', { tenantId: t.id, id: t.id }, { name: t.name });
        return r;
      });
      if (result.outcome === 'not-found') throw new ApiProblem('not-found', `no tenant "${request.params.id}"`);
      if (result.outcome === 'mail-in-queue') {
        throw new ApiProblem('conflict', `tenant ${t.name} has ${result.openRecipients} recipients still queued or in flight; cancel them or let them finish first`, { code: 'TENANT_HAS_QUEUED_MAIL' });
      }
      app.postline.auth.forgetKeys();
      for (const path of result.bodyPaths) {
        await store.spool.remove(path).catch((err: unknown) => app.postline.log.warn({ err, path }, 'could not remove spooled body of a deleted tenant'));
      }
      return reply.code(204).send();
    },
  });
};
