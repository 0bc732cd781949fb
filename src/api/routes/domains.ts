// Sending domains: a tenant adds a domain and gets the DNS records to publish (ownership,
// DKIM, SPF, DMARC, return path), asks Postline to check them, and rotates its DKIM keys.
// The work is in src/domains/; private keys never appear in a response.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { DomainTable } from '../../store/index.ts';
import { deleteDomain, getDomain, listDkimKeys, listDkimKeysFor, listDomainsPage } from '../../store/index.ts';
import {
  DomainError, RECORD_PURPOSES, RECORD_STATUSES, createDomain, domainContextOf, domainView, rotateDkim, verifyDomain,
  type DomainContext, type DomainView,
} from '../../domains/index.ts';
import { tenantIdOf } from '../auth.ts';
import { audit, auditActorOf } from '../audit.ts';
import { ApiProblem, fieldProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, idParams, noContent, timestamp } from '../schemas.ts';

const DKIM_STATUSES = ['pending', 'active', 'retiring', 'retired'] as const;
const DKIM_ALGORITHMS = ['rsa-sha256', 'ed25519-sha256'] as const;

export const domainRecordSchema = z.object({
  name: z.string().describe('Fully qualified, without the final dot'),
  type: z.enum(['TXT', 'CNAME']),
  value: z.string().describe('The exact value to publish (a TXT value over 255 octets goes in several strings of one record)'),
  purpose: z.enum(RECORD_PURPOSES),
  status: z.enum(RECORD_STATUSES).describe('pending: not checked yet; ok, missing or wrong: the last check'),
  found: z.array(z.string()).optional().describe('What DNS had at the last check'),
  expected: z.string().optional().describe('After a check: what the record should be (for an existing SPF record, that record with Postline merged in)'),
  warning: z.string().optional().describe('Why the record is wrong, or advice (SPF merge and lookup count)'),
  selector: z.string().optional().describe('DKIM records: the selector'),
  key_status: z.enum(DKIM_STATUSES).optional().describe('DKIM records: the state of the key'),
  checked_at: timestamp.optional(),
}).meta({ id: 'DomainRecord' });

export const dkimKeySchema = z.object({
  id: z.string(),
  selector: z.string(),
  algorithm: z.enum(DKIM_ALGORITHMS),
  status: z.enum(DKIM_STATUSES).describe('pending: waits for its DNS record; active: signs; retiring: still published, signs no more'),
  created_at: timestamp,
  activated_at: timestamp.nullable(),
  retire_at: timestamp.nullable().describe('retiring keys: when the record may be removed'),
}).meta({ id: 'DkimKey' });

export const domainSchema = z.object({
  id: z.string(),
  tenant_id: z.string(),
  name: z.string().describe('ASCII (A-label) form, lower case'),
  verified: z.boolean().describe('The ownership record and the active DKIM record(s) were found at the last check'),
  return_path_ok: z.boolean().describe('The return-path CNAME was found at the last check'),
  created_at: timestamp,
  checked_at: timestamp.nullable(),
  verified_at: timestamp.nullable(),
  records: z.array(domainRecordSchema),
  dkim_keys: z.array(dkimKeySchema).describe('Public information only; private keys never leave the server'),
}).meta({ id: 'Domain' });

const tags = ['domains'];

export const tenantDomainRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config, log } = app.postline;
  let context: Promise<DomainContext> | null = null;
  const ctx = (): Promise<DomainContext> => {
    context ??= domainContextOf(config, store, log.child({ stage: 'domains' })).catch((err: unknown) => {
      context = null;
      throw err;
    });
    return context;
  };
  const view = async (d: DomainTable): Promise<DomainView> => domainView(d, await listDkimKeys(store.db, d.id), (await ctx()).settings);
  const domainOr404 = async (tenantId: string, id: string): Promise<DomainTable> => {
    const d = await getDomain(store.db, tenantId, id);
    if (!d) throw new ApiProblem('not-found', `no domain ${id}`);
    return d;
  };

  app.route({
    method: 'POST', url: '/api/v1/domains', config: { scope: 'manage' }, bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: {
      tags,
      summary: 'Add a sending domain; answers the DNS records to publish',
      description: 'Generates the DKIM key(s). Answers 201 for a new domain, 200 when this tenant already has it, 409 when another tenant has it.',
      body: z.strictObject({ name: z.string().min(1).max(253).describe('Domain name; IDNs are accepted and stored as A-labels') }),
      response: { 200: domainSchema, 201: domainSchema },
    },
    handler: async (request, reply) => {
      try {
        const { domain, created } = await createDomain(await ctx(), tenantIdOf(request), request.body.name, auditActorOf(request));
        return reply.code(created ? 201 : 200).send(await view(domain));
      } catch (err) {
        if (err instanceof DomainError && err.code === 'DOMAIN_INVALID') throw fieldProblem('body', ['name'], err.message, 'unprocessable');
        if (err instanceof DomainError && err.code === 'DOMAIN_TAKEN') throw fieldProblem('body', ['name'], err.message, 'conflict');
        throw err;
      }
    },
  });
  app.route({
    method: 'GET', url: '/api/v1/domains', config: { scope: 'read' },
    schema: { tags, summary: "List this tenant's sending domains with their records", querystring: pageQuery, response: { 200: pageOf(domainSchema) } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const page = await paginate(request.query, (p) => listDomainsPage(store.db, tenantId, p), (d) => d.id);
      const keys = await listDkimKeysFor(store.db, page.data.map((d) => d.id));
      const { settings } = await ctx();
      return { data: page.data.map((d) => domainView(d, keys.get(d.id) ?? [], settings)), next_cursor: page.next_cursor };
    },
  });
  app.route({
    method: 'GET', url: '/api/v1/domains/:id', config: { scope: 'read' },
    schema: { tags, summary: 'A sending domain with its records and their last known status', params: idParams, response: { 200: domainSchema } },
    handler: async (request) => view(await domainOr404(tenantIdOf(request), request.params.id)),
  });
  app.route({
    method: 'POST', url: '/api/v1/domains/:id/verify', config: { scope: 'manage' },
    schema: {
      tags,
      summary: 'Look every record up in DNS now',
      description: 'Answers the domain with each record ok, missing or wrong, with found and expected. A lookup that fails temporarily keeps the last status.',
      params: idParams,
      response: { 200: domainSchema },
    },
    handler: async (request) => {
      const domain = await domainOr404(tenantIdOf(request), request.params.id);
      const result = await verifyDomain(await ctx(), domain, { actor: auditActorOf(request) });
      return view(result.domain);
    },
  });
  app.route({
    method: 'POST', url: '/api/v1/domains/:id/dkim/rotate', config: { scope: 'manage' },
    schema: {
      tags,
      summary: 'Start a DKIM key rotation',
      description: 'Creates new pending key(s) with new selectors; publish their records and verify: they then sign, and the old keys stay published for domains.dkim_rotation_overlap.',
      params: idParams,
      response: { 200: domainSchema },
    },
    handler: async (request) => {
      const domain = await domainOr404(tenantIdOf(request), request.params.id);
      await rotateDkim(await ctx(), domain, auditActorOf(request));
      return view(domain);
    },
  });
  app.route({
    method: 'DELETE', url: '/api/v1/domains/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Remove a sending domain (and its DKIM keys)', params: idParams, response: { 204: noContent } },
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
