// Unsubscribing through a campaign message's signed link. The token names a message; the
// message names its tenant, campaign and contact (metadata written at expansion), so the
// token cannot reach any other contact. "All" marks the contact unsubscribed and puts the
// address on the tenant's suppression list of the message's stream (broadcast, for a
// campaign that did not choose otherwise) with reason `unsubscribe`, keeping the two in step;
// "list" unsubscribes from the campaign's lists only. Either is idempotent: a second use of
// the same token changes nothing and writes no second event. The `…In` forms run inside a
// transaction the caller holds (the MX listener's, for the mailto address: mailto-unsubscribe.ts).
import type { Kysely } from 'kysely';
import {
  addSuppressions, getContact, insertEvents, setListMemberStatus, updateContact, type Database, type Store,
} from '../store/index.ts';

export type UnsubscribeScope = 'all' | 'list';
export type UnsubscribeMethod = 'one-click' | 'page' | 'mailto';

export interface UnsubscribeTarget {
  readonly tenantId: string;
  readonly messageId: string;
  readonly campaignId: string | null;
  readonly contactId: string;
  readonly email: string;
  readonly contactStatus: string;
  /** The message's stream: its suppression list is the one "all" adds the address to. */
  readonly stream: 'transactional' | 'broadcast';
  /** The campaign's lists (scope "list"). */
  readonly listIds: readonly string[];
}

/** Who a message's links act for; null for a message that is not a campaign's (a test send, or gone). */
export async function unsubscribeTarget(store: Store, messageId: string): Promise<UnsubscribeTarget | null> {
  return unsubscribeTargetIn(store.db, messageId);
}

/** `unsubscribeTarget` read through `db` (a transaction). */
export async function unsubscribeTargetIn(db: Kysely<Database>, messageId: string): Promise<UnsubscribeTarget | null> {
  const msg = await db.selectFrom('messages').select(['tenant_id', 'metadata', 'stream']).where('id', '=', messageId).executeTakeFirst();
  if (!msg?.tenant_id || !msg.metadata) return null;
  const meta = JSON.parse(msg.metadata) as { campaign_id?: unknown; contact_id?: unknown; test?: unknown };
  if (typeof meta.contact_id !== 'string' || meta.test) return null;
  const contact = await getContact(db, msg.tenant_id, meta.contact_id);
  if (!contact) return null;
  const campaignId = typeof meta.campaign_id === 'string' ? meta.campaign_id : null;
  const campaign = campaignId ? await db.selectFrom('campaigns').select('list_ids').where('id', '=', campaignId).executeTakeFirst() : undefined;
  return {
    tenantId: msg.tenant_id, messageId, campaignId, contactId: contact.id, email: contact.email, contactStatus: contact.status, stream: msg.stream,
    listIds: campaign ? (JSON.parse(campaign.list_ids) as string[]) : [],
  };
}

/** Unsubscribes; answers whether anything changed (false: already done, nothing written). */
export async function unsubscribe(store: Store, target: UnsubscribeTarget, scope: UnsubscribeScope, method: UnsubscribeMethod, now = Date.now()): Promise<boolean> {
  return store.write((trx) => unsubscribeIn(trx, target, scope, method, now));
}

/** `unsubscribe` inside the caller's transaction `trx`. */
export async function unsubscribeIn(trx: Kysely<Database>, target: UnsubscribeTarget, scope: UnsubscribeScope, method: UnsubscribeMethod, now: number): Promise<boolean> {
  const contact = await getContact(trx, target.tenantId, target.contactId);
  if (!contact) return false;
  const lists: string[] = [];
  if (scope === 'all') {
    if (contact.status === 'unsubscribed') return false;
    await updateContact(trx, target.tenantId, contact.id, { status: 'unsubscribed' }, now);
    await addSuppressions(trx, target.tenantId, [{ stream: target.stream, address: contact.email, reason: 'unsubscribe', messageId: target.messageId, description: `${method} unsubscribe` }], now);
  } else {
    for (const listId of target.listIds) {
      const row = await trx.selectFrom('list_members').select('status').where('list_id', '=', listId).where('contact_id', '=', contact.id).executeTakeFirst();
      if (row && row.status !== 'unsubscribed' && (await setListMemberStatus(trx, target.tenantId, listId, contact.id, 'unsubscribed'))) lists.push(listId);
    }
    if (lists.length === 0) return false;
  }
  await insertEvents(trx, [{
    type: 'contact.unsubscribed', tenantId: target.tenantId, messageId: target.messageId,
    data: { contact_id: contact.id, email: contact.email, campaign_id: target.campaignId, message_id: target.messageId, scope, method, ...(scope === 'list' ? { lists } : {}) },
  }], now);
  return true;
}
