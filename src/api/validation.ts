// Request validation with the route's zod schemas. Our own compiler (instead of the type
// provider's) keeps each zod issue's path as an array, so the problem's pointer is a real
// RFC 6901 JSON Pointer (escaped `~0`/`~1`) and names the request part it points into.
import { z } from 'zod';
import type { FastifySchemaCompiler } from 'fastify';
import { ApiProblem, jsonPointer, type ProblemFieldError, type ProblemLocation } from './problem.ts';

const LOCATIONS: Record<string, ProblemLocation> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

/** One error entry per zod issue; an unknown key (strict objects) points at the key itself. */
export function issuesToFieldErrors(location: ProblemLocation, issues: readonly z.core.$ZodIssue[]): ProblemFieldError[] {
  const out: ProblemFieldError[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ in: location, pointer: jsonPointer([...issue.path, key]), detail: `unknown field "${key}"` });
    } else {
      out.push({ in: location, pointer: jsonPointer(issue.path), detail: issue.message });
    }
  }
  return out;
}

/** The 400 problem for a request part that failed its schema. */
export function validationProblem(location: ProblemLocation, issues: readonly z.core.$ZodIssue[]): ApiProblem {
  const errors = issuesToFieldErrors(location, issues).slice(0, 100);
  const first = errors[0];
  const where = location === 'body' ? 'body' : location === 'query' ? 'query string' : location === 'path' ? 'path' : 'headers';
  const detail = errors.length === 1 && first
    ? `${where} field ${first.pointer || '(root)'}: ${first.detail}`
    : `the request ${where} has ${errors.length} invalid fields`;
  return new ApiProblem('validation', detail, { errors });
}

function isZodSchema(schema: unknown): schema is z.ZodType {
  return typeof schema === 'object' && schema !== null && '_zod' in schema;
}

/**
 * Fastify validator compiler for zod schemas. A failure is returned as an ApiProblem, which
 * Fastify hands to the error handler with status 400.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart, method, url }) => {
  if (!isZodSchema(schema)) throw new Error(`route ${method} ${url}: the ${httpPart} schema must be a zod schema`);
  const location = LOCATIONS[httpPart ?? 'body'] ?? 'body';
  return (data: unknown) => {
    const result = z.safeParse(schema, data);
    if (result.success) return { value: result.data };
    return { error: validationProblem(location, result.error.issues) };
  };
};
