// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// RFC 8689 REQUIRETLS: a message submitted with `MAIL FROM:<…> REQUIRETLS` keeps that
// requirement for its whole onward delivery (1: only over verified TLS to a next hop that
// advertises REQUIRETLS, and MAIL FROM carries it on).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('require_tls', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('require_tls').execute();
}
