// Liveness and readiness, without authentication: /healthz answers while the process runs;
// /readyz answers 200 only when the store answers a query (a 503 problem otherwise).
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { queueCounts } from '../../store/index.ts';
import { ApiProblem } from '../problem.ts';

export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  app.route({
    method: 'GET', url: '/healthz',
    schema: { tags: ['operations'], summary: 'Process is up', response: { 200: z.object({ status: z.literal('ok') }) } },
    handler: async () => ({ status: 'ok' as const }),
  });
  app.route({
    method: 'GET', url: '/readyz',
    schema: {
      tags: ['operations'],
      summary: 'The store answers queries',
      response: { 200: z.object({ status: z.literal('ok'), queue: z.record(z.string(), z.number()).describe('Recipients by status') }) },
    },
    handler: async () => {
      try {
        return { status: 'ok' as const, queue: await queueCounts(store.db) };
      } catch (err) {
        throw new ApiProblem('unavailable', 'the store does not answer', { cause: err, retryAfterSeconds: 5, code: 'API_STORE_UNAVAILABLE' });
      }
    },
  });
};
