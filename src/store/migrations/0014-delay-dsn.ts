// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// RFC 3461 §4.1 NOTIFY=DELAY: when a recipient's "delayed" DSN went to the sender (at most
// one per recipient), so a later deferral does not send another.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('recipients').addColumn('delay_dsn_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('recipients').dropColumn('delay_dsn_at').execute();
}
