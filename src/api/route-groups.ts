// Route groups. Authentication is an `onRequest` hook on an encapsulated context, and every
// route of a group is registered inside that context (fastify/docs/Reference/Encapsulation.md),
// so a route cannot slip outside its group's check. onRequest runs before the body is read:
// an unauthenticated 35 MB upload is refused without parsing it.
//
//   registerTenantRoutes(app, keyRoutes);   // API key of a tenant (or a tenant user's session); each route declares config.scope
//   registerAdminRoutes(app, tenantRoutes); // the admin token (or an admin user's session)
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { API_KEY_SCOPES, assertScope } from './auth.ts';
import { ApiProblem } from './problem.ts';
import type { ApiInstance } from './types.ts';

/**
 * Registers `plugin` in a context where every request must carry a tenant API key, and every
 * route must declare the scope it needs in `config: { scope: 'send' | 'read' | 'manage' }`
 * (startup fails otherwise). Inside, `tenantIdOf(request)` is the caller's tenant: scope
 * every query by it, and answer 404 for another tenant's objects, never 403.
 */
export function registerTenantRoutes(app: ApiInstance, plugin: FastifyPluginAsyncZod): void {
  void app.register(async function tenantRouteGroup(group) {
    group.addHook('onRoute', (route) => {
      const scope = route.config?.scope;
      if (!scope || !API_KEY_SCOPES.includes(scope)) {
        throw new Error(`tenant route ${String(route.method)} ${route.url} must declare config.scope (${API_KEY_SCOPES.join(' | ')})`);
      }
      route.config = { ...route.config, auth: 'tenant' };
    });
    group.addHook('onRequest', async (request) => {
      const principal = await group.postline.auth.authenticateRequest(request);
      request.principal = principal;
      if (principal.kind !== 'key') {
        throw new ApiProblem('forbidden', 'this route takes a tenant API key; the admin token manages a tenant under /api/v1/tenants/{id}/…');
      }
      assertScope(request, request.routeOptions.config.scope!);
    });
    await group.register(plugin);
  });
}

/** Registers `plugin` in a context where every request must carry the admin token. */
export function registerAdminRoutes(app: ApiInstance, plugin: FastifyPluginAsyncZod): void {
  void app.register(async function adminRouteGroup(group) {
    group.addHook('onRoute', (route) => {
      route.config = { ...route.config, auth: 'admin' };
    });
    group.addHook('onRequest', async (request) => {
      const principal = await group.postline.auth.authenticateRequest(request);
      request.principal = principal;
      if (principal.kind !== 'admin') throw new ApiProblem('forbidden', 'this route requires the admin token (or an admin user\'s session)');
    });
    await group.register(plugin);
  });
}
