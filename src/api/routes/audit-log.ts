// Admin: the audit log of administrative actions, oldest first, with cursor pagination.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { listAuditLogPage, type AuditEntryRow } from '../../store/index.ts';
import { AUDIT_ACTIONS } from '../../security/index.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { isoTime, timestamp } from '../schemas.ts';

const auditEntrySchema = z.object({
  id: z.string(),
  at: timestamp,
  actor: z.object({
    kind: z.enum(['admin', 'key', 'cli', 'user']).describe('admin: the admin token; key: a tenant API key; cli: the postline command; user: a dashboard user'),
    key_id: z.string().nullable().describe('The API key when kind is key; the user id (usr_…) when kind is user'),
    ip: z.string().nullable().describe('Client address of the API request'),
  }),
  action: z.enum(AUDIT_ACTIONS),
  tenant_id: z.string().nullable(),
  target: z.string().nullable().describe('Id of the key, credential, domain, webhook or tenant acted on'),
  details: z.record(z.string(), z.unknown()).nullable().describe('Names and settings; never a secret'),
}).meta({ id: 'AuditEntry' });

const auditQuery = pageQuery.extend({
  tenant_id: z.string().min(1).max(200).optional().describe('Only entries about this tenant'),
  action: z.enum(AUDIT_ACTIONS).optional(),
});

function entryJson(e: AuditEntryRow): z.output<typeof auditEntrySchema> {
  return {
    id: String(e.id), at: isoTime(e.at), actor: { kind: e.actor_kind, key_id: e.actor_id, ip: e.ip },
    action: e.action as z.output<typeof auditEntrySchema>['action'], tenant_id: e.tenant_id, target: e.target,
    details: e.details === null ? null : JSON.parse(e.details) as Record<string, unknown>,
  };
}

export const auditLogRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'GET', url: '/api/v1/audit-log',
    schema: {
      tags: ['audit log'], summary: 'List administrative actions',
      description: 'Who created or revoked keys and credentials, changed domains, tenants and webhooks; oldest first.',
      querystring: auditQuery, response: { 200: pageOf(auditEntrySchema) },
    },
    handler: async (request) => {
      const { tenant_id: tenantId, action } = request.query;
      const page = await paginate(request.query, (p) => listAuditLogPage(store.db, { ...p, tenantId, action }), (e) => e.id);
      return { data: page.data.map(entryJson), next_cursor: page.next_cursor };
    },
  });
};
