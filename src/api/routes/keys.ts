// API keys: a tenant's `manage` key manages its own tenant's keys at /api/v1/keys; the admin
// manages any tenant's at /api/v1/tenants/{id}/keys. The full key is answered once, by POST.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import type { ApiKeyScope, ApiKeyTable, Store } from '../../store/index.ts';
import { insertApiKey, listApiKeys, revokeApiKey } from '../../store/index.ts';
import { API_KEY_SCOPES, tenantIdOf } from '../auth.ts';
import { mintApiKey } from '../api-key-token.ts';
import { CLI_ACTOR, recordAudit, type AuditActor } from '../../security/index.ts';
import { audit, auditActorOf } from '../audit.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate, type PageQuery } from '../pagination.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, displayName, idParams, isoTime, noContent, timestamp } from '../schemas.ts';
import { tenantOr404 } from './tenants.ts';

const createKeyBody = z.strictObject({
  name: displayName,
  scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).max(API_KEY_SCOPES.length)
    .transform((s) => [...new Set(s)])
    .describe('send: send mail; read: read messages and events; manage: keys, credentials, domains, webhooks'),
});

export const apiKeySchema = z.object({
  id: z.string(),
  tenant_id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
  created_at: timestamp,
  last_used_at: timestamp.nullable().describe('Updated at most once a minute'),
}).meta({ id: 'ApiKey' });

const createdKeySchema = apiKeySchema.omit({ last_used_at: true }).extend({
  key: z.string().describe('The full key, `pl_<id>_<secret>`: shown only in this response'),
}).meta({ id: 'CreatedApiKey' });

function keyJson(k: ApiKeyTable): z.output<typeof apiKeySchema> {
  return { id: k.id, tenant_id: k.tenant_id, name: k.name, scopes: k.scopes.split(',') as ApiKeyScope[], created_at: isoTime(k.created_at), last_used_at: isoTime(k.last_used_at) };
}

/** Creates a key for a tenant; the token is in the result and nowhere else. Also used by the CLI (the default actor). */
export async function createApiKey(store: Store, tenantId: string, input: { name: string; scopes: readonly ApiKeyScope[] }, actor: AuditActor = CLI_ACTOR): Promise<z.output<typeof createdKeySchema>> {
  const minted = mintApiKey();
  const row = await store.write(async (trx) => {
    const inserted = await insertApiKey(trx, {
      id: minted.id, tenant_id: tenantId, name: input.name, scopes: input.scopes.join(','), secret_hash: minted.secretHash,
      created_at: Date.now(), last_used_at: null, revoked_at: null,
    });
    await recordAudit(trx, actor, 'api_key.created', { tenantId, id: minted.id }, { name: input.name, scopes: input.scopes });
    return inserted;
  });
  return { id: row.id, tenant_id: row.tenant_id, name: row.name, scopes: [...input.scopes], created_at: isoTime(row.created_at), key: minted.token };
}

async function listKeys(store: Store, tenantId: string, query: PageQuery) {
  const page = await paginate(query, (p) => listApiKeys(store.db, tenantId, p), (k) => k.id);
  return { data: page.data.map(keyJson), next_cursor: page.next_cursor };
}

async function revokeKey(store: Store, request: FastifyRequest, tenantId: string, id: string): Promise<void> {
  const revoked = await store.write(async (trx) => {
    const done = await revokeApiKey(trx, tenantId, id);
    if (done) await audit(trx, request, 'api_key.revoked', { tenantId, id });
    return done;
  });
  if (!revoked) throw new ApiProblem('not-found', `no API key ${id}`);
  // Refused from the next request on, not after http.key_cache.
  request.server.postline.auth.forgetKeys();
}

const tags = ['api keys'];

export const tenantKeyRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'POST', url: '/api/v1/keys', config: { scope: 'manage' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Create an API key for this tenant', body: createKeyBody, response: { 201: createdKeySchema } },
    handler: async (request, reply) => reply.code(201).send(await createApiKey(store, tenantIdOf(request), request.body, auditActorOf(request))),
  });
  app.route({
    method: 'GET', url: '/api/v1/keys', config: { scope: 'manage' },
    schema: { tags, summary: "List this tenant's API keys (not revoked)", querystring: pageQuery, response: { 200: pageOf(apiKeySchema) } },
    handler: async (request) => listKeys(store, tenantIdOf(request), request.query),
  });
  app.route({
    method: 'DELETE', url: '/api/v1/keys/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Revoke an API key', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      await revokeKey(store, request, tenantIdOf(request), request.params.id);
      return reply.code(204).send();
    },
  });
};

export const adminKeyRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'POST', url: '/api/v1/tenants/:id/keys', bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Create an API key for a tenant', params: idParams, body: createKeyBody, response: { 201: createdKeySchema } },
    handler: async (request, reply) => {
      const t = await tenantOr404(store, request.params.id);
      return reply.code(201).send(await createApiKey(store, t.id, request.body, auditActorOf(request)));
    },
  });
  app.route({
    method: 'GET', url: '/api/v1/tenants/:id/keys',
    schema: { tags, summary: "List a tenant's API keys (not revoked)", params: idParams, querystring: pageQuery, response: { 200: pageOf(apiKeySchema) } },
    handler: async (request) => listKeys(store, (await tenantOr404(store, request.params.id)).id, request.query),
  });
  app.route({
    method: 'DELETE', url: '/api/v1/tenants/:id/keys/:keyId',
    schema: { tags, summary: "Revoke one of a tenant's API keys", params: z.object({ id: z.string().min(1).max(200), keyId: z.string().min(1).max(200) }), response: { 204: noContent } },
    handler: async (request, reply) => {
      const t = await tenantOr404(store, request.params.id);
      await revokeKey(store, request, t.id, request.params.keyId);
      return reply.code(204).send();
    },
  });
};
