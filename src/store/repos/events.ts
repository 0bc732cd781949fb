import type { Kysely } from 'kysely';
import type { Database } from '../database.ts';
import { newPublicId } from '../ids.ts';

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
    await db.insertInto('events').values(events.slice(i, i + 200).map((e) => ({
      uid: newPublicId('evt', now),
      tenant_id: e.tenantId,
      message_id: e.messageId ?? null,
      recipient_id: e.recipientId ?? null,
      type: e.type,
      payload: JSON.stringify(e.data),
      created_at: now,
    }))).execute();
  }
}

export async function listEventsForMessage(db: Kysely<Database>, messageId: string) {
  const rows = await db.selectFrom('events').selectAll().where('message_id', '=', messageId).orderBy('id').execute();
  return rows.map((r) => ({ id: r.uid, type: r.type, recipientId: r.recipient_id, createdAt: Number(r.created_at), data: JSON.parse(r.payload) as Record<string, unknown> }));
}
