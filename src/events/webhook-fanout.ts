// The outbox fan-out: events are read in id order after a cursor, and each becomes one
// delivery row per enabled endpoint of its tenant whose filter takes its type, and one count
// in the hourly rollup that statistics read. The rows, the counts and the advanced cursor
// are committed together, so a crash between the read and the commit repeats the batch
// whole; (endpoint, event) is UNIQUE besides, so deliveries are never doubled.
import {
  HOUR_MS, addEventCounts, getSetting, insertDeliveries, listEnabledWebhooks, maxCommittedEventId, maxEventId, newPublicId, putSetting, readEventHeads, readEventsInRange,
  WEBHOOK_CURSOR_SETTING,
} from '../store/index.ts';
import type { EventRow, Store, WebhookDeliveryTable } from '../store/index.ts';

/** The Standard Webhooks body, `{"type","timestamp","data"}`; `data` is the stored JSON as is. */
export function webhookBody(type: string, createdAtMs: number, dataJson: string): string {
  return `{"type":${JSON.stringify(type)},"timestamp":${JSON.stringify(new Date(Number(createdAtMs)).toISOString())},"data":${dataJson}}`;
}

/** A delivery row for `event` to endpoint `webhookId`. */
export function deliveryFor(event: Pick<EventRow, 'id' | 'uid' | 'type' | 'message_id' | 'payload' | 'created_at'>, webhookId: string, tenantId: string, now: number): WebhookDeliveryTable {
  return {
    id: newPublicId('whd', now), webhook_id: webhookId, tenant_id: tenantId, event_uid: event.uid, event_id: Number(event.id),
    event_type: event.type, message_id: event.message_id, payload: webhookBody(event.type, event.created_at, event.payload),
    status: 'pending', attempts: 0, schedule_start: 0, next_attempt_at: now, last_status: null, last_error: null, created_at: now, updated_at: now,
  };
}

/** True when an endpoint's filter (JSON array, `[]` = all) takes this type. */
export function filterTakes(filterJson: string, type: string): boolean {
  const types = JSON.parse(filterJson) as string[];
  return types.length === 0 || types.includes(type);
}

export interface FanOutResult {
  readonly cursor: number;
  /** True when events remain after the new cursor. */
  readonly more: boolean;
  readonly deliveries: number;
}

/** Tenants named in an IN list at most; beyond, every event of the range is read. */
const MAX_TENANT_FILTER = 500;

/**
 * The cursor a dispatcher starts from: 0 on the very first start, so events from before
 * (an upgraded store) are counted for statistics too. They are sent to no endpoint: an
 * endpoint only gets events created after it.
 */
export async function loadFanOutCursor(store: Store): Promise<number> {
  return Number((await getSetting(store.db, WEBHOOK_CURSOR_SETTING)) ?? 0);
}

/**
 * Fans out the events after `cursor`, at most `limit` ids' worth, and returns the new cursor.
 * Every event is counted (a few columns read); whole rows are read only for tenants with an
 * enabled endpoint.
 */
export async function fanOutBatch(store: Store, cursor: number, limit: number, now = Date.now()): Promise<FanOutResult> {
  // In this order: every event up to maxId was committed before the endpoints are read, so
  // an endpoint missing from the list was created after those events and is owed none.
  // Nothing new (most rounds): no need for the committed horizon, whose PostgreSQL form
  // briefly locks the events table against inserts.
  if ((await maxEventId(store.db)) <= cursor) return { cursor, more: false, deliveries: 0 };
  const maxId = await maxCommittedEventId(store.db);
  const endpoints = await listEnabledWebhooks(store.db);
  const upTo = Math.min(maxId, cursor + limit);
  if (upTo <= cursor) return { cursor, more: false, deliveries: 0 };
  const counts = new Map<string, { tenantId: string; hour: number; type: string; n: number }>();
  for (const e of await readEventHeads(store.db, cursor, upTo)) {
    if (e.tenant_id === null) continue;
    const t = Number(e.created_at);
    const hour = t - (t % HOUR_MS);
    const key = `${e.tenant_id} ${hour} ${e.type}`;
    const c = counts.get(key);
    if (c) c.n++;
    else counts.set(key, { tenantId: e.tenant_id, hour, type: e.type, n: 1 });
  }
  const byTenant = new Map<string, Array<{ id: string; events: string; createdAt: number }>>();
  for (const w of endpoints) {
    let list = byTenant.get(w.tenant_id);
    if (!list) byTenant.set(w.tenant_id, (list = []));
    list.push({ id: w.id, events: w.events, createdAt: Number(w.created_at) });
  }
  const rows: WebhookDeliveryTable[] = [];
  if (endpoints.length > 0) {
    const tenants = byTenant.size <= MAX_TENANT_FILTER ? [...byTenant.keys()] : null;
    for (const e of await readEventsInRange(store.db, cursor, upTo, tenants)) {
      if (e.tenant_id === null) continue;
      for (const w of byTenant.get(e.tenant_id) ?? []) {
        if (Number(e.created_at) >= w.createdAt && filterTakes(w.events, e.type)) rows.push(deliveryFor(e, w.id, e.tenant_id, now));
      }
    }
  }
  // Not durable: a crash that loses this commit loses the cursor with the rows and counts,
  // and the range is simply fanned out again from the durable events.
  await store.write(async (trx) => {
    await insertDeliveries(trx, rows);
    await addEventCounts(trx, [...counts.values()]);
    await putSetting(trx, WEBHOOK_CURSOR_SETTING, String(upTo));
  }, { durable: false });
  return { cursor: upTo, more: upTo < maxId, deliveries: rows.length };
}
