// Schema pieces shared by route groups. Responses carry times as RFC 3339 strings in UTC;
// rows keep integer milliseconds.
import { z } from 'zod';

/** RFC 3339 timestamp in a response. */
export const timestamp = z.iso.datetime().describe('RFC 3339 time (UTC)');

export function isoTime(ms: number): string;
export function isoTime(ms: number | null): string | null;
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(Number(ms)).toISOString();
}

/** Path parameter `{id}`. Any string: an id that is not the caller's answers 404, never 400. */
export const idParams = z.object({ id: z.string().min(1).max(200) });

/** A human-readable name: printable, no control characters (it may reach logs and headers). */
export const displayName = z.string().trim().min(1).max(100).regex(/^[^\p{Cc}]+$/u, 'must not contain control characters');

/** 204 No Content. */
export const noContent = z.undefined().describe('No content');

/** Request bodies of management routes are small; sending routes set their own larger limit. */
export const MANAGEMENT_BODY_LIMIT_BYTES = 64 * 1024;
