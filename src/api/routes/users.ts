// Admin: dashboard users (src/web/). An instance admin signs in to what the admin token
// reaches; a tenant user to its tenant, as `owner` (every scope) or `viewer` (read only).
// Passwords are write-only: no response carries one or its hash.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { listUsersPage } from '../../store/index.ts';
import {
  UserAccountError, createUser, deleteUserAccount, findUserAccount, updateUserAccount, userView, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, USER_ROLES,
} from '../../web/index.ts';
import { auditActorOf } from '../audit.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { MANAGEMENT_BODY_LIMIT_BYTES, idParams, noContent, timestamp } from '../schemas.ts';
import { tenantOr404 } from './tenants.ts';

const password = z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH).describe(`${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters; stored as an scrypt hash`);

const createBody = z.strictObject({
  email: z.string().trim().max(320).pipe(z.email()).describe('The sign-in name; stored trimmed and lower-cased, unique'),
  password,
  is_admin: z.boolean().default(false).describe('An instance admin: everything the admin token may do'),
  tenant: z.string().min(1).max(200).optional().describe("A tenant user's tenant (id or name); required unless is_admin"),
  role: z.enum(USER_ROLES).default('viewer').describe('owner: every scope of the tenant; viewer: read only'),
}).superRefine((b, ctx) => {
  if (b.is_admin && b.tenant !== undefined) ctx.addIssue({ code: 'custom', path: ['tenant'], message: 'an instance admin belongs to no tenant' });
  if (!b.is_admin && b.tenant === undefined) ctx.addIssue({ code: 'custom', path: ['tenant'], message: 'a user that is not an admin needs a tenant' });
});

const patchBody = z.strictObject({
  password: password.optional().describe('A new password; ends the user\'s sessions'),
  role: z.enum(USER_ROLES).optional().describe('A tenant user\'s new role; ends the user\'s sessions'),
});

export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  is_admin: z.boolean(),
  tenant_id: z.string().nullable(),
  role: z.enum(USER_ROLES).nullable().describe('null for an instance admin'),
  created_at: timestamp,
  last_login_at: timestamp.nullable(),
}).meta({ id: 'User' });

/** UserAccountError → problem, pointing at the body field at fault. */
export function userProblem(err: unknown): unknown {
  if (!(err instanceof UserAccountError)) return err;
  const type = err.code === 'USER_EMAIL_TAKEN' ? 'conflict' : err.code === 'USER_NOT_FOUND' ? 'not-found' : err.code === 'USER_TENANT_NOT_FOUND' ? 'unprocessable' : 'validation';
  const errors = err.field ? [{ in: 'body' as const, pointer: `/${err.field}`, detail: err.message }] : undefined;
  return new ApiProblem(type, err.message, { code: err.code, errors });
}

const tags = ['users'];

export const userRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;

  app.route({
    method: 'POST', url: '/api/v1/users', bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Create a dashboard user', body: createBody, response: { 201: userSchema } },
    handler: async (request, reply) => {
      const b = request.body;
      const input = b.is_admin ? { email: b.email, password: b.password, admin: true as const } : { email: b.email, password: b.password, tenant: b.tenant!, role: b.role };
      try {
        return reply.code(201).send(await createUser(store, input, auditActorOf(request)));
      } catch (err) {
        throw userProblem(err);
      }
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/users',
    schema: {
      tags, summary: 'List dashboard users', querystring: pageQuery.extend({ tenant: z.string().min(1).max(200).optional().describe('Only users of this tenant (id or name)') }),
      response: { 200: pageOf(userSchema) },
    },
    handler: async (request) => {
      const tenantId = request.query.tenant === undefined ? undefined : (await tenantOr404(store, request.query.tenant)).id;
      const page = await paginate(request.query, (p) => listUsersPage(store.db, { tenantId }, p), (u) => u.id);
      return { data: page.data.map(userView), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/users/:id',
    schema: { tags, summary: 'Get a dashboard user (by id or email)', params: idParams, response: { 200: userSchema } },
    handler: async (request) => {
      const u = await findUserAccount(store, request.params.id);
      if (!u) throw new ApiProblem('not-found', `no user ${request.params.id}`);
      return userView(u);
    },
  });

  app.route({
    method: 'PATCH', url: '/api/v1/users/:id', bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
    schema: { tags, summary: "Change a user's password or role", description: 'Either change signs the user out everywhere.', params: idParams, body: patchBody, response: { 200: userSchema } },
    handler: async (request) => {
      const u = await findUserAccount(store, request.params.id);
      if (!u) throw new ApiProblem('not-found', `no user ${request.params.id}`);
      try {
        return await updateUserAccount(store, u.id, request.body, auditActorOf(request));
      } catch (err) {
        throw userProblem(err);
      }
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/users/:id',
    schema: { tags, summary: 'Delete a dashboard user and its sessions', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      const u = await findUserAccount(store, request.params.id);
      if (!u) throw new ApiProblem('not-found', `no user ${request.params.id}`);
      try {
        await deleteUserAccount(store, u.id, auditActorOf(request));
      } catch (err) {
        throw userProblem(err);
      }
      return reply.code(204).send();
    },
  });
};
