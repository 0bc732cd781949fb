// Sending: POST /api/v1/messages (JSON → MIME), /messages/batch (up to 500, one result per
// item), /messages/raw (RFC 5322 as is) and DELETE /messages/{id} (cancel what is still
// queued or scheduled). All take an Idempotency-Key. Accepted mail is durable before the
// 202 (see messages-send-accept.ts).
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { bodyPathIfFinal, cancelMessage, listRecipients } from '../../store/index.ts';
import { audit } from '../audit.ts';
import { ComposeError, TemplateRenderer, batchSchema, rawMessageSchema, sendMessageSchema } from '../../compose/index.ts';
import { tenantIdOf } from '../auth.ts';
import { ApiProblem, problemSchema, type ProblemBody } from '../problem.ts';
import { idParams, timestamp } from '../schemas.ts';
import { validationProblem } from '../validation.ts';
import { MessageAcceptor, type AcceptOutcome } from './messages-send-accept.ts';
import { SenderDomains, composeProblem, prepareJsonMessage, prepareRawRequest, type PrepareContext, type PreparedMessage } from './messages-send-prepare.ts';
import {
  IDEMPOTENCY_HEADER, IdempotencyPurger, findIdempotencyHit, hashIdempotentBody, idempotencyClaimOf, idempotencyConflict, sendReplay,
  type IdempotencyClaim,
} from './send-idempotency.ts';

const sendStatus = z.enum(['queued', 'scheduled']);
const recipientsSchema = z.array(z.object({
  id: z.number().int().describe('Recipient id: per-recipient events carry it'),
  email: z.string(),
  status: z.enum(['queued', 'scheduled', 'suppressed']).describe('suppressed: on the tenant\'s suppression list for the stream; not sent (a message.suppressed event says why)'),
  reason: z.enum(['hard_bounce', 'complaint', 'unsubscribe', 'manual']).optional().describe('Why a suppressed recipient is on the list'),
}));

export const acceptedMessageSchema = z.object({
  id: z.string().describe('The message id (also the queue id in Postline logs and events)'),
  status: sendStatus.describe('queued: delivery starts now; scheduled: waits for send_at'),
  send_at: timestamp.nullable(),
  recipients: recipientsSchema,
}).meta({ id: 'AcceptedMessage' });

const batchItemSchema = z.object({
  index: z.number().int().describe('Position of the item in the request'),
  status: z.number().int().describe('202 when accepted, else the status a single send would have answered'),
  id: z.string().optional(),
  state: sendStatus.optional(),
  send_at: timestamp.nullable().optional(),
  recipients: recipientsSchema.optional(),
  problem: problemSchema.optional().describe('Why the item was refused'),
});
export const batchResultSchema = z.object({ results: z.array(batchItemSchema) }).meta({ id: 'BatchResult' });
type BatchItem = z.output<typeof batchItemSchema>;

const cancelledSchema = z.object({
  id: z.string(),
  cancelled: z.number().int().describe('Recipients cancelled by this request'),
  recipients: z.array(z.object({ id: z.number().int(), email: z.string(), status: z.string() })),
}).meta({ id: 'CancelledMessage' });

const idempotencyHeaders = z.looseObject({
  [IDEMPOTENCY_HEADER]: z.string().max(300).optional()
    .describe('Makes a retry safe: the same key and body within 24 h answer the first response again and send nothing; another body is a 409'),
});

const tags = ['sending'];

