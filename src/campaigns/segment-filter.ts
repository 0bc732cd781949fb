// The segment filter language, validated at the API edge; store/repos/segments.ts turns a
// valid tree into SQL. A condition is one of:
//   { "all": [c…] }  { "any": [c…] }  { "not": c }
//   { "field": "email" | "name" | "status" | "created_at" | "attributes.<name>", "op": "eq" | "neq" | "contains" | "in" | "exists" | "before" | "after", "value": … }
//   { "list": "lst_…" }                                  (subscribed member of that list)
//   { "engagement": "opened" | "clicked", "within_days": 30 }  (a human open/click that recent)
import { z } from 'zod';
import type { SegmentCondition } from '../store/index.ts';

/** Nesting and size bounds: a filter is a short human-made tree, and each node is SQL. */
export const MAX_SEGMENT_DEPTH = 6;
export const MAX_SEGMENT_CONDITIONS = 100;

const field = z.string().regex(/^(email|name|status|created_at|updated_at|attributes\.[A-Za-z0-9_]{1,64})$/, 'email, name, status, created_at, updated_at or attributes.<name> (letters, digits, _)');
const scalar = z.union([z.string().max(1000), z.number(), z.boolean()]);

const fieldCondition = z.strictObject({
  field,
  op: z.enum(['eq', 'neq', 'contains', 'in', 'exists', 'before', 'after']),
  value: z.union([scalar, z.array(z.union([z.string().max(1000), z.number()])).max(1000)]).optional(),
}).superRefine((c, ctx) => {
  if (c.op === 'exists') return;
  if (c.value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `op "${c.op}" needs a value` });
  else if (c.op === 'in' && !Array.isArray(c.value)) ctx.addIssue({ code: 'custom', path: ['value'], message: 'op "in" takes an array' });
  else if (c.op !== 'in' && Array.isArray(c.value)) ctx.addIssue({ code: 'custom', path: ['value'], message: `op "${c.op}" takes one value` });
  else if ((c.op === 'before' || c.op === 'after') && Number.isNaN(Date.parse(String(c.value)))) {
    ctx.addIssue({ code: 'custom', path: ['value'], message: 'before/after take an RFC 3339 date or date-time' });
  }
});

export const segmentConditionSchema: z.ZodType<SegmentCondition> = z.lazy(() => z.union([
  z.strictObject({ all: z.array(segmentConditionSchema).max(MAX_SEGMENT_CONDITIONS) }),
  z.strictObject({ any: z.array(segmentConditionSchema).max(MAX_SEGMENT_CONDITIONS) }),
  z.strictObject({ not: segmentConditionSchema }),
  fieldCondition,
  z.strictObject({ list: z.string().min(1).max(100) }),
  z.strictObject({ engagement: z.enum(['opened', 'clicked']), within_days: z.number().int().min(1).max(3650) }),
]));

/** Depth and count of a tree (both bounded by the API). */
export function segmentSize(c: SegmentCondition, depth = 1): { depth: number; conditions: number } {
  const kids = 'all' in c ? c.all : 'any' in c ? c.any : 'not' in c ? [c.not] : [];
  let d = depth;
  let n = 1;
  for (const k of kids) {
    const s = segmentSize(k, depth + 1);
    d = Math.max(d, s.depth);
    n += s.conditions;
  }
  return { depth: d, conditions: n };
}

/** The list ids a tree names (each must be the tenant's own). */
export function segmentListIds(c: SegmentCondition): string[] {
  if ('all' in c) return c.all.flatMap(segmentListIds);
  if ('any' in c) return c.any.flatMap(segmentListIds);
  if ('not' in c) return segmentListIds(c.not);
  if ('list' in c) return [c.list];
  return [];
}

/** The filter schema with its bounds checked: what routes use. */
export const segmentFilterSchema = segmentConditionSchema.superRefine((c, ctx) => {
  const s = segmentSize(c);
  if (s.depth > MAX_SEGMENT_DEPTH) ctx.addIssue({ code: 'custom', message: `nested deeper than ${MAX_SEGMENT_DEPTH} levels` });
  if (s.conditions > MAX_SEGMENT_CONDITIONS) ctx.addIssue({ code: 'custom', message: `more than ${MAX_SEGMENT_CONDITIONS} conditions` });
});
