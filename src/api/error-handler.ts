// Every error leaves as RFC 9457 problem+json. Client mistakes map onto their 4xx type;
// a busy or missing store is a 503 with Retry-After; anything unexpected is a 500 whose
// cause goes to the log and never to the client (mox/develop.txt: catch at the boundary).
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ApiProblem, PROBLEM_TYPES, problemTypeUri, type ProblemBody, type ProblemType } from './problem.ts';
import type { ApiInstance } from './types.ts';
import { storeErrorKind } from '../store/store-errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Seconds a client should wait before retrying when the store is busy or unavailable. */
const STORE_RETRY_AFTER_SECONDS = 5;

/** A full disk frees up only when someone acts: ask for a longer wait than a busy store. */
const STORAGE_RETRY_AFTER_SECONDS = 60;

const STATUS_TYPES: Record<number, ProblemType> = Object.fromEntries(
  (Object.entries(PROBLEM_TYPES) as Array<[ProblemType, { status: number }]>)
    .filter(([type]) => type !== 'malformed-request')
    .map(([type, { status }]) => [status, type]),
);
STATUS_TYPES[400] = 'malformed-request';

interface ErrorLike {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
}

/** Maps any thrown value onto a problem. Exported for tests. */
export function toProblem(error: unknown): ApiProblem | { status: number; body: ProblemBody } {
  if (error instanceof ApiProblem) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  const storeKind = storeErrorKind(error);
  if (storeKind === 'full') {
    // RFC 4918 §11.5: the server cannot store what the request needs; nothing was written.
    return new ApiProblem('insufficient-storage', 'the server is out of storage space; nothing was stored, retry later', { retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS, cause: error, code: 'API_STORAGE_FULL' });
  }
  if (code === 'HANDLER_TIMEOUT') {
    return new ApiProblem('unavailable', `${message}; it may still complete, so retry with the same Idempotency-Key`, { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS, cause: error, code: 'API_HANDLER_TIMEOUT' });
  }
  if (storeKind === 'unavailable') {
    return new ApiProblem('unavailable', 'the store is busy or unavailable; retry shortly', { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS, cause: error, code: 'API_STORE_UNAVAILABLE' });
  }
  if (storeKind === 'conflict') {
    return new ApiProblem('conflict', 'the request conflicts with an existing object (or one that no longer exists)', { cause: error });
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ApiProblem('payload-too-large', message);
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    // RFC 9110 §15.5.16: Accept in the response names what would have been accepted.
    return new ApiProblem('unsupported-media-type', 'the request body must be application/json', { headers: { accept: 'application/json' } });
  }
  // Errors Fastify raises for a request it cannot read (bad JSON, bad Content-Length, empty
  // JSON body…) carry a 4xx statusCode and a message about the input: safe to echo.
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const type = STATUS_TYPES[status];
    const detail = message || STATUS_CODES[status] || 'bad request';
    if (type) return new ApiProblem(type, detail, { code: code.startsWith('FST_') || code === '' ? undefined : code });
    // RFC 9457 §4.2.1: about:blank with the status phrase as title.
    return { status, body: { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, code: code || `HTTP_${status}` } };
  }
  return new ApiProblem('internal', 'an unexpected error occurred; the server log has the details', { cause: error });
}

/** Sends a problem as a string, so no route response schema ever re-serializes it. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: ApiProblem | { status: number; body: ProblemBody }): FastifyReply {
  const { status, body } = problem instanceof ApiProblem ? { status: problem.status, body: problem.toBody() } : problem;
  if (problem instanceof ApiProblem) for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
  body.instance = request.url.split('?')[0];
  body.request_id = request.id;
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/** Installs the error handler and the not-found handler on the root instance. */
export function installProblemHandlers(app: ApiInstance, log: Logger): void {
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error);
    const status = problem instanceof ApiProblem ? problem.status : problem.status;
    if (status >= 500) log.error({ err: error, reqId: request.id, method: request.method, url: request.url }, 'API request failed');
    else log.debug({ reqId: request.id, status, code: (error as ErrorLike).code }, 'API request refused');
    return sendProblem(request, reply, problem);
  });
  app.setNotFoundHandler((request, reply) => {
    return sendProblem(request, reply, new ApiProblem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`, { code: 'API_NO_ROUTE' }));
  });
}

/**
 * Fastify's clientErrorHandler, in problem+json: Node reports requests it could not parse or
 * that took longer than requestTimeout before any handler ran (RFC 9110 §15.5.9 408).
 */
export function writeClientErrorProblem(this: { log: { trace: (o: object, m: string) => void } }, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const detail = status === 408 ? 'the request did not arrive in time' : status === 431 ? 'the request headers are too large' : 'the request is not valid HTTP';
  const type = status === 400 ? problemTypeUri('malformed-request') : 'about:blank';
  const body = JSON.stringify({ type, title: STATUS_CODES[status], status, detail, code: `HTTP_${status}` });
  this.log.trace({ err }, 'HTTP client error');
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
