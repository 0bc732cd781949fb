// RFC 9457 problem details: every API error answers `application/problem+json` with a
// `type` from this one registry (type → status and title), the way fastify/lib/errors.js
// keeps one table of codes. Add a type here and to the table in docs/api.md (a test checks).
import { z } from 'zod';

/** Problem `type` URIs are this prefix plus the registry key (RFC 9457 §3.1.1). */
export const PROBLEM_TYPE_BASE = 'https://postline.dev/problems/';

export const PROBLEM_TYPES = {
  'validation': { status: 400, title: 'The request has invalid fields' },
  'malformed-request': { status: 400, title: 'The request could not be read' },
  'unauthorized': { status: 401, title: 'Authentication is required' },
  'forbidden': { status: 403, title: 'These credentials may not do this' },
  'not-found': { status: 404, title: 'Not found' },
  'conflict': { status: 409, title: 'The request conflicts with the current state' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'unsupported-media-type': { status: 415, title: 'The request body has an unsupported content type' },
  'unprocessable': { status: 422, title: 'The request is valid but cannot be carried out' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'internal': { status: 500, title: 'Internal server error' },
  'unavailable': { status: 503, title: 'Service temporarily unavailable' },
  'insufficient-storage': { status: 507, title: 'Insufficient storage' },
} as const satisfies Record<string, { readonly status: number; readonly title: string }>;

export type ProblemType = keyof typeof PROBLEM_TYPES;

/** Where a field error points: `pointer` is an RFC 6901 JSON Pointer into that part of the request. */
export type ProblemLocation = 'body' | 'query' | 'path' | 'header';

export interface ProblemFieldError {
  readonly in: ProblemLocation;
  /** RFC 6901 JSON Pointer relative to `in`: `/to/0` in the body, `/limit` in the query string. */
  readonly pointer: string;
  readonly detail: string;
}

export interface ProblemOptions {
  /** Stable machine-readable code; defaults to `API_<TYPE>` (e.g. `API_NOT_FOUND`). */
  readonly code?: string;
  readonly errors?: readonly ProblemFieldError[];
  /** Sets `Retry-After` (RFC 9110 §10.2.3), for 429 and 503. */
  readonly retryAfterSeconds?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Extra members for the problem body (RFC 9457 §3.2 extension members). */
  readonly extensions?: Readonly<Record<string, unknown>>;
  /** For the log only; never sent. */
  readonly cause?: unknown;
}

/** The body of every error response. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  request_id?: string;
  errors?: ProblemFieldError[];
  [extension: string]: unknown;
}

export function problemTypeUri(type: ProblemType): string {
  return `${PROBLEM_TYPE_BASE}${type}`;
}

function defaultCode(type: ProblemType): string {
  return `API_${type.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * An error that becomes a problem+json response. Throw it from handlers and hooks:
 * `throw new ApiProblem('not-found', 'no API key key_01J… in this tenant')`. `detail` is
 * sent to the client, so it must be safe to show; put internals in `cause`.
 */
export class ApiProblem extends Error {
  readonly type: ProblemType;
  readonly status: number;
  readonly title: string;
  readonly code: string;
  readonly errors: readonly ProblemFieldError[] | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly extensions: Readonly<Record<string, unknown>> | undefined;

  constructor(type: ProblemType, detail: string, options: ProblemOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiProblem';
    this.type = type;
    this.status = PROBLEM_TYPES[type].status;
    this.title = PROBLEM_TYPES[type].title;
    this.code = options.code ?? defaultCode(type);
    this.errors = options.errors;
    this.extensions = options.extensions;
    const headers: Record<string, string> = { ...options.headers };
    if (options.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(options.retryAfterSeconds)));
    this.headers = headers;
  }

  toBody(): ProblemBody {
    const body: ProblemBody = { type: problemTypeUri(this.type), title: this.title, status: this.status, detail: this.message, code: this.code };
    if (this.errors && this.errors.length > 0) body.errors = [...this.errors];
    if (this.extensions) for (const [k, v] of Object.entries(this.extensions)) if (!(k in body)) body[k] = v;
    return body;
  }
}

/** A 400 `validation` problem pointing at one field. */
export function fieldProblem(location: ProblemLocation, path: readonly PropertyKey[], detail: string, type: ProblemType = 'validation'): ApiProblem {
  return new ApiProblem(type, detail, { errors: [{ in: location, pointer: jsonPointer(path), detail }] });
}

/** RFC 6901 §3: `~` is written `~0` and `/` is written `~1` inside a reference token. */
export function jsonPointer(path: readonly PropertyKey[]): string {
  return path.map((seg) => `/${String(seg).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** The problem body as a zod schema, for the OpenAPI document. */
export const problemSchema = z.object({
  type: z.string().describe('A URI naming the kind of problem; see docs/api.md for the list'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().optional().describe('The request path'),
  code: z.string().describe('Stable machine-readable code'),
  request_id: z.string().optional(),
  errors: z.array(z.object({
    in: z.enum(['body', 'query', 'path', 'header']),
    pointer: z.string().describe('RFC 6901 JSON Pointer into the part named by `in`'),
    detail: z.string(),
  })).optional(),
}).meta({ id: 'Problem', description: 'RFC 9457 problem details' });
