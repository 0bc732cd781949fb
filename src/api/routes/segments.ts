// Segments (issue 9): saved dynamic filters over contacts (fields, attributes, list
// membership, engagement), evaluated when counted and when a campaign sends, never stored as
// a result. The count preview answers how many contacts a filter selects right now.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { countAudience, deleteSegment, getSegment, insertSegment, listSegmentsPage, updateSegment, type SegmentCondition, type SegmentTable } from '../../store/index.ts';
import { segmentFilterSchema } from '../../campaigns/index.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { displayName, idParams, isoTime, noContent, timestamp } from '../schemas.ts';

const filter = segmentFilterSchema.describe('A condition tree; see docs/api.md "Segments"');
const createBody = z.strictObject({ name: displayName, filter });
const updateBody = z.strictObject({ name: displayName.optional(), filter: filter.optional() });
const previewBody = z.strictObject({
  filter: filter.nullable().optional(),
  lists: z.array(z.string().min(1).max(100)).max(100).default([]).describe('Only subscribed members of any of these lists'),
});

export const segmentSchema = z.object({
  id: z.string(),
  name: z.string(),
  filter: z.unknown(),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'Segment' });

const countSchema = z.object({
  total: z.number().int().describe('Contacts the filter selects'),
  subscribed: z.number().int().describe('Of those, contacts whose status is subscribed (the others are skipped at send time)'),
}).meta({ id: 'SegmentCount' });

function segmentJson(s: SegmentTable): z.output<typeof segmentSchema> {
  return { id: s.id, name: s.name, filter: JSON.parse(s.filter) as unknown, created_at: isoTime(s.created_at), updated_at: isoTime(s.updated_at) };
}

const tags = ['segments'];

export const segmentRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;

  app.route({
    method: 'GET', url: '/api/v1/segments', config: { scope: 'read' },
    schema: { tags, summary: 'List segments', querystring: pageQuery, response: { 200: pageOf(segmentSchema) } },
    handler: async (request) => {
      const page = await paginate(request.query, (p) => listSegmentsPage(store.db, tenantIdOf(request), p), (s) => s.id);
      return { data: page.data.map(segmentJson), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/segments', config: { scope: 'manage' },
    schema: { tags, summary: 'Create a segment', body: createBody, response: { 201: segmentSchema } },
    handler: async (request, reply) => {
      const s = await store.write((trx) => insertSegment(trx, tenantIdOf(request), request.body.name, request.body.filter, Date.now()));
      return reply.code(201).send(segmentJson(s));
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/segments/preview', config: { scope: 'read' },
    schema: { tags, summary: 'Count the contacts a filter (and lists) select, without saving it', body: previewBody, response: { 200: countSchema } },
    handler: async (request) => countAudience(store.db, { tenantId: tenantIdOf(request), listIds: request.body.lists, filter: request.body.filter ?? null }),
  });

  app.route({
    method: 'GET', url: '/api/v1/segments/:id', config: { scope: 'read' },
    schema: { tags, summary: 'Get a segment', params: idParams, response: { 200: segmentSchema } },
    handler: async (request) => {
      const s = await getSegment(store.db, tenantIdOf(request), request.params.id);
      if (!s) throw new ApiProblem('not-found', `no segment ${request.params.id}`);
      return segmentJson(s);
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/segments/:id/count', config: { scope: 'read' },
    schema: { tags, summary: 'Count the contacts the segment selects now', params: idParams, response: { 200: countSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const s = await getSegment(store.db, tenantId, request.params.id);
      if (!s) throw new ApiProblem('not-found', `no segment ${request.params.id}`);
      return countAudience(store.db, { tenantId, listIds: [], filter: JSON.parse(s.filter) as SegmentCondition });
    },
  });

  app.route({
    method: 'PATCH', url: '/api/v1/segments/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Change a segment', params: idParams, body: updateBody, response: { 200: segmentSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const s = await store.write(async (trx) => (await getSegment(trx, tenantId, request.params.id)) ? updateSegment(trx, tenantId, request.params.id, request.body, Date.now()) : undefined);
      if (!s) throw new ApiProblem('not-found', `no segment ${request.params.id}`);
      return segmentJson(s);
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/segments/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Delete a segment', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      if (!(await store.write((trx) => deleteSegment(trx, tenantIdOf(request), request.params.id)))) throw new ApiProblem('not-found', `no segment ${request.params.id}`);
      return reply.code(204).send();
    },
  });
};
