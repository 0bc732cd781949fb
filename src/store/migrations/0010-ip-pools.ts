// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Multiple outbound IPs (issue 5): pools of source addresses managed through the API, the
// warm-up start and hourly send counts per address (so a restart does not reset a warm-up
// cap), throttles in force per address and destination (so the API can show them), the
// tenants' pool assignment and sending quota with their hourly counts, cached MTA-STS
// policies (RFC 8461 §5.1 asks that a policy outlive a restart), and the source address,
// pool and TLS outcome of every attempt.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('ip_pools')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createTable('ip_pool_addresses')
    .addColumn('pool_name', 'text', (c) => c.notNull().references('ip_pools.name').onDelete('cascade'))
    .addColumn('address', 'text', (c) => c.notNull())
    // RFC 5321 §4.1.1.1: the EHLO name used from this address (its PTR name).
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('weight', 'integer', (c) => c.notNull())
    // 1: the address follows the warm-up schedule from ip_addresses.warmup_started_at.
    .addColumn('warmup', 'integer', (c) => c.notNull())
    .addColumn('added_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('ip_pool_addresses_pk', ['pool_name', 'address'])
    .execute();
  // Per address, whatever pools it is in: reputation and warm-up belong to the IP.
  await db.schema.createTable('ip_addresses')
    .addColumn('address', 'text', (c) => c.primaryKey())
    .addColumn('warmup_started_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createTable('ip_hourly_counts')
    .addColumn('address', 'text', (c) => c.notNull())
    // Start of the UTC hour, ms.
    .addColumn('hour', 'bigint', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('ip_hourly_counts_pk', ['address', 'hour'])
    .execute();
  await db.schema.createTable('ip_throttles')
    // '' for the host's default address (no pool).
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    // backoff | block
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('until', 'bigint', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('ip_throttles_pk', ['address', 'destination', 'kind'])
    .execute();
  await db.schema.createTable('tenant_sending')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
    .addColumn('transactional_pool', 'text')
    .addColumn('broadcast_pool', 'text')
    .addColumn('quota_per_hour', 'integer')
    .addColumn('quota_per_day', 'integer')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createTable('tenant_hourly_counts')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('hour', 'bigint', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('tenant_hourly_counts_pk', ['tenant_id', 'hour'])
    .execute();
  await db.schema.createTable('mta_sts_policies')
    .addColumn('domain', 'text', (c) => c.primaryKey())
    .addColumn('policy_id', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    // JSON array of the policy's mx patterns.
    .addColumn('mx', 'text', (c) => c.notNull())
    .addColumn('max_age', 'integer', (c) => c.notNull())
    .addColumn('fetched_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('attempts').addColumn('source_ip', 'text').execute();
  await db.schema.alterTable('attempts').addColumn('pool', 'text').execute();
  // e.g. starttls, starttls-verified, plaintext, plaintext-after-tls-failure
  await db.schema.alterTable('attempts').addColumn('tls_outcome', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const column of ['tls_outcome', 'pool', 'source_ip']) await db.schema.alterTable('attempts').dropColumn(column).execute();
  for (const table of ['mta_sts_policies', 'tenant_hourly_counts', 'tenant_sending', 'ip_throttles', 'ip_hourly_counts', 'ip_addresses', 'ip_pool_addresses', 'ip_pools']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
