// Hot statements of the accept path (multi-row INSERTs, a few SELECTs) without kysely
// building and compiling the same statement again for every message (building and
// compiling was ~12 % of the API thread at 3,000 sends/s). Kysely compiles each shape (table, columns, row count,
// RETURNING) once, for whatever dialect the instance has, and the SQL is then reused with
// new parameters: values are always bound, never inlined, so the text is the same.
import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './database.ts';

const compiled = new WeakMap<object, Map<string, string>>();
const MAX_SHAPES = 2000;

/**
 * The shapes compiled for `db`'s dialect. Keyed by the dialect's adapter, which a transaction
 * shares with its database: keyed by the Kysely object, as it was, every transaction (a new
 * Transaction object each) compiled its statements again.
 */
function shapesOf(db: Kysely<Database>): Map<string, string> {
  const adapter = db.getExecutor().adapter;
  let shapes = compiled.get(adapter);
  if (!shapes) compiled.set(adapter, shapes = new Map());
  return shapes;
}

/**
 * Inserts `rows` (each an array of values in `columns` order) into `table`; with `returning`,
 * answers that column of every inserted row (no order promised, as RETURNING promises none).
 */
export async function insertRows(db: Kysely<Database>, table: keyof Database, columns: readonly string[], rows: readonly (readonly unknown[])[], returning?: string): Promise<Array<Record<string, unknown>>> {
  if (rows.length === 0) return [];
  const shapes = shapesOf(db);
  const key = `${table}|${columns.join(',')}|${rows.length}|${returning ?? ''}`;
  let text = shapes.get(key);
  if (text === undefined) {
    const dummy = Object.fromEntries(columns.map((c) => [c, null]));
    const loose = db as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const q = loose.insertInto(table).values(rows.map(() => dummy));
    text = (returning ? q.returning(returning as never) : q).compile().sql;
    if (shapes.size >= MAX_SHAPES) shapes.clear();
    shapes.set(key, text);
  }
  const params: unknown[] = [];
  for (const row of rows) {
    if (row.length !== columns.length) throw new Error(`insertRows(${table}): a row has ${row.length} values for ${columns.length} columns`);
    for (const v of row) params.push(v);
  }
  const result = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, params));
  return result.rows;
}

/**
 * A hot SELECT whose shape is known by `key`: compiled by kysely the first time (from
 * `build`, with the real parameters, checked against `params` so the order cannot drift),
 * then run again from its SQL text with new `params`.
 */
export async function selectCompiled<R>(db: Kysely<Database>, key: string, params: readonly unknown[], build: () => { compile(): CompiledQuery<R> }): Promise<R[]> {
  const shapes = shapesOf(db);
  let text = shapes.get(key);
  if (text === undefined) {
    const q = build().compile();
    if (q.parameters.length !== params.length || q.parameters.some((p, i) => p !== params[i])) {
      throw new Error(`selectCompiled(${key}): the parameters given do not match the query's`);
    }
    if (shapes.size >= MAX_SHAPES) shapes.clear();
    shapes.set(key, text = q.sql);
  }
  return (await db.executeQuery<R>(CompiledQuery.raw(text, [...params]))).rows;
}
