// Contact lists (issue 9): create, read, change, delete, CSV import into a list (streamed,
// with a job id, progress and a rejected-rows report) and CSV export of its members. The
// `text/csv` parser is registered inside this plugin only, so no other route accepts CSV.
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  deleteList, findListByName, getImportJob, getList, insertList, listImportRejections, listListsPage, listMemberCounts, listMembersPage, updateList,
  type ContactImportJobTable, type ContactListTable, type Store,
} from '../../store/index.ts';
import { ContactImportError, DEFAULT_CONFIRM_SUBJECT, importContactsCsv } from '../../campaigns/index.ts';
import { ComposeError, TemplateRenderer, headerText, mailboxSchema } from '../../compose/index.ts';
import { SenderDomains, composeProblem } from './messages-send-prepare.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { displayName, idParams, isoTime, noContent, timestamp } from '../schemas.ts';
import { CsvError, csvRow } from '../csv.ts';
import { CONTACT_IMPORT_BODY_LIMIT_BYTES, assertCsvUpload, capped, clientGone } from './csv-upload.ts';

const optIn = z.enum(['single', 'double']);
const confirmSchema = z.strictObject({
  from: mailboxSchema.describe('Sender of the confirmation mail: a sending domain of the tenant'),
  subject: headerText(2000).nullable().optional().describe(`Handlebars; default "${DEFAULT_CONFIRM_SUBJECT}"`),
  html: z.string().max(256 * 1024).nullable().optional().describe('Handlebars with {{confirm_url}}, {{contact.…}}, {{list.name}}'),
  text: z.string().max(256 * 1024).nullable().optional(),
});
const createBody = z.strictObject({
  name: displayName,
  description: z.string().trim().max(1000).nullable().optional(),
  opt_in: optIn.default('single').describe('double: contacts added through the API confirm by email first (imports are taken as confirmed)'),
  confirm: confirmSchema.optional().describe('The confirmation mail of a double opt-in list (required for one)'),
}).superRefine((b, ctx) => {
  if (b.opt_in === 'double' && !b.confirm) ctx.addIssue({ code: 'custom', path: ['confirm'], message: 'a double opt-in list needs its confirmation mail: {"from", "subject"?, "html"?, "text"?}' });
});
const updateBody = z.strictObject({ name: displayName.optional(), description: z.string().trim().max(1000).nullable().optional(), opt_in: optIn.optional(), confirm: confirmSchema.optional() });

export const listSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  opt_in: optIn,
  confirm: z.object({ from: z.string().nullable(), subject: z.string().nullable(), html: z.string().nullable(), text: z.string().nullable() }),
  members: z.object({ subscribed: z.number().int(), unsubscribed: z.number().int(), unconfirmed: z.number().int() }).optional(),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'ContactList' });

export const importJobSchema = z.object({
  id: z.string(),
  list_id: z.string(),
  status: z.enum(['running', 'finished', 'failed']),
  rows: z.number().int().describe('Data rows read so far'),
  imported: z.number().int().describe('Contacts added to the list'),
  existing: z.number().int().describe('Already on the list (name and attributes updated)'),
  rejected: z.number().int().describe('Rows refused: invalid, duplicate, suppressed, malformed; see rejected_url'),
  error: z.string().nullable(),
  rejected_url: z.string(),
  created_at: timestamp,
  finished_at: timestamp.nullable(),
}).meta({ id: 'ContactImportJob' });

function listJson(l: ContactListTable, members?: { subscribed: number; unsubscribed: number; unconfirmed: number }): z.output<typeof listSchema> {
  return {
    id: l.id, name: l.name, description: l.description, opt_in: l.opt_in,
    confirm: { from: l.confirm_from, subject: l.confirm_subject, html: l.confirm_html, text: l.confirm_text },
    ...(members ? { members } : {}), created_at: isoTime(l.created_at), updated_at: isoTime(l.updated_at),
  };
}

export function importJobJson(j: ContactImportJobTable): z.output<typeof importJobSchema> {
  return {
    id: j.id, list_id: j.list_id, status: j.status, rows: j.rows, imported: j.imported, existing: j.existing, rejected: j.rejected, error: j.error,
    rejected_url: `/api/v1/lists/${j.list_id}/imports/${j.id}/rejected`, created_at: isoTime(j.created_at), finished_at: isoTime(j.finished_at),
  };
}

async function listOr404(store: Store, tenantId: string, id: string): Promise<ContactListTable> {
  const l = await getList(store.db, tenantId, id);
  if (!l) throw new ApiProblem('not-found', `no list ${id}`);
  return l;
}

