// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Campaign messages whose bytes are made when they are sent: instead of `body` the row holds
// what they are made from (the campaign, its variant, the contact's fields as they were at
// expansion; src/campaigns/campaign-body.ts), ~150 bytes instead of the whole message.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('body_render', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('body_render').execute();
}
