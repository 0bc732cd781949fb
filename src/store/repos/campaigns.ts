// Campaigns, their expansion ledger and their report. The ledger row of (campaign, contact)
// is inserted in the same transaction as the contact's message and the cursor move: after a
// crash either all three are there or none, and a contact is never sent twice because the
// ledger's primary key refuses a second row (messages are inserted only for new rows).
import { CompiledQuery, sql, type Kysely } from 'kysely';
import type { CampaignLedgerTable, CampaignStatus, CampaignTable, Database } from '../database.ts';
import type { PageRequest } from './api-keys.ts';
import { jsonIsTrue, placeholders } from '../sql-dialect.ts';

export type NewCampaign = Omit<CampaignTable, 'cursor' | 'pace_start' | 'pace_count' | 'queued' | 'skipped_suppressed' | 'skipped_unsubscribed' | 'paused_reason' | 'started_at' | 'finished_at'>;

export interface LedgerEntry {
  readonly contactId: string;
  readonly messageId: string | null;
  readonly outcome: CampaignLedgerTable['outcome'];
  readonly variant: string | null;
}

export async function insertCampaign(db: Kysely<Database>, row: NewCampaign): Promise<CampaignTable> {
  const full: CampaignTable = {
    ...row, cursor: null, pace_start: null, pace_count: 0, queued: 0, skipped_suppressed: 0, skipped_unsubscribed: 0, paused_reason: null, started_at: null, finished_at: null,
  };
  await db.insertInto('campaigns').values(full).execute();
  return full;
}

export async function getCampaign(db: Kysely<Database>, tenantId: string, id: string): Promise<CampaignTable | undefined> {
  return db.selectFrom('campaigns').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

export async function getCampaignById(db: Kysely<Database>, id: string): Promise<CampaignTable | undefined> {
  return db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listCampaignsPage(db: Kysely<Database>, tenantId: string, filter: { status?: CampaignStatus | undefined }, page: PageRequest): Promise<CampaignTable[]> {
  let q = db.selectFrom('campaigns').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId) q = q.where('id', '>', page.afterId);
  if (filter.status) q = q.where('status', '=', filter.status);
  return q.orderBy('id').limit(page.limit).execute();
}

/** Updates fields of a campaign if it is in one of `from`; answers the row after, or undefined when it was not. */
export async function updateCampaignIf(db: Kysely<Database>, tenantId: string, id: string, from: readonly CampaignStatus[], set: Partial<CampaignTable>): Promise<CampaignTable | undefined> {
  const r = await db.updateTable('campaigns').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).where('status', 'in', from).executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) return undefined;
  return getCampaign(db, tenantId, id);
}

export async function deleteCampaign(db: Kysely<Database>, tenantId: string, id: string, from: readonly CampaignStatus[]): Promise<boolean> {
  const r = await db.deleteFrom('campaigns').where('tenant_id', '=', tenantId).where('id', '=', id).where('status', 'in', from).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * Up to `limit` messages of the campaign with a recipient still waiting (queued, deferred, in
 * flight): those are made from the campaign when sent (campaigns/campaign-body.ts), so it
 * must stay. Stops once it has found `limit`.
 */
export async function campaignWaitingMessages(db: Kysely<Database>, campaignId: string, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('campaign_ledger').innerJoin('recipients', 'recipients.message_id', 'campaign_ledger.message_id')
    .select('recipients.message_id').where('campaign_ledger.campaign_id', '=', campaignId).where('recipients.status', 'in', ['queued', 'deferred', 'inflight'])
    .limit(limit).execute();
  return [...new Set(rows.map((r) => r.message_id))];
}

/** Campaigns the runner should look at: sending, or scheduled and due. */
export async function runnableCampaigns(db: Kysely<Database>, now: number): Promise<CampaignTable[]> {
  return db.selectFrom('campaigns').selectAll()
    .where((eb) => eb.or([eb('status', '=', 'sending'), eb.and([eb('status', '=', 'scheduled'), eb('send_at', '<=', now)])]))
    .orderBy('id').execute();
}

const ledgerSql = new Map<number, string>();

/**
 * Inserts ledger rows, skipping contacts the campaign already has one for; answers the
 * contact ids inserted now (only their messages may be stored).
 */
export async function insertLedger(db: Kysely<Database>, campaignId: string, entries: readonly LedgerEntry[], now: number): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < entries.length; i += 500) {
    const chunk = entries.slice(i, i + 500);
    let text = ledgerSql.get(chunk.length);
    if (text === undefined) {
      ledgerSql.set(chunk.length, text = `insert into "campaign_ledger" ("campaign_id", "contact_id", "message_id", "outcome", "variant", "created_at") values ${
        Array.from({ length: chunk.length }, () => '(?, ?, ?, ?, ?, ?)').join(', ')} on conflict do nothing returning "contact_id"`);
    }
    const params: unknown[] = [];
    for (const e of chunk) params.push(campaignId, e.contactId, e.messageId, e.outcome, e.variant, now);
    const r = await db.executeQuery<{ contact_id: string }>(CompiledQuery.raw(placeholders(db, text), params));
    for (const row of r.rows) out.add(row.contact_id);
  }
  return out;
}

