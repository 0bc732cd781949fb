// OpenAPI 3.1 generated from the routes' zod schemas (the same ones that validate requests),
// served at /api/v1/openapi.json and rendered at /api/docs. Security and the problem+json
// error response are added per route from its group (route.config.auth/scope), so a route
// documents its auth without saying it twice.
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { FastifyContextConfig } from 'fastify';
import { PROBLEM_CONTENT_TYPE } from './error-handler.ts';
import type { ApiInstance } from './types.ts';

export const OPENAPI_PATH = '/api/v1/openapi.json';
export const DOCS_PREFIX = '/api/docs';

const zodTransform = createJsonSchemaTransform({ skipList: [] });
type TransformInput = Parameters<typeof zodTransform>[0];

function transform(input: TransformInput) {
  const out = zodTransform(input);
  const schema = out.schema as Record<string, unknown> | undefined;
  if (!schema || schema.hide) return out;
  const config = ((input as { route?: { config?: FastifyContextConfig } }).route?.config ?? {});
  const security = config.auth === 'tenant' ? [{ apiKey: config.scope ? [config.scope] : [] }]
    : config.auth === 'admin' ? [{ adminToken: [] }]
      : [];
  let description = typeof schema.description === 'string' ? schema.description : '';
  if (config.auth === 'tenant' && config.scope) description = `${description}${description ? '\n\n' : ''}Requires an API key with the \`${config.scope}\` scope.`;
  else if (config.auth === 'admin') description = `${description}${description ? '\n\n' : ''}Requires the admin token.`;
  const response = {
    ...(schema.response as Record<string, unknown> | undefined),
    default: {
      description: 'An error, as RFC 9457 problem details',
      content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
    },
  };
  return { ...out, schema: { ...schema, security, response, ...(description ? { description } : {}) } };
}

export async function registerOpenApi(app: ApiInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Postline API',
        version: '1',
        description: 'Send mail, manage tenants and learn what happened to every message. Errors are RFC 9457 problem details; see docs/api.md.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'A tenant API key, `pl_<id>_<secret>`; the security requirement lists the scope the route needs.' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token (configuration `admin_token` or `<data_dir>/admin-token`).' },
        },
      },
    },
    transform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { deepLinking: true } });
  app.route({
    method: 'GET',
    url: OPENAPI_PATH,
    schema: { hide: true },
    handler: async (_request, reply) => reply.type('application/json').send(JSON.stringify(app.swagger())),
  });
}
