// Cursor pagination: `?limit=&cursor=` in, `{ data: [...], next_cursor }` out. The cursor is
// opaque to clients (base64url of the last row's id); ids sort by creation time, so "rows
// after this id" is stable while rows are added, unlike offsets.
import { z } from 'zod';
import type { PageRequest } from '../store/index.ts';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 100;

export function encodeCursor(lastId: string | number): string {
  return Buffer.from(String(lastId), 'utf8').toString('base64url');
}

/** The cursor parameter: decodes to the last id of the previous page (a 400 with pointer /cursor otherwise). */
export const cursorSchema = z.string().max(512).transform((value, ctx) => {
  const decoded = /^[A-Za-z0-9_-]+$/.test(value) ? Buffer.from(value, 'base64url').toString('utf8') : '';
  if (!decoded || encodeCursor(decoded) !== value) {
    ctx.addIssue({ code: 'custom', message: 'invalid cursor: pass back the next_cursor of a previous page' });
    return z.NEVER;
  }
  return decoded;
});

/** Query string of a list route; extend it with filters: `pageQuery.extend({ status: … })`. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_LIMIT).default(DEFAULT_PAGE_LIMIT)
    .describe(`Items per page, 1-${MAX_PAGE_LIMIT}`),
  cursor: cursorSchema.optional().describe('The next_cursor of the previous page'),
});

export type PageQuery = z.output<typeof pageQuery>;

/** Response schema of a list route. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item),
    next_cursor: z.string().nullable().describe('Pass as ?cursor= for the next page; null on the last page'),
  });
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * Runs one page of a list: `fetch` gets `{ afterId, limit }` (limit is one more than asked,
 * to learn whether another page follows) and must return rows in ascending id order.
 *
 *   const page = await paginate(request.query, (p) => listApiKeys(db, tenantId, p), (k) => k.id);
 *   return { data: page.data.map(toJson), next_cursor: page.next_cursor };
 */
export async function paginate<T>(query: { limit: number; cursor?: string | undefined }, fetch: (page: PageRequest) => Promise<T[]>, idOf: (row: T) => string | number): Promise<Page<T>> {
  const rows = await fetch({ afterId: query.cursor, limit: query.limit + 1 });
  const more = rows.length > query.limit;
  const data = more ? rows.slice(0, query.limit) : rows;
  return { data, next_cursor: more && data.length > 0 ? encodeCursor(idOf(data[data.length - 1])) : null };
}