/** Moves the cursor and adds to the counters, in the expansion's transaction. */
export async function advanceCampaign(db: Kysely<Database>, id: string, cursor: string, counts: { queued: number; suppressed: number; unsubscribed: number }, now: number): Promise<void> {
  await db.updateTable('campaigns').set((eb) => ({
    cursor,
    queued: eb('queued', '+', counts.queued),
    pace_count: eb('pace_count', '+', counts.queued),
    skipped_suppressed: eb('skipped_suppressed', '+', counts.suppressed),
    skipped_unsubscribed: eb('skipped_unsubscribed', '+', counts.unsubscribed),
    updated_at: now,
  })).where('id', '=', id).execute();
}

/** Ledger outcomes counted (what the counters on the row should say). */
export async function ledgerCounts(db: Kysely<Database>, campaignId: string): Promise<Record<CampaignLedgerTable['outcome'], number>> {
  const rows = await db.selectFrom('campaign_ledger').select(['outcome', (eb) => eb.fn.countAll<number>().as('n')]).where('campaign_id', '=', campaignId).groupBy('outcome').execute();
  const out = { queued: 0, suppressed: 0, unsubscribed: 0 };
  for (const r of rows) out[r.outcome] = Number(r.n);
  return out;
}

/** The ledger row of a message (tracking and unsubscribe links name the message). */
export async function ledgerByMessage(db: Kysely<Database>, messageId: string): Promise<CampaignLedgerTable | undefined> {
  return db.selectFrom('campaign_ledger').selectAll().where('message_id', '=', messageId).executeTakeFirst();
}

/** Recipient outcomes of a campaign's messages (delivery), per status and bounce class. */
export async function campaignDeliveryCounts(db: Kysely<Database>, campaignId: string): Promise<Record<string, number>> {
  const rows = await db.selectFrom('campaign_ledger').innerJoin('recipients', 'recipients.message_id', 'campaign_ledger.message_id')
    .select(['recipients.status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('campaign_ledger.campaign_id', '=', campaignId).groupBy('recipients.status').execute();
  const out: Record<string, number> = {};
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}

/** Events of a campaign's messages counted by type (bounced, complained, …), from the event log. */
export async function campaignEventCounts(db: Kysely<Database>, campaignId: string, types: readonly string[]): Promise<Record<string, number>> {
  const rows = await db.selectFrom('campaign_ledger').innerJoin('events', 'events.message_id', 'campaign_ledger.message_id')
    .select(['events.type', (eb) => eb.fn.countAll<number>().as('n')])
    .where('campaign_ledger.campaign_id', '=', campaignId).where('events.type', 'in', types).groupBy('events.type').execute();
  const out: Record<string, number> = {};
  for (const r of rows) out[r.type] = Number(r.n);
  return out;
}

/** Hard bounces among a campaign's bounce events (the event payload's `bounce_class`). */
export async function campaignHardBounces(db: Kysely<Database>, campaignId: string): Promise<number> {
  const row = await db.selectFrom('campaign_ledger').innerJoin('events', 'events.message_id', 'campaign_ledger.message_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('campaign_ledger.campaign_id', '=', campaignId).where('events.type', '=', 'message.bounced')
    .where(jsonIsTrue(db, sql.ref('events.payload'), 'permanent')).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Ledger rows of finished campaigns older than `before`, deleted in one chunk; answers how many. */
export async function pruneLedger(db: Kysely<Database>, before: number, limit: number): Promise<number> {
  // By primary key (row values: SQLite 3.15+ and PostgreSQL), not SQLite's rowid.
  const r = await db.deleteFrom('campaign_ledger').where((eb) => eb(eb.refTuple('campaign_id', 'contact_id'), 'in', eb.selectFrom('campaign_ledger')
    .innerJoin('campaigns', 'campaigns.id', 'campaign_ledger.campaign_id')
    .select(['campaign_ledger.campaign_id', 'campaign_ledger.contact_id'])
    .where('campaigns.status', 'in', ['sent', 'cancelled']).where('campaign_ledger.created_at', '<', before).limit(limit)
    .$asTuple('campaign_id', 'contact_id'))).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Per A/B variant: messages queued, and of those, messages with a human open (or click). */
export async function abVariantStats(db: Kysely<Database>, campaignId: string, kind: 'open' | 'click'): Promise<Array<{ variant: string; sent: number; engaged: number }>> {
  const rows = await db.selectFrom('campaign_ledger as l')
    .select([
      'l.variant',
      (eb) => eb.fn.countAll<number>().as('sent'),
      sql<number>`sum(case when exists (select 1 from tracking_events t where t.message_id = l.message_id and t.kind = ${kind} and t.machine = 0) then 1 else 0 end)`.as('engaged'),
    ])
    .where('l.campaign_id', '=', campaignId).where('l.outcome', '=', 'queued').where('l.variant', 'is not', null).groupBy('l.variant').orderBy('l.variant').execute();
  return rows.map((r) => ({ variant: r.variant!, sent: Number(r.sent), engaged: Number(r.engaged ?? 0) }));
}
