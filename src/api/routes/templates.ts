// Templates: a tenant's Handlebars sources for subject, html and text, addressed by id
// (`tpl_…`) or by name (its alias, unique in the tenant). A source that does not compile
// is refused with 422 naming the field; preview renders with `data` without sending.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Store, TemplateTable } from '../../store/index.ts';
import { deleteTemplate, findTemplate, insertTemplate, listTemplates, updateTemplate } from '../../store/index.ts';
import { ComposeError, TemplateRenderer, headerText } from '../../compose/index.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem, fieldProblem } from '../problem.ts';
import { pageOf, pageQuery, paginate } from '../pagination.ts';
import { idParams, isoTime, noContent, timestamp } from '../schemas.ts';
import { composeProblem } from './messages-send-prepare.ts';

/** Templates are larger than other management bodies: a full HTML email with inline CSS. */
const TEMPLATE_BODY_LIMIT_BYTES = 2 * 1024 * 1024;
const MAX_SOURCE_CHARS = 512 * 1024;

const templateName = z.string().min(1).max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit')
  .refine((n) => !n.startsWith('tpl_'), 'must not start with "tpl_" (that is how ids start)')
  .describe('Alias, unique in the tenant; send with "template": "<name>"');

const sourceFields = {
  // A template's subject is a header: refused with CR or LF already in the source.
  subject: headerText(2000).nullable().optional().describe('Handlebars; not HTML-escaped'),
  html: z.string().max(MAX_SOURCE_CHARS).nullable().optional().describe('Handlebars; {{value}} is HTML-escaped, {{{value}}} is not'),
  text: z.string().max(MAX_SOURCE_CHARS).nullable().optional().describe('Handlebars; not HTML-escaped'),
};

const createBody = z.strictObject({ name: templateName, ...sourceFields }).superRefine((t, ctx) => {
  if (t.html == null && t.text == null) ctx.addIssue({ code: 'custom', message: 'give html, text or both', path: ['html'] });
});
const updateBody = z.strictObject({ name: templateName.optional(), ...sourceFields });

export const templateSchema = z.object({
  id: z.string(),
  name: z.string(),
  subject: z.string().nullable(),
  html: z.string().nullable(),
  text: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'Template' });

const previewBody = z.strictObject({ data: z.record(z.string(), z.json()).default({}).describe('Values for the template') });
const renderedSchema = z.object({
  subject: z.string().nullable(),
  html: z.string().nullable(),
  text: z.string().nullable(),
}).meta({ id: 'RenderedTemplate' });

function templateJson(t: TemplateTable): z.output<typeof templateSchema> {
  return { id: t.id, name: t.name, subject: t.subject, html: t.html, text: t.text, created_at: isoTime(t.created_at), updated_at: isoTime(t.updated_at) };
}

async function templateOr404(store: Store, tenantId: string, idOrName: string): Promise<TemplateTable> {
  const t = await findTemplate(store.db, tenantId, idOrName);
  if (!t) throw new ApiProblem('not-found', `no template ${idOrName}`);
  return t;
}

const tags = ['templates'];

export const templateRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store } = app.postline;
  const renderer = new TemplateRenderer();

  function assertCompiles(fields: { subject?: string | null; html?: string | null; text?: string | null }): void {
    try {
      renderer.assertValid(fields);
    } catch (err) {
      throw err instanceof ComposeError ? composeProblem(err) : err;
    }
  }

  async function assertNameFree(tenantId: string, name: string, self?: string): Promise<void> {
    const other = await store.db.selectFrom('templates').select('id').where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
    if (other && other.id !== self) throw fieldProblem('body', ['name'], `template name "${name}" is taken by ${other.id}`, 'conflict');
  }

  app.route({
    method: 'POST', url: '/api/v1/templates', config: { scope: 'manage' }, bodyLimit: TEMPLATE_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Create a template', description: 'A source that is not valid Handlebars answers 422 with a pointer to the field.', body: createBody, response: { 201: templateSchema } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const b = request.body;
      assertCompiles(b);
      await assertNameFree(tenantId, b.name);
      const row = await store.write((trx) => insertTemplate(trx, tenantId, { name: b.name, subject: b.subject ?? null, html: b.html ?? null, text: b.text ?? null }));
      return reply.code(201).send(templateJson(row));
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/templates', config: { scope: 'read' },
    schema: { tags, summary: "List this tenant's templates", querystring: pageQuery, response: { 200: pageOf(templateSchema) } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const page = await paginate(request.query, (p) => listTemplates(store.db, tenantId, p), (t) => t.id);
      return { data: page.data.map(templateJson), next_cursor: page.next_cursor };
    },
  });

  app.route({
    method: 'GET', url: '/api/v1/templates/:id', config: { scope: 'read' },
    schema: { tags, summary: 'Get a template by id or name', params: idParams, response: { 200: templateSchema } },
    handler: async (request) => templateJson(await templateOr404(store, tenantIdOf(request), request.params.id)),
  });

  app.route({
    method: 'PATCH', url: '/api/v1/templates/:id', config: { scope: 'manage' }, bodyLimit: TEMPLATE_BODY_LIMIT_BYTES,
    schema: { tags, summary: 'Change a template (by id or name)', description: 'Fields left out stay as they are; null clears one.', params: idParams, body: updateBody, response: { 200: templateSchema } },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const current = await templateOr404(store, tenantId, request.params.id);
      const b = request.body;
      assertCompiles(b);
      const next = { html: b.html === undefined ? current.html : b.html, text: b.text === undefined ? current.text : b.text };
      if (next.html === null && next.text === null) throw fieldProblem('body', ['html'], 'a template keeps html, text or both');
      if (b.name !== undefined) await assertNameFree(tenantId, b.name, current.id);
      const change = Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined));
      const row = await store.write((trx) => updateTemplate(trx, tenantId, current.id, change));
      if (!row) throw new ApiProblem('not-found', `no template ${request.params.id}`);
      return templateJson(row);
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/templates/:id', config: { scope: 'manage' },
    schema: { tags, summary: 'Delete a template (by id or name)', params: idParams, response: { 204: noContent } },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const current = await templateOr404(store, tenantId, request.params.id);
      if (!(await store.write((trx) => deleteTemplate(trx, tenantId, current.id)))) throw new ApiProblem('not-found', `no template ${request.params.id}`);
      return reply.code(204).send();
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/templates/:id/preview', config: { scope: 'read' }, bodyLimit: TEMPLATE_BODY_LIMIT_BYTES,
    schema: {
      tags, summary: 'Render a template with data, without sending',
      description: 'A rendering error answers 422 with a pointer to the template field (/subject, /html or /text).',
      params: idParams, body: previewBody, response: { 200: renderedSchema },
    },
    handler: async (request) => {
      const template = await templateOr404(store, tenantIdOf(request), request.params.id);
      try {
        return renderer.render(template, request.body.data);
      } catch (err) {
        throw err instanceof ComposeError ? composeProblem(err) : err;
      }
    },
  });
};