const jobParams = z.object({ id: z.string().min(1).max(200), jobId: z.string().min(1).max(200) });
const EXPORT_PAGE_ROWS = 2000;
const tags = ['lists'];

type ConfirmInput = z.output<typeof confirmSchema>;

export const listRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config } = app.postline;
  const senders = new SenderDomains(store, config.domains.require_verified);
  const renderer = new TemplateRenderer();

  /** The confirmation mail as stored, after checking its sender domain and templates. */
  async function confirmOf(tenantId: string, c: ConfirmInput | undefined) {
    if (!c) return undefined;
    const domain = c.from.address.slice(c.from.address.lastIndexOf('@') + 1);
    if (!(await senders.owns(tenantId, [domain]))) {
      throw new ApiProblem('unprocessable', `${domain} is not a verified sending domain of this tenant`, { code: 'SENDER_DOMAIN_NOT_ALLOWED', errors: [{ in: 'body', pointer: '/confirm/from', detail: 'not a sending domain of this tenant' }] });
    }
    try {
      renderer.assertValid({ subject: c.subject, html: c.html, text: c.text });
    } catch (err) {
      if (err instanceof ComposeError) throw composeProblem(err);
      throw err;
    }
    return { confirm_from: c.from.address, confirm_subject: c.subject ?? null, confirm_html: c.html ?? null, confirm_text: c.text ?? null };
  }
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));

  app.route({
    method: 'GET', url: '/api/v1/lists', config: { scope: 'read' },
    schema: { tags, summary: 'List contact lists', querystring: pageQuery, response: { 200: pageOf(listSchema) } },
    handler: async (request) => {
      const page = await paginate(request.query, (p) => listListsPage(store.db, tenantIdOf(request), p), (l) => l.id);
      return { data: page.data.map((l) => listJson(l)), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/lists', config: { scope: 'manage' },
    schema: { tags, summary: 'Create a list', description: 'Names are unique in the tenant (409).', body: createBody, response: { 201: listSchema } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const b = request.body;
      if (await findListByName(store.db, tenantId, b.name)) throw new ApiProblem('conflict', `a list named "${b.name}" exists`, { code: 'LIST_EXISTS' });
      const confirm = await confirmOf(tenantId, b.confirm);
      const l = await store.write((trx) => insertList(trx, tenantId, { name: b.name, description: b.description ?? null, optIn: b.opt_in, confirm }, Date.now()));
      return reply.code(201).send(listJson(l));
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/lists/:id', config: { scope: 'read' },
    schema: { tags, summary: 'Get a list with its member counts', params: idParams, response: { 200: listSchema } },
    handler: async (request) => {
      const l = await listOr404(store, tenantIdOf(request), request.params.id);
      return listJson(l, await listMemberCounts(store.db, l.id));
    },
  });

  app.route({
    method: 'PATCH', url: '/api/v1/lists/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Change a list', params: idParams, body: updateBody, response: { 200: listSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      await listOr404(store, tenantId, request.params.id);
      const b = request.body;
      if (b.name !== undefined) {
        const other = await findListByName(store.db, tenantId, b.name);
        if (other && other.id !== request.params.id) throw new ApiProblem('conflict', `a list named "${b.name}" exists`, { code: 'LIST_EXISTS' });
      }
      const confirm = await confirmOf(tenantId, b.confirm);
      const current = await listOr404(store, tenantId, request.params.id);
      if ((b.opt_in ?? current.opt_in) === 'double' && !(confirm?.confirm_from ?? current.confirm_from)) {
        throw new ApiProblem('validation', 'a double opt-in list needs its confirmation mail', { errors: [{ in: 'body', pointer: '/confirm', detail: 'required for opt_in double' }] });
      }
      const l = await store.write((trx) => updateList(trx, tenantId, request.params.id, { name: b.name, description: b.description, optIn: b.opt_in, confirm }, Date.now()));
      return listJson(l!);
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/lists/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Delete a list (its contacts stay)', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      if (!(await store.write((trx) => deleteList(trx, tenantIdOf(request), request.params.id)))) throw new ApiProblem('not-found', `no list ${request.params.id}`);
      return reply.code(204).send();
    },
  });

  app.route({
    // The handler runs while the CSV uploads: a large file needs longer than http.handler_timeout.
    method: 'POST', url: '/api/v1/lists/:id/import', config: { scope: 'manage', handlerTimeoutMs: 60 * 60_000 }, bodyLimit: CONTACT_IMPORT_BODY_LIMIT_BYTES,
    // Another tenant's list is 404 before the media type is looked at.
    onRequest: [async (request) => {
      await listOr404(store, tenantIdOf(request), (request.params as { id: string }).id);
    }, assertCsvUpload],
    schema: {
      tags, summary: 'Import contacts into the list from CSV',
      description: 'Content-Type: text/csv (RFC 4180, UTF-8). The header row names `email` (required), `name`, and attribute columns (letters, digits, _). Rows are written in batches as they arrive; the job (id in the answer and in the `Location` header while it runs) shows progress at GET /api/v1/lists/{id}/imports/{jobId}, and its rejected rows download as CSV.',
      consumes: ['text/csv'], params: idParams,
      body: z.any().describe('CSV text, header row first: email,name,<attributes…>'),
      response: { 200: importJobSchema },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const list = await listOr404(store, tenantId, request.params.id);
      const body = request.body;
      if (!(body instanceof Readable)) throw new ApiProblem('unsupported-media-type', 'the request body must be text/csv (UTF-8)', { headers: { accept: 'text/csv' } });
      try {
        const job = await importContactsCsv(store, tenantId, list.id, capped(body, CONTACT_IMPORT_BODY_LIMIT_BYTES), {
          signal: clientGone(reply), onJob: (j) => reply.header('location', `/api/v1/lists/${list.id}/imports/${j.id}`),
        });
        return importJobJson((await getImportJob(store.db, tenantId, job.id))!);
      } catch (err) {
        // The rest of the upload is never read: close after the answer (RFC 9112 §9.6).
        if (!body.readableEnded) reply.header('connection', 'close');
        if (err instanceof ContactImportError || err instanceof CsvError) {
          throw new ApiProblem('validation', err.message, { code: err.code, errors: [{ in: 'body', pointer: '', detail: err.message }] });
        }
        throw err;
      }
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/lists/:id/imports/:jobId', config: { scope: 'read' },
    schema: { tags, summary: 'Progress and result of an import', params: jobParams, response: { 200: importJobSchema } },
    handler: async (request) => {
      const job = await getImportJob(store.db, tenantIdOf(request), request.params.jobId);
      if (!job || job.list_id !== request.params.id) throw new ApiProblem('not-found', `no import ${request.params.jobId} of list ${request.params.id}`);
      return importJobJson(job);
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/lists/:id/imports/:jobId/rejected', config: { scope: 'read' },
    schema: { tags, summary: 'Rejected rows of an import as CSV', description: 'text/csv: line,email,reason,detail; reason is invalid, duplicate, suppressed or malformed.', params: jobParams },
    handler: async (request, reply) => {
      const job = await getImportJob(store.db, tenantIdOf(request), request.params.jobId);
      if (!job || job.list_id !== request.params.id) throw new ApiProblem('not-found', `no import ${request.params.jobId} of list ${request.params.id}`);
      async function* rows(): AsyncGenerator<string> {
        yield csvRow(['line', 'email', 'reason', 'detail']);
        for (let after = 0; ;) {
          const page = await listImportRejections(store.db, job!.id, after, EXPORT_PAGE_ROWS);
          if (page.length === 0) return;
          yield page.map((r) => csvRow([String(r.line), r.email, r.reason, r.detail])).join('');
          after = page[page.length - 1].line;
        }
      }
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${job.id}-rejected.csv"`).send(Readable.from(rows()));
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/lists/:id/export', config: { scope: 'read' },
    schema: { tags, summary: 'Export the list\'s members as CSV', description: 'text/csv, streamed: email,name,status,list_status,created_at, then one column per attribute named in the first page.', params: idParams },
    handler: async (request, reply) => {
      const list = await listOr404(store, tenantIdOf(request), request.params.id);
      async function* rows(): AsyncGenerator<string> {
        let after: string | null = null;
        let attrs: string[] | null = null;
        for (;;) {
          const page = await listMembersPage(store.db, list.id, after, EXPORT_PAGE_ROWS);
          if (attrs === null) {
            attrs = [...new Set(page.flatMap((r) => Object.keys(JSON.parse(r.attributes) as object)))].sort();
            yield csvRow(['email', 'name', 'status', 'list_status', 'created_at', ...attrs]);
          }
          if (page.length === 0) return;
          yield page.map((r) => {
            const a = JSON.parse(r.attributes) as Record<string, unknown>;
            return csvRow([r.email, r.name, r.status, r.member_status, isoTime(r.created_at), ...attrs!.map((k) => (a[k] == null ? null : String(a[k])))]);
          }).join('');
          if (page.length < EXPORT_PAGE_ROWS) return;
          after = page[page.length - 1].id;
        }
      }
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${list.id}.csv"`).send(Readable.from(rows()));
    },
  });
};
