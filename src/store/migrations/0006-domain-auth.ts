// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Sending-domain authentication: the ownership token and the last DNS check of each domain,
// and its DKIM keys (private keys sealed with the instance secret key; a key row is never
// deleted while its domain exists, only moved to `retired`). Domains added before this
// migration get a random ownership token here.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('domains').addColumn('verification_token', 'text').execute();
  // 1 when the return-path CNAME pointed at this instance at the last check.
  await db.schema.alterTable('domains').addColumn('return_path_ok', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  // JSON object: record key (ownership, spf, dmarc, return_path, dkim:<selector>) → last result.
  await db.schema.alterTable('domains').addColumn('dns_status', 'text').execute();
  await db.schema.alterTable('domains').addColumn('checked_at', 'bigint').execute();
  await db.schema.alterTable('domains').addColumn('verified_at', 'bigint').execute();
  const rows = await db.selectFrom('domains').select('id').execute();
  for (const row of rows) {
    await db.updateTable('domains').set({ verification_token: randomBytes(16).toString('hex') }).where('id', '=', row.id).execute();
  }

  await db.schema.createTable('dkim_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('domain_id', 'text', (c) => c.notNull().references('domains.id').onDelete('cascade'))
    .addColumn('selector', 'text', (c) => c.notNull())
    // rsa-sha256 | ed25519-sha256
    .addColumn('algorithm', 'text', (c) => c.notNull())
    // PKCS#8 PEM sealed with secret-box (context dkim:<domain_id>:<selector>).
    .addColumn('private_key', 'text', (c) => c.notNull())
    // The p= value as published: base64 SPKI DER (RSA) or the raw 32-byte key (Ed25519).
    .addColumn('public_key', 'text', (c) => c.notNull())
    // pending | active | retiring | retired
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('activated_at', 'bigint')
    .addColumn('retire_at', 'bigint')
    .addUniqueConstraint('dkim_keys_domain_selector', ['domain_id', 'selector'])
    .execute();
  await db.schema.createIndex('dkim_keys_domain').on('dkim_keys').columns(['domain_id', 'status']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('dkim_keys').execute();
  for (const column of ['verified_at', 'checked_at', 'dns_status', 'return_path_ok', 'verification_token']) {
    await db.schema.alterTable('domains').dropColumn(column).execute();
  }
}
