// The few column types that differ between the backends, for the migrations. Frozen like the
// migrations themselves: what these answer for SQLite must never change (existing databases
// were created with it). PostgreSQL gets its own spelling of the same intent.
import { PostgresAdapter, type CreateTableBuilder, type Kysely } from 'kysely';

export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** An `id` primary key numbered by the database: SQLite INTEGER AUTOINCREMENT, PostgreSQL bigserial. */
export function serialId(db: Kysely<any>) {
  return <TB extends string, C extends string>(t: CreateTableBuilder<TB, C>): CreateTableBuilder<TB, C | 'id'> =>
    isPostgres(db) ? t.addColumn('id', 'bigserial', (c) => c.primaryKey()) : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/** Bytes: SQLite BLOB, PostgreSQL bytea. */
export function bytesType(db: Kysely<any>): 'blob' | 'bytea' {
  return isPostgres(db) ? 'bytea' : 'blob';
}
