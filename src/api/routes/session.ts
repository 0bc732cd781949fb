// Dashboard sessions: sign in with email and password (a session cookie, HttpOnly and
// SameSite=Lax), read the current session (with the CSRF token its writes must send), sign
// out. The same routes serve any client that keeps cookies; scripts should use API keys.
// Sign-in takes JSON only: a cross-site form cannot send it (a JSON POST from another site
// needs a CORS preflight, which Postline never grants), so no one can be signed in to an
// account they did not choose (login CSRF).
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import type { SessionWithUser } from '../../store/index.ts';
import { CSRF_HEADER, SESSION_COOKIE, csrfTokenMatches, csrfTokenOf, readCookie, userView, type WebSessions } from '../../web/index.ts';
import { ApiProblem } from '../problem.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, noContent, timestamp } from '../schemas.ts';
import { userSchema } from './users.ts';

const sessionSchema = z.object({
  user: userSchema,
  tenant: z.object({ id: z.string(), name: z.string(), sandbox: z.boolean() }).nullable().describe("A tenant user's tenant; null for an admin"),
  scopes: z.array(z.enum(['send', 'read', 'manage'])).describe('What the session may do on tenant routes (an admin: the admin routes)'),
  csrf_token: z.string().describe(`Send it as ${CSRF_HEADER} with every POST, PATCH, PUT and DELETE made with this session`),
  expires_at: timestamp.describe('The session ends then (web.session_ttl after sign-in); sign in again'),
}).meta({ id: 'Session' });

function sessionJson(found: SessionWithUser, token: string): z.output<typeof sessionSchema> {
  const { user, tenant, session } = found;
  return {
    user: userView(user),
    tenant,
    scopes: user.is_admin === 1 ? [] : user.role === 'owner' ? ['send', 'read', 'manage'] : ['read'],
    csrf_token: csrfTokenOf(token),
    expires_at: new Date(Number(session.expires_at)).toISOString(),
  };
}

function noSession(): ApiProblem {
  return new ApiProblem('unauthorized', 'not signed in: POST /api/v1/session with your email and password', { code: 'WEB_NO_SESSION' });
}

function isTls(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

const tags = ['session'];

export function sessionRoutes(sessions: WebSessions): FastifyPluginAsyncZod {
  return async (app) => {
    app.route({
      method: 'POST', url: '/api/v1/session', bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
      schema: {
        tags, summary: 'Sign in to the dashboard',
        description: 'Sets the session cookie. 401 (code WEB_SIGNIN_FAILED) for a wrong email or password; 429 with Retry-After after too many failures from the client address or for the account (web.signin_*).',
        // Optional in the schema so that a request without credentials is a 401 like every
        // other unauthenticated API request, not a 400.
        body: z.strictObject({ email: z.string().min(1).max(320).optional(), password: z.string().min(1).max(1024).optional() }),
        response: { 200: sessionSchema },
      },
      handler: async (request, reply) => {
        const { email, password } = request.body;
        if (email === undefined || password === undefined) throw new ApiProblem('unauthorized', 'send {"email", "password"} to sign in', { code: 'WEB_SIGNIN_FAILED' });
        // Like the API's rate limits, the admin token spends from no per-IP budget: it is the
        // operator (a provisioning script checking a user's password, say).
        const operator = request.headers.authorization !== undefined
          && (await app.postline.auth.authenticate(request.headers.authorization).then((p) => p.kind === 'admin', () => false));
        const result = await sessions.signIn(email, password, request.ip, Date.now(), { exemptIp: operator });
        if (!result.ok && result.code === 'WEB_SIGNIN_THROTTLED') {
          throw new ApiProblem('rate-limited', `too many failed sign-ins ${result.limit === 'ip' ? 'from this address' : 'for this account'}; retry after ${result.retryAfterSeconds} s`, {
            code: 'WEB_SIGNIN_THROTTLED', retryAfterSeconds: result.retryAfterSeconds, extensions: { limit: result.limit },
          });
        }
        if (!result.ok) throw new ApiProblem('unauthorized', 'wrong email or password', { code: 'WEB_SIGNIN_FAILED' });
        reply.header('set-cookie', sessions.cookie(result.token, isTls(request))).header('cache-control', 'no-store');
        return sessionJson(result.session, result.token);
      },
    });

    app.route({
      method: 'GET', url: '/api/v1/session',
      schema: { tags, summary: 'The signed-in user, its tenant and the CSRF token', description: 'Needs the session cookie; 401 (code WEB_NO_SESSION) without a live one.', response: { 200: sessionSchema } },
      handler: async (request, reply) => {
        const token = readCookie(request.headers.cookie, SESSION_COOKIE);
        const found = await sessions.find(token);
        if (!found || token === undefined) throw noSession();
        reply.header('cache-control', 'no-store');
        return sessionJson(found, token);
      },
    });

    app.route({
      method: 'DELETE', url: '/api/v1/session',
      schema: {
        tags, summary: 'Sign out',
        description: `Ends the session and removes the cookie. Needs ${CSRF_HEADER}. Without a live session: 401 (code WEB_NO_SESSION), and the cookie is removed all the same.`,
        response: { 204: noContent },
      },
      handler: async (request, reply) => {
        const token = readCookie(request.headers.cookie, SESSION_COOKIE);
        if (token === undefined || !(await sessions.find(token))) {
          reply.header('set-cookie', sessions.clearCookie(isTls(request)));
          throw noSession();
        }
        const presented = request.headers[CSRF_HEADER];
        if (!csrfTokenMatches(token, Array.isArray(presented) ? presented[0] : presented)) {
          throw new ApiProblem('forbidden', `signing out needs the session's CSRF token in ${CSRF_HEADER}`, { code: 'API_CSRF_TOKEN_INVALID' });
        }
        await sessions.signOut(token);
        return reply.code(204).header('set-cookie', sessions.clearCookie(isTls(request))).send();
      },
    });
  };
}
