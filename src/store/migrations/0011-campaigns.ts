// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Bulk mail (issue 9): contacts per tenant, lists and their members, CSV import jobs with
// their rejected rows, saved segments, campaigns with a per-contact ledger (the row that
// makes expansion idempotent: inserted in the same transaction as the contact's message),
// and tracking events (opens, clicks) of campaign messages.
import { sql, type Kysely } from 'kysely';
import { serialId } from './dialect.ts';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('contacts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    // Trimmed, lower-cased, domain in A-labels (the suppression list's form).
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    // JSON object of custom attributes.
    .addColumn('attributes', 'text', (c) => c.notNull().defaultTo('{}'))
    // subscribed | unsubscribed | bounced | complained
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('contacts_tenant_email').on('contacts').columns(['tenant_id', 'email']).unique().execute();
  // The expansion cursor and listings: a tenant's contacts in id order (without it the
  // planner takes the email index and sorts the whole tenant for every batch).
  await db.schema.createIndex('contacts_tenant_id').on('contacts').columns(['tenant_id', 'id']).execute();

  await db.schema.createTable('contact_lists')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    // single | double
    .addColumn('opt_in', 'text', (c) => c.notNull())
    // Double opt-in: the confirmation mail (Handlebars, with {{confirm_url}} and {{contact.…}}).
    .addColumn('confirm_from', 'text')
    .addColumn('confirm_subject', 'text')
    .addColumn('confirm_html', 'text')
    .addColumn('confirm_text', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('contact_lists_tenant_name').on('contact_lists').columns(['tenant_id', 'name']).unique().execute();

  await db.schema.createTable('list_members')
    .addColumn('list_id', 'text', (c) => c.notNull().references('contact_lists.id').onDelete('cascade'))
    .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    // subscribed | unsubscribed | unconfirmed
    .addColumn('status', 'text', (c) => c.notNull())
    // The import job that added the member (duplicate detection within one file); null otherwise.
    .addColumn('job_id', 'text')
    .addColumn('opted_in_at', 'bigint')
    .addColumn('opt_in_ip', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('list_members_pk', ['list_id', 'contact_id'])
    .execute();

  await db.schema.createTable('contact_import_jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('list_id', 'text', (c) => c.notNull())
    // running | finished | failed
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('rows', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('imported', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('existing', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rejected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createTable('contact_import_rejections')
    .addColumn('job_id', 'text', (c) => c.notNull().references('contact_import_jobs.id').onDelete('cascade'))
    .addColumn('line', 'integer', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    // invalid | duplicate | suppressed | malformed
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .addPrimaryKeyConstraint('contact_import_rejections_pk', ['job_id', 'line'])
    .execute();

  await db.schema.createTable('segments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    // JSON filter tree (src/campaigns/segment-filter.ts), evaluated at send time.
    .addColumn('filter', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('segments_tenant').on('segments').columns(['tenant_id', 'id']).execute();

  await db.schema.createTable('campaigns')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('from_address', 'text', (c) => c.notNull())
    .addColumn('from_name', 'text')
    .addColumn('reply_to', 'text')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('html', 'text')
    .addColumn('text', 'text')
    // JSON array of list ids.
    .addColumn('list_ids', 'text', (c) => c.notNull())
    .addColumn('segment_id', 'text')
    .addColumn('stream', 'text', (c) => c.notNull())
    // draft | scheduled | sending | paused | sent | cancelled
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('rate_per_minute', 'integer', (c) => c.notNull())
    .addColumn('send_at', 'bigint')
    // JSON {"start": "HH:MM", "end": "HH:MM", "timezone", "days": [1-7]}: queue only inside it; null: any time.
    .addColumn('send_window', 'text')
    .addColumn('track_opens', 'integer', (c) => c.notNull())
    .addColumn('track_clicks', 'integer', (c) => c.notNull())
    // JSON: A/B test settings and state; null: none.
    .addColumn('ab', 'text')
    // Expansion cursor: the last contact id taken (ids sort by creation).
    .addColumn('cursor', 'text')
    // Pacing: messages queued since pace_start (reset on start and resume).
    .addColumn('pace_start', 'bigint')
    .addColumn('pace_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('queued', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('skipped_suppressed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('skipped_unsubscribed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('paused_reason', 'text')
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('campaigns_tenant').on('campaigns').columns(['tenant_id', 'id']).execute();
  await db.schema.createIndex('campaigns_status').on('campaigns').column('status').execute();

  await db.schema.createTable('campaign_ledger')
    .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
    .addColumn('contact_id', 'text', (c) => c.notNull())
    // null for a skipped contact.
    .addColumn('message_id', 'text')
    // queued | suppressed | unsubscribed
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('variant', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('campaign_ledger_pk', ['campaign_id', 'contact_id'])
    .execute();
  await db.schema.createIndex('campaign_ledger_created').on('campaign_ledger').column('created_at').execute();
  await db.schema.createIndex('campaign_ledger_message').on('campaign_ledger').column('message_id').where(sql.ref('message_id'), 'is not', null).execute();

  await db.schema.createTable('tracking_events')
    .$call(serialId(db))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('campaign_id', 'text')
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text')
    // open | click
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('url', 'text')
    // 1: a prefetcher or security scanner (Apple MPP, a link scanner), reported apart.
    .addColumn('machine', 'integer', (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tracking_events_campaign').on('tracking_events').columns(['campaign_id', 'kind']).execute();
  await db.schema.createIndex('tracking_events_contact').on('tracking_events').columns(['tenant_id', 'contact_id', 'kind', 'created_at']).execute();

  // Per sending domain, the host its campaign links use (a CNAME to this instance, e.g.
  // links.example.com), instead of campaigns.public_url.
  await db.schema.createTable('campaign_link_hosts')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('domain', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('campaign_link_hosts_pk', ['tenant_id', 'domain'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['campaign_link_hosts', 'tracking_events', 'campaign_ledger', 'campaigns', 'segments', 'contact_import_rejections', 'contact_import_jobs', 'list_members', 'contact_lists', 'contacts']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
