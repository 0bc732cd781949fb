// The SQL that differs between SQLite and PostgreSQL, in one place: the repositories call
// these instead of spelling out a function only one backend has. Everything else is written
// once through kysely's builder (which quotes and numbers parameters per dialect).
import { PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';

export function isPostgresDb(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** SQL text written with `?` placeholders, numbered `$1…` for PostgreSQL. The text must hold no other `?`. */
export function placeholders(db: Kysely<any>, text: string): string {
  if (!isPostgresDb(db)) return text;
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

/** The top-level `key` of a JSON object held in a text column, as SQL text (null when absent). */
export function jsonText(db: Kysely<any>, column: RawBuilder<unknown> | ReturnType<typeof sql.ref>, key: string): RawBuilder<string | null> {
  if (isPostgresDb(db)) return sql<string | null>`(${column}::jsonb ->> ${key})`;
  // json_extract answers numbers as numbers (PostgreSQL's ->> answers text, which compares
  // with a bound number as text): the same for equality and ISO dates, which segments use.
  return sql<string | null>`json_extract(${column}, ${`$."${key.replace(/"/g, '""')}"`})`;
}

/** True when the top-level `key` of a JSON object held in a text column is JSON true. */
export function jsonIsTrue(db: Kysely<any>, column: RawBuilder<unknown> | ReturnType<typeof sql.ref>, key: string): RawBuilder<boolean> {
  if (isPostgresDb(db)) return sql<boolean>`((${column}::jsonb ->> ${key}) = 'true')`;
  return sql<boolean>`(json_extract(${column}, ${`$."${key.replace(/"/g, '""')}"`}) = 1)`;
}

/** True when the JSON array held in a text column contains the string `value`. */
export function jsonArrayHas(db: Kysely<any>, column: RawBuilder<unknown> | ReturnType<typeof sql.ref>, value: string): RawBuilder<boolean> {
  if (isPostgresDb(db)) return sql<boolean>`(${column}::jsonb ? ${value})`;
  return sql<boolean>`EXISTS (SELECT 1 FROM json_each(${column}) WHERE json_each.value = ${value})`;
}

/** Strings of a subquery's rows joined by `separator` (group_concat / string_agg). */
export function stringAgg(db: Kysely<any>, expression: RawBuilder<unknown> | ReturnType<typeof sql.ref>, separator: string): RawBuilder<string | null> {
  if (isPostgresDb(db)) return sql<string | null>`string_agg(${expression}, ${separator})`;
  return sql<string | null>`group_concat(${expression}, ${separator})`;
}

/** A JSON object text column merged with another (RFC 7396 merge patch at the top level), as SQL. */
export function jsonMergeSql(db: Kysely<any>, target: string, patch: string): string {
  if (isPostgresDb(db)) return `(${target}::jsonb || ${patch}::jsonb)::text`;
  return `json_patch(${target}, ${patch})`;
}

/** Case-insensitive LIKE (SQLite's LIKE already is, for ASCII; PostgreSQL's is not). */
export function likeOperator(db: Kysely<any>): 'like' | 'ilike' {
  return isPostgresDb(db) ? 'ilike' : 'like';
}
