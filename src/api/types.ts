// The API's shared types and the Fastify declarations they add: `app.postline` (what every
// route may use), `request.principal`, and the route `config` that route groups read.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { DeliveryHandoff } from '../ingress/index.ts';
import type { ApiKeyScope, Store } from '../store/index.ts';
import type { Authenticator, Principal } from './auth.ts';

/** Everything a route may reach, on `app.postline`. Add a field here and to CreateApiAppOptions. */
export interface ApiDeps {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
  readonly auth: Authenticator;
  /** Hands API-accepted mail to delivery at once (null: the queue picks it up when it polls). */
  readonly handoff: DeliveryHandoff | null;
}

/** Who may call a route: set by the route group it is registered in, never by the route. */
export type RouteAuth = 'public' | 'admin' | 'tenant';

export type ApiInstance = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

declare module 'fastify' {
  interface FastifyInstance {
    postline: ApiDeps;
  }
  interface FastifyRequest {
    /** Set by the auth hook of the admin and tenant route groups; null on public routes. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Tenant routes: the API key scope the route needs (required; checked before the body is read). */
    scope?: ApiKeyScope;
    /** Set by registerTenantRoutes/registerAdminRoutes. */
    auth?: RouteAuth;
    /** This route's own handler time limit in ms, instead of http.handler_timeout (uploads that stream while handled). */
    handlerTimeoutMs?: number;
  }
}
