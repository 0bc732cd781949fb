// Opens and clicks of tracked messages, and their counts for a campaign report. Machine
// events (prefetchers, link scanners) are stored like the others with `machine = 1` and
// counted apart, so a report can show both without guessing again later.
import { sql, type Kysely } from 'kysely';
import type { CampaignLinkHostTable, Database, TrackingEventTable } from '../database.ts';

export type NewTrackingEvent = Omit<TrackingEventTable, 'id'>;

export async function insertTrackingEvent(db: Kysely<Database>, event: NewTrackingEvent): Promise<void> {
  await db.insertInto('tracking_events').values(event).execute();
}

/** Earlier events of this kind for the message (the first human open/click is "unique"). */
export async function countTrackingFor(db: Kysely<Database>, messageId: string, kind: 'open' | 'click'): Promise<number> {
  const row = await db.selectFrom('tracking_events').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('message_id', '=', messageId).where('kind', '=', kind).where('machine', '=', 0).executeTakeFirst();
  return Number(row?.n ?? 0);
}

export interface TrackingCounts {
  readonly total: number;
  readonly unique: number;
  readonly machine: number;
}

export async function campaignTrackingCounts(db: Kysely<Database>, campaignId: string, kind: 'open' | 'click'): Promise<TrackingCounts> {
  const row = await db.selectFrom('tracking_events')
    .select([
      sql<number>`sum(case when machine = 0 then 1 else 0 end)`.as('total'),
      sql<number>`count(distinct case when machine = 0 then message_id end)`.as('uniq'),
      sql<number>`sum(case when machine = 1 then 1 else 0 end)`.as('machine'),
    ])
    .where('campaign_id', '=', campaignId).where('kind', '=', kind).executeTakeFirst();
  return { total: Number(row?.total ?? 0), unique: Number(row?.uniq ?? 0), machine: Number(row?.machine ?? 0) };
}

/** Human clicks per link. */
export async function campaignClicksByUrl(db: Kysely<Database>, campaignId: string): Promise<Array<{ url: string; total: number; unique: number }>> {
  const rows = await db.selectFrom('tracking_events')
    .select(['url', (eb) => eb.fn.countAll<number>().as('total'), sql<number>`count(distinct message_id)`.as('uniq')])
    .where('campaign_id', '=', campaignId).where('kind', '=', 'click').where('machine', '=', 0).groupBy('url').orderBy('url').execute();
  return rows.map((r) => ({ url: r.url ?? '', total: Number(r.total), unique: Number(r.uniq) }));
}

/** Human opens and clicks per UTC hour (ms). */
export async function campaignTrackingSeries(db: Kysely<Database>, campaignId: string): Promise<Array<{ hour: number; opens: number; clicks: number }>> {
  const rows = await db.selectFrom('tracking_events')
    .select([
      sql<number>`(created_at / 3600000) * 3600000`.as('hour'),
      sql<number>`sum(case when kind = 'open' then 1 else 0 end)`.as('opens'),
      sql<number>`sum(case when kind = 'click' then 1 else 0 end)`.as('clicks'),
    ])
    .where('campaign_id', '=', campaignId).where('machine', '=', 0).groupBy('hour').orderBy('hour').execute();
  return rows.map((r) => ({ hour: Number(r.hour), opens: Number(r.opens), clicks: Number(r.clicks) }));
}

/** The link host of a tenant's sending domain, if one is set. */
export async function getLinkHost(db: Kysely<Database>, tenantId: string, domain: string): Promise<string | null> {
  const row = await db.selectFrom('campaign_link_hosts').select('host').where('tenant_id', '=', tenantId).where('domain', '=', domain.toLowerCase()).executeTakeFirst();
  return row?.host ?? null;
}

export async function listLinkHosts(db: Kysely<Database>, tenantId: string): Promise<CampaignLinkHostTable[]> {
  return db.selectFrom('campaign_link_hosts').selectAll().where('tenant_id', '=', tenantId).orderBy('domain').execute();
}

export async function putLinkHost(db: Kysely<Database>, tenantId: string, domain: string, host: string, now: number): Promise<CampaignLinkHostTable> {
  const row: CampaignLinkHostTable = { tenant_id: tenantId, domain: domain.toLowerCase(), host: host.toLowerCase(), created_at: now };
  await db.insertInto('campaign_link_hosts').values(row).onConflict((oc) => oc.columns(['tenant_id', 'domain']).doUpdateSet({ host: row.host })).execute();
  return row;
}

export async function deleteLinkHost(db: Kysely<Database>, tenantId: string, domain: string): Promise<boolean> {
  const r = await db.deleteFrom('campaign_link_hosts').where('tenant_id', '=', tenantId).where('domain', '=', domain.toLowerCase()).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
