// The HTTP API as a Fastify instance, built but not listening (server.ts listens; tests use
// inject()). Each route group is a plugin registered below, inside the group that
// authenticates it (route-groups.ts). To add a group: write src/api/routes/<name>.ts
// exporting a FastifyPluginAsyncZod and add one line here.
import Fastify, { LogController } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { DeliveryHandoff } from '../ingress/index.ts';
import { newPublicId, type Store } from '../store/index.ts';
import { Authenticator } from './auth.ts';
import { createApiRateLimits } from './rate-limit.ts';
import { installProblemHandlers, sendProblem, toProblem, writeClientErrorProblem } from './error-handler.ts';
import { installHandlerTimeout } from './handler-timeout.ts';
import { registerOpenApi } from './openapi.ts';
import { registerAdminRoutes, registerTenantRoutes } from './route-groups.ts';
import type { ApiDeps, ApiInstance } from './types.ts';
import { zodValidatorCompiler } from './validation.ts';
import { healthRoutes } from './routes/health.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { adminKeyRoutes, tenantKeyRoutes } from './routes/keys.ts';
import { adminCredentialRoutes, tenantCredentialRoutes } from './routes/smtp-credentials.ts';
import { tenantDomainRoutes } from './routes/domains.ts';
import { messageSendRoutes } from './routes/messages-send.ts';
import { templateRoutes } from './routes/templates.ts';
import { messageReadRoutes } from './routes/messages-read.ts';
import { eventRoutes } from './routes/events.ts';
import { statsRoutes } from './routes/stats.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { auditLogRoutes } from './routes/audit-log.ts';
import { suppressionRoutes } from './routes/suppressions.ts';
import { WebSessions, webUiPlugin } from '../web/index.ts';
import { ApiProblem } from './problem.ts';
import { sessionRoutes } from './routes/session.ts';
import { userRoutes } from './routes/users.ts';
import { queueRoutes } from './routes/queue.ts';
import { inboxRoutes } from './routes/inbox.ts';
import { messageContentRoutes } from './routes/message-content.ts';
import { ipPoolRoutes } from './routes/ip-pools.ts';
import { quotaRoutes } from './routes/quota.ts';
import { contactRoutes } from './routes/contacts.ts';
import { listRoutes } from './routes/lists.ts';
import { segmentRoutes } from './routes/segments.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { campaignActionRoutes } from './routes/campaign-actions.ts';
import { campaignLinkRoutes } from './routes/campaign-links.ts';
import { linkHostRoutes } from './routes/link-hosts.ts';
import { campaignRunnerPlugin } from './campaign-runner-plugin.ts';

export interface CreateApiAppOptions {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
  /** The admin token (config.admin_token or <data_dir>/admin-token); null: no admin access. */
  readonly adminToken: string | null;
  /** Hands mail accepted by the API straight to this node's delivery loop; without it the queue polls. */
  readonly handoff?: DeliveryHandoff | null;
}

/**
 * Base64 grows attachments by 4/3, plus JSON around them: a body of 1.4 × the SMTP size limit
 * can carry a message the SMTP side would accept.
 */
export function apiBodyLimitBytes(config: Readonly<Config>): number {
  return Math.ceil(config.smtp.max_message_bytes * 1.4);
}

export async function createApiApp(options: CreateApiAppOptions): Promise<ApiInstance> {
  const { config, store } = options;
  const log = options.log.child({ stage: 'api' });
  const app = Fastify({
    loggerInstance: log,
    // One line per request would cost more than the request at the rates we aim for;
    // failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: config.http.request_timeout,
    bodyLimit: apiBodyLimitBytes(config),
    // Never believe X-Forwarded-For: request.ip is the peer (a proxy setting can come later).
    trustProxy: false,
    genReqId: () => newPublicId('req'),
    // A URL Fastify cannot decode (`/api/v1/keys/%zz`) is a 400 problem like any other.
    frameworkErrors: (error, request, reply) => sendProblem(request, reply, toProblem(error)),
    // Malformed HTTP, header overflow and request timeouts are answered on the socket.
    clientErrorHandler: writeClientErrorProblem,
  }).withTypeProvider<ZodTypeProvider>() as unknown as ApiInstance;
  // Node checks request_timeout (and the headers timeout) only every 30 s by default: a
  // slowloris client would hold its socket for up to 30 s past the limit. Check each second.
  (app.server as typeof app.server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = 1000;
  app.server.headersTimeout = Math.min(app.server.headersTimeout, config.http.request_timeout);

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: a text/plain body gets 415, not a confusing validation error.
  app.removeContentTypeParser('text/plain');

  // The dashboard (web.enabled): session cookies authenticate as well as bearer tokens.
  const sessions = config.web.enabled ? new WebSessions({ config, store, log }) : null;
  const auth = new Authenticator({ store, adminToken: options.adminToken, log, rateLimits: createApiRateLimits(config.http), sessions, keyCacheMs: config.http.key_cache });
  const deps: ApiDeps = Object.freeze({ config, store, log, auth, handoff: options.handoff ?? null });
  app.decorate('postline', deps);
  app.decorateRequest('principal', null);
  installProblemHandlers(app, log);
  installHandlerTimeout(app, config.http.handler_timeout);
  await registerOpenApi(app);

  await app.register(healthRoutes);
  // Not encapsulated (its latency hook sees every route), so it comes before the route groups.
  await app.register(metricsRoutes);
  registerAdminRoutes(app, tenantRoutes);
  registerAdminRoutes(app, adminKeyRoutes);
  registerAdminRoutes(app, adminCredentialRoutes);
  registerAdminRoutes(app, auditLogRoutes);
  registerTenantRoutes(app, tenantKeyRoutes);
  registerTenantRoutes(app, tenantCredentialRoutes);
  registerTenantRoutes(app, tenantDomainRoutes);
  registerTenantRoutes(app, messageSendRoutes);
  registerTenantRoutes(app, templateRoutes);
  registerTenantRoutes(app, messageReadRoutes);
  registerTenantRoutes(app, eventRoutes);
  registerTenantRoutes(app, statsRoutes);
  registerTenantRoutes(app, webhookRoutes);
  registerTenantRoutes(app, suppressionRoutes);
  registerAdminRoutes(app, userRoutes);
  registerTenantRoutes(app, queueRoutes);
  registerTenantRoutes(app, inboxRoutes);
  registerTenantRoutes(app, messageContentRoutes);
  registerAdminRoutes(app, ipPoolRoutes);
  registerTenantRoutes(app, quotaRoutes);
  registerTenantRoutes(app, contactRoutes);
  registerTenantRoutes(app, listRoutes);
  registerTenantRoutes(app, segmentRoutes);
  registerTenantRoutes(app, campaignRoutes);
  registerTenantRoutes(app, campaignActionRoutes);
  registerTenantRoutes(app, linkHostRoutes);
  // Public, no auth: one-click unsubscribe (RFC 8058), the preference page, open and click tracking.
  await app.register(campaignLinkRoutes);
  await app.register(campaignRunnerPlugin);
  if (sessions) {
    await app.register(sessionRoutes(sessions));
    // Last: `/` and the client-side routes of the built dashboard (src/web/static-ui.ts).
    await app.register(webUiPlugin, {
      notFound: (request, reply) => sendProblem(request, reply, new ApiProblem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`, { code: 'API_NO_ROUTE' })),
    });
  }

  await app.ready();
  return app;
}
