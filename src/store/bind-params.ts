// The store's conventions for bound values, on both backends: flags are integer 0/1 (the
// columns are integers on SQLite and PostgreSQL alike) and a missing value is NULL.
export function bindParams(parameters: ReadonlyArray<unknown>): unknown[] {
  return parameters.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p === undefined ? null : p));
}
