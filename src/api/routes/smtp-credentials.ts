// SMTP AUTH credentials (submission on 587/465). The password is answered once, by POST, and
// stored as an scrypt hash (security/password-hash.ts); DELETE removes the row, so the next
// AUTH with it fails.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import type { CredentialTable, Store } from '../../store/index.ts';
import { createCredential, deleteCredential, findCredential, listCredentialsPage } from '../../store/index.ts';
import { hashPassword, randomSecret } from '../../security/password-hash.ts';
import { tenantIdOf } from '../auth.ts';
import { audit } from '../audit.ts';
import { ApiProblem, fieldProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate, type PageQuery } from '../pagination.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, idParams, isoTime, noContent, timestamp } from '../schemas.ts';
import { tenantOr404 } from './tenants.ts';

const createBody = z.strictObject({
  username: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/, "1-128 letters, digits, '.', '_', '@', '+' or '-'").optional()
    .describe('Default: generated from the tenant name'),
});

// The body is optional: no body (null to the validator) means all defaults.
const createBodyOrNone = createBody.nullish().transform((b) => b ?? {});

export const credentialSchema = z.object({
  id: z.string(),
  tenant_id: z.string(),
  username: z.string(),
  created_at: timestamp,
  last_used_at: timestamp.nullable(),
}).meta({ id: 'SmtpCredential' });

const createdSchema = credentialSchema.omit({ last_used_at: true }).extend({
  password: z.string().describe('Shown only in this response'),
}).meta({ id: 'CreatedSmtpCredential' });

function credentialJson(c: CredentialTable): z.output<typeof credentialSchema> {
  return { id: c.id, tenant_id: c.tenant_id, username: c.username, created_at: isoTime(c.created_at), last_used_at: isoTime(c.last_used_at) };
}

async function create(store: Store, request: FastifyRequest, tenant: { id: string; name: string }, username: string | undefined) {
  const name = username ?? `${tenant.name}-${randomSecret(6).toLowerCase().replace(/[^a-z0-9]/g, '')}`;
  // Usernames are global (AUTH names no tenant): a taken one is a conflict whoever owns it.
  if (await findCredential(store.db, name)) throw fieldProblem('body', ['username'], `username "${name}" is taken`, 'conflict');
  const password = randomSecret(24);
  const passwordHash = await hashPassword(password);
  const row = await store.write(async (trx) => {
    const created = await createCredential(trx, tenant.id, name, passwordHash);
    await audit(trx, request, 'smtp_credential.created', { tenantId: tenant.id, id: created.id }, { username: name });
    return created;
  });
  return { id: row.id, tenant_id: row.tenant_id, username: row.username, created_at: isoTime(row.created_at), password };
}

async function list(store: Store, tenantId: string, query: PageQuery) {
  const page = await paginate(query, (p) => listCredentialsPage(store.db, tenantId, p), (c) => c.id);
  return { data: page.data.map(credentialJson), next_cursor: page.next_cursor };
}

async function remove(store: Store, request: FastifyRequest, tenantId: string, id: string): Promise<void> {
  const removed = await store.write(async (trx) => {
    const done = await deleteCredential(trx, tenantId, id);
    if (done) await audit(trx, request, 'smtp_credential.deleted', { tenantId, id });
    return done;
  });
  if (!removed) throw new ApiProblem('not-found', `no SMTP credential ${id}`);
}

const tags = ['smtp credentials'];

export const tenantCredentialRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'POST', url: '/api/v1/smtp-credentials', config: { scope: 'manage' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Create SMTP credentials for this tenant', body: createBodyOrNone, response: { 201: createdSchema } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const name = request.principal?.kind === 'key' ? request.principal.tenantName : tenantId;
      return reply.code(201).send(await create(store, request, { id: tenantId, name }, request.body.username));
    },
  });
  app.route({
    method: 'GET', url: '/api/v1/smtp-credentials', config: { scope: 'manage' },
    schema: { tags, summary: "List this tenant's SMTP credentials (no secrets)", querystring: pageQuery, response: { 200: pageOf(credentialSchema) } },
    handler: async (request) => list(store, tenantIdOf(request), request.query),
  });
  app.route({
    method: 'DELETE', url: '/api/v1/smtp-credentials/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Delete SMTP credentials', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      await remove(store, request, tenantIdOf(request), request.params.id);
      return reply.code(204).send();
    },
  });
};

export const adminCredentialRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'POST', url: '/api/v1/tenants/:id/smtp-credentials', bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Create SMTP credentials for a tenant', params: idParams, body: createBodyOrNone, response: { 201: createdSchema } },
    handler: async (request, reply) => {
      const t = await tenantOr404(store, request.params.id);
      return reply.code(201).send(await create(store, request, t, request.body.username));
    },
  });
  app.route({
    method: 'GET', url: '/api/v1/tenants/:id/smtp-credentials',
    schema: { tags, summary: "List a tenant's SMTP credentials (no secrets)", params: idParams, querystring: pageQuery, response: { 200: pageOf(credentialSchema) } },
    handler: async (request) => list(store, (await tenantOr404(store, request.params.id)).id, request.query),
  });
  app.route({
    method: 'DELETE', url: '/api/v1/tenants/:id/smtp-credentials/:credentialId',
    schema: { tags, summary: "Delete one of a tenant's SMTP credentials", params: z.object({ id: z.string().min(1).max(200), credentialId: z.string().min(1).max(200) }), response: { 204: noContent } },
    handler: async (request, reply) => {
      const t = await tenantOr404(store, request.params.id);
      await remove(store, request, t.id, request.params.credentialId);
      return reply.code(204).send();
    },
  });
};
