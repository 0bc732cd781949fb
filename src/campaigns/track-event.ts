// Recording opens and clicks of campaign messages, with machine traffic told apart: Apple
// Mail Privacy Protection fetches every image through Apple's proxies (17.0.0.0/8, a bare
// "Mozilla/5.0" user agent) whether or not the mail is read, and security gateways fetch or
// follow every link within seconds of delivery. Such events are stored and reported, but
// flagged `machine` and never counted as a person's open or click (nor as engagement in a
// segment). The first human event of a kind for a message is its "unique" one.
import type { Config } from '../config/index.ts';
import { countTrackingFor, insertEvents, insertTrackingEvent, type Store } from '../store/index.ts';

/** User agents of known scanners, crawlers and prefetchers (case-insensitive substrings). */
const MACHINE_AGENTS = [
  'bot', 'crawler', 'spider', 'preview', 'prefetch', 'python', 'curl', 'wget', 'go-http-client', 'java/', 'okhttp', 'headless', 'barracuda', 'mimecast', 'proofpoint',
  'urldefense', 'safelinks', 'symantec', 'forcepoint', 'trendmicro', 'sophos', 'fireeye', 'cisco', 'ironport', 'msoffice', 'microsoft office', 'skypeuripreview',
];

export interface TrackContext {
  readonly ip: string | null;
  readonly userAgent: string | null;
}

/** Why an event is machine traffic, or null when it looks like a person. */
export function machineReason(kind: 'open' | 'click', ctx: TrackContext, deliveredAt: number | null, now: number, scannerWindowMs: number): string | null {
  const ua = (ctx.userAgent ?? '').trim();
  if (ua === '') return 'no user agent';
  const lower = ua.toLowerCase();
  if (MACHINE_AGENTS.some((m) => lower.includes(m))) return 'scanner user agent';
  // Apple MPP: its proxies fetch from 17.0.0.0/8 with a bare "Mozilla/5.0".
  if (kind === 'open' && (ua === 'Mozilla/5.0' || ctx.ip?.startsWith('17.'))) return 'apple mail privacy protection';
  if (deliveredAt !== null && now - deliveredAt >= 0 && now - deliveredAt < scannerWindowMs) return kind === 'click' ? 'clicked within seconds of delivery' : 'opened within seconds of delivery';
  return null;
}

export interface TrackedMessage {
  readonly tenantId: string;
  readonly campaignId: string | null;
  readonly contactId: string | null;
}

/** The campaign message a link was made for; null when the message is gone or not a tenant's. */
export async function trackedMessage(store: Store, messageId: string): Promise<TrackedMessage | null> {
  const msg = await store.db.selectFrom('messages').select(['tenant_id', 'metadata']).where('id', '=', messageId).executeTakeFirst();
  if (!msg?.tenant_id) return null;
  const meta = msg.metadata ? (JSON.parse(msg.metadata) as { campaign_id?: unknown; contact_id?: unknown; test?: unknown }) : {};
  if (meta.test) return null;
  return { tenantId: msg.tenant_id, campaignId: typeof meta.campaign_id === 'string' ? meta.campaign_id : null, contactId: typeof meta.contact_id === 'string' ? meta.contact_id : null };
}

/** Stores the event and its `message.opened` / `message.clicked` webhook event; answers whether it was flagged machine. */
export async function recordTracking(store: Store, config: Readonly<Config>, messageId: string, msg: TrackedMessage, kind: 'open' | 'click', url: string | null, ctx: TrackContext, now = Date.now()): Promise<{ machine: boolean }> {
  const delivered = await store.db.selectFrom('recipients').select('updated_at').where('message_id', '=', messageId).where('status', '=', 'delivered').executeTakeFirst();
  const reason = machineReason(kind, ctx, delivered ? Number(delivered.updated_at) : null, now, config.campaigns.scanner_click_window);
  const machine = reason !== null;
  await store.write(async (trx) => {
    const first = !machine && (await countTrackingFor(trx, messageId, kind)) === 0;
    await insertTrackingEvent(trx, {
      tenant_id: msg.tenantId, campaign_id: msg.campaignId, message_id: messageId, contact_id: msg.contactId, kind, url, machine: machine ? 1 : 0,
      ip: ctx.ip, user_agent: ctx.userAgent?.slice(0, 500) ?? null, created_at: now,
    });
    await insertEvents(trx, [{
      type: kind === 'open' ? 'message.opened' : 'message.clicked', tenantId: msg.tenantId, messageId,
      data: {
        message_id: messageId, campaign_id: msg.campaignId, contact_id: msg.contactId, ...(url ? { url } : {}), unique: first, machine, ...(reason ? { machine_reason: reason } : {}),
        user_agent: ctx.userAgent?.slice(0, 500) ?? null, ip: ctx.ip,
      },
    }], now);
  }, { durable: false });
  return { machine };
}
