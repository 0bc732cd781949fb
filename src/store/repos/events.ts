import type { Kysely } from 'kysely';
import type { Database } from '../database.ts';
import { newPublicId } from '../ids.ts';
import { insertRows } from '../compiled-queries.ts';

export interface NewEvent {
  readonly type: string;
  readonly tenantId: string | null;
  readonly messageId?: string | null;
  readonly recipientId?: number | null;
  readonly data: Record<string, unknown>;
}

/** Writes events in the caller's transaction (outbox: same commit as the state change). */
export async function insertEvents(db: Kysely<Database>, events: readonly NewEvent[], now = Date.now()): Promise<void> {
  if (events.length === 0) return;
  for (let i = 0; i < events.length; i += 200) {
    await insertRows(db, 'events', EVENT_COLUMNS, events.slice(i, i + 200).map((e) => [
      newPublicId('evt', now), e.tenantId, e.messageId ?? null, e.recipientId ?? null, e.type, JSON.stringify(e.data), now,
    ]));
  }
}

const EVENT_COLUMNS = ['uid', 'tenant_id', 'message_id', 'recipient_id', 'type', 'payload', 'created_at'] as const;

export async function listEventsForMessage(db: Kysely<Database>, messageId: string) {
  const rows = await db.selectFrom('events').selectAll().where('message_id', '=', messageId).orderBy('id').execute();
  return rows.map((r) => ({ id: r.uid, type: r.type, recipientId: r.recipient_id, createdAt: Number(r.created_at), data: JSON.parse(r.payload) as Record<string, unknown> }));
}
