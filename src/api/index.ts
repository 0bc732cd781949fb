// What other stages (server.ts, the CLI, tests) may use of the HTTP API.
export { createApiApp, apiBodyLimitBytes } from './app.ts';
export type { CreateApiAppOptions } from './app.ts';
export { registerTenantRoutes, registerAdminRoutes } from './route-groups.ts';
export { Authenticator, API_KEY_SCOPES, tenantIdOf, principalOf, assertScope, requireScope, bearerChallenge } from './auth.ts';
export type { Principal, TenantId } from './auth.ts';
export { ApiProblem, PROBLEM_TYPES, PROBLEM_TYPE_BASE, problemTypeUri, fieldProblem, jsonPointer, problemSchema } from './problem.ts';
export type { ProblemType, ProblemFieldError, ProblemLocation, ProblemOptions, ProblemBody } from './problem.ts';
export { PROBLEM_CONTENT_TYPE, sendProblem } from './error-handler.ts';
export { paginate, pageQuery, pageOf, cursorSchema, encodeCursor, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from './pagination.ts';
export type { Page, PageQuery } from './pagination.ts';
export { mintApiKey, tryParseApiKey } from './api-key-token.ts';
export { createApiKey } from './routes/keys.ts';
export { OPENAPI_PATH, DOCS_PREFIX } from './openapi.ts';
export type { ApiDeps, ApiInstance, RouteAuth } from './types.ts';