export const messageSendRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config, log } = app.postline;
  const acceptor = new MessageAcceptor({ store, config, handoff: app.postline.handoff });
  const renderer = new TemplateRenderer();
  const domains = new SenderDomains(store, config.domains.require_verified);
  const purger = new IdempotencyPurger(store);

  const contextOf = (tenantId: string): PrepareContext => ({ store, config, renderer, domains, tenantId, now: Date.now(), templates: new Map() });

  /** The earlier answer for a known key (or its 409), before any work; null for a new key. */
  async function earlierAnswer(request: FastifyRequest, reply: FastifyReply, tenantId: string): Promise<{ claim: IdempotencyClaim | null; sent: FastifyReply | null }> {
    const claim = idempotencyClaimOf(request);
    if (!claim) return { claim, sent: null };
    const hit = await findIdempotencyHit(store.db, tenantId, claim);
    return { claim, sent: hit ? answer(reply, claim, hit) : null };
  }

  function answer(reply: FastifyReply, claim: IdempotencyClaim | null, outcome: AcceptOutcome): FastifyReply {
    if (outcome.kind === 'conflict') throw idempotencyConflict(claim!);
    if (outcome.kind === 'replay') return sendReplay(reply, outcome);
    if (claim) purger.maybePurge((err) => log.warn({ err }, 'could not purge expired idempotency keys'));
    return reply.code(outcome.status).type('application/json; charset=utf-8').send(outcome.body);
  }

  async function prepareOrProblem(work: () => Promise<PreparedMessage>, prefix: readonly PropertyKey[] = []): Promise<PreparedMessage> {
    try {
      return await work();
    } catch (err) {
      throw err instanceof ComposeError ? composeProblem(err, prefix) : err;
    }
  }

  app.route({
    method: 'POST', url: '/api/v1/messages', config: { scope: 'send' }, preParsing: hashIdempotentBody,
    schema: {
      tags,
      summary: 'Send a message',
      description: 'Builds the message (MIME) from JSON, or from a template and data, and queues it. Answers 202 once it is stored durably. '
        + 'From must be in one of your sending domains. CR or LF in any header value is refused (400); a message larger than the SMTP size limit is a 413.',
      headers: idempotencyHeaders,
      body: sendMessageSchema,
      response: { 202: acceptedMessageSchema },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const { claim, sent } = await earlierAnswer(request, reply, tenantId);
      if (sent) return sent;
      const prepared = await prepareOrProblem(() => prepareJsonMessage(contextOf(tenantId), request.body));
      return answer(reply, claim, await acceptor.accept(tenantId, [prepared], claim, ([accepted]) => ({ status: 202, body: accepted })));
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/messages/batch', config: { scope: 'send' }, preParsing: hashIdempotentBody,
    schema: {
      tags,
      summary: 'Send up to 500 messages',
      description: 'Each item is a message as for POST /api/v1/messages. Answers 200 with one result per item, in request order: '
        + 'status 202 and the message id when accepted, or the status and problem a single send would have answered. '
        + 'A bad item does not stop the others; all accepted items are stored in one transaction.',
      headers: idempotencyHeaders,
      body: batchSchema,
      response: { 200: batchResultSchema },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const { claim, sent } = await earlierAnswer(request, reply, tenantId);
      if (sent) return sent;
      const ctx = contextOf(tenantId);
      const results: BatchItem[] = [];
      const good: Array<{ index: number; message: PreparedMessage }> = [];
      for (const [index, item] of request.body.messages.entries()) {
        // Composing is CPU work (~0.2 ms a message): let other requests in between slices.
        if (index > 0 && index % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
        const parsed = sendMessageSchema.safeParse(item);
        if (!parsed.success) {
          const issues = parsed.error.issues.map((issue) => ({ ...issue, path: ['messages', index, ...issue.path] }));
          results[index] = { index, status: 400, problem: itemProblem(validationProblem('body', issues)) };
          continue;
        }
        try {
          good.push({ index, message: await prepareOrProblem(() => prepareJsonMessage(ctx, parsed.data), ['messages', index]) });
        } catch (err) {
          if (!(err instanceof ApiProblem)) throw err;
          results[index] = { index, status: err.status, problem: itemProblem(err) };
        }
      }
      const outcome = await acceptor.accept(tenantId, good.map((g) => g.message), claim, (accepted) => {
        accepted.forEach((a, i) => {
          const index = good[i].index;
          results[index] = { index, status: 202, id: a.id, state: a.status, send_at: a.send_at, recipients: a.recipients };
        });
        return { status: 200, body: { results } };
      });
      return answer(reply, claim, outcome);
    },
  });

  app.route({
    method: 'POST', url: '/api/v1/messages/raw', config: { scope: 'send' }, preParsing: hashIdempotentBody,
    schema: {
      tags,
      summary: 'Send a ready-made RFC 5322 message',
      description: 'The message is sent as given, after the checks SMTP submission makes: lines must end with CRLF (a bare CR or LF is a 400, as on SMTP), '
        + 'From: and mail_from must be in your sending domains, Bcc and X-Postline-* headers are removed, Message-ID and Date are added when missing.',
      headers: idempotencyHeaders,
      body: rawMessageSchema,
      response: { 202: acceptedMessageSchema },
    },
    handler: async (request, reply) => {
      const tenantId = tenantIdOf(request);
      const { claim, sent } = await earlierAnswer(request, reply, tenantId);
      if (sent) return sent;
      const prepared = await prepareOrProblem(() => prepareRawRequest(contextOf(tenantId), request.body));
      return answer(reply, claim, await acceptor.accept(tenantId, [prepared], claim, ([accepted]) => ({ status: 202, body: accepted })));
    },
  });

  app.route({
    method: 'DELETE', url: '/api/v1/messages/:id', config: { scope: 'send' },
    schema: {
      tags,
      summary: 'Cancel a queued or scheduled message',
      description: 'Cancels every recipient not delivered, bounced or expired yet (a message.cancelled event each). 409 when nothing was left to cancel.',
      params: idParams,
      response: { 200: cancelledSchema },
    },
    handler: async (request) => {
      const tenantId = tenantIdOf(request);
      const { id } = request.params;
      const owned = await store.db.selectFrom('messages').select('id').where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
      if (!owned) throw new ApiProblem('not-found', `no message ${id}`);
      const { cancelled, path, recipients } = await store.write(async (trx) => {
        const n = await cancelMessage(trx, id);
        if (n > 0) await audit(trx, request, 'message.cancelled', { tenantId, id }, { recipients: n });
        return { cancelled: n, path: n > 0 ? await bodyPathIfFinal(trx, id) : null, recipients: await listRecipients(trx, id) };
      });
      const list = recipients.map((r) => ({ id: Number(r.id), email: r.rcpt, status: r.status }));
      if (cancelled === 0) {
        throw new ApiProblem('conflict', `message ${id} has nothing left to cancel: every recipient is delivered, bounced, expired or cancelled`, {
          code: 'API_MESSAGE_NOT_CANCELLABLE', extensions: { recipients: list },
        });
      }
      if (path) await store.spool.remove(path).catch((err: unknown) => log.warn({ err, id }, 'could not remove the spool file of a cancelled message'));
      return { id, cancelled, recipients: list };
    },
  });
};

function itemProblem(problem: ApiProblem): ProblemBody {
  return problem.toBody();
}
