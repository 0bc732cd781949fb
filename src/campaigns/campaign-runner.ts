// The campaign runner: a periodic job (like events/retention-job.ts, but every few hundred
// ms) that expands each sending campaign into the queue, a batch at a time, within its
// pacing budget. Expansion walks a cursor over the audience (contacts in id order), never
// holding it in memory, and each batch commits its ledger rows, its messages and the cursor
// move in one transaction: a crash (kill -9) between batches neither skips nor repeats a
// contact, because the next run starts from the committed cursor and the ledger's primary
// key refuses a contact already done.
//
// Pacing: with `pace_start` the time the campaign (re)started and `pace_count` the messages
// queued since, a batch may queue at most floor(rate × elapsed / 60 s) − pace_count: the
// long-run rate is exact and nothing is made up after a pause. A late tick (a busy loop, a
// restart) would let that line release a catch-up burst, so each batch is also held to
// what the last second left: at most ceil(rate / 60) messages in any one-second window.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { DeliveryHandoff } from '../ingress/index.ts';
import {
  advanceCampaign, audiencePage, getLinkHost, insertEvents, insertLedger, insertMessages, newId, pruneLedger, runnableCampaigns, setContactStatuses, suppressedAmong, updateCampaignIf,
  type CampaignTable, type ClaimedRecipient, type ContactStatus, type ContactTable, type LedgerEntry, type NewMessage, type SegmentCondition, type Store,
} from '../store/index.ts';
import { ComposeError, TemplateRenderer, type ComposedMessage } from '../compose/index.ts';
import { CampaignMessages } from './campaign-message.ts';
import { campaignBodySpec } from './campaign-body.ts';
import type { LinkSigner } from './link-signer.ts';
import { checkAutoPause } from './auto-pause.ts';
import { abContentFor, chooseWinner, parseAbTest, processed, type AbTest } from './ab-test.ts';
import { insideWindow, type SendWindow } from './send-window.ts';
import { ClusterLease } from '../jobs/cluster-lease.ts';

/** Contacts read per batch; each batch is one transaction (~40 ms of the main thread: SMTP and API sessions wait no longer). */
export const EXPANSION_BATCH = 500;
const NO_BYTES = { size: 0, inline: null, path: null } as const;
/** A tick stops starting batches after this long, so other work on the loop gets its turn. */
const TICK_BUDGET_MS = 200;

export interface CampaignRunnerOptions {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
  readonly signer: LinkSigner;
  /** Hands queued messages to this node's delivery loop at once; null: the queue's poll finds them. */
  readonly handoff?: DeliveryHandoff | null;
  readonly now?: () => number;
  /**
   * This node's id: with several worker nodes on one database the scheduled rounds run on one
   * of them at a time (a cluster lease), so a campaign's rate is the rate, not the rate × nodes.
   */
  readonly leaseOwner?: string;
}

export interface CampaignRunner {
  start(): void;
  /** One round over every runnable campaign (tests drive it directly). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

interface Counts {
  queued: number;
  suppressed: number;
  unsubscribed: number;
}

export function audienceOf(c: CampaignTable, segment: SegmentCondition | null) {
  return { tenantId: c.tenant_id, listIds: JSON.parse(c.list_ids) as string[], filter: segment };
}

export function createCampaignRunner(options: CampaignRunnerOptions): CampaignRunner {
  const { store, config, signer } = options;
  const log = options.log.child({ stage: 'campaigns' });
  const now = options.now ?? Date.now;
  const renderer = new TemplateRenderer();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = false;
  /** Per campaign, the batches of the last second: [commit time, messages]. */
  const recent = new Map<string, Array<[number, number]>>();

  function roomThisSecond(c: CampaignTable, t: number): number {
    const batches = (recent.get(c.id) ?? []).filter(([at]) => at > t - 1000);
    recent.set(c.id, batches);
    return Math.max(1, Math.ceil(c.rate_per_minute / 60)) - batches.reduce((n, [, k]) => n + k, 0);
  }

  async function segmentOf(c: CampaignTable): Promise<SegmentCondition | null> {
    if (!c.segment_id) return null;
    const row = await store.db.selectFrom('segments').select('filter').where('id', '=', c.segment_id).where('tenant_id', '=', c.tenant_id).executeTakeFirst();
    // A segment deleted after the campaign was made selects no one rather than everyone.
    return row ? (JSON.parse(row.filter) as SegmentCondition) : { any: [] };
  }

  async function event(c: CampaignTable, type: string, data: Record<string, unknown>) {
    await store.write((trx) => insertEvents(trx, [{ type, tenantId: c.tenant_id, data: { campaign_id: c.id, name: c.name, ...data } }], now()));
  }

  /** A batch read and built, not yet written: the contacts after `from`, their ledger entries and messages. */
  interface PreparedBatch {
    readonly from: string | null;
    readonly limit: number;
    readonly contacts: ContactTable[];
    readonly entries: LedgerEntry[];
    readonly messages: Map<string, NewMessage>;
    readonly restatus: Map<ContactStatus, string[]>;
  }

  /** Reads the next `limit` contacts after `from` and builds their messages; writes nothing. */
  async function prepareBatch(c: CampaignTable, segment: SegmentCondition | null, from: string | null, limit: number): Promise<PreparedBatch> {
    const contacts = await audiencePage(store.db, audienceOf(c, segment), from, limit, now());
    if (contacts.length === 0) return { from, limit, contacts, entries: [], messages: new Map(), restatus: new Map() };
    const suppressed = await suppressedAmong(store.db, c.tenant_id, c.stream, contacts.filter((x) => x.status === 'subscribed').map((x) => x.email));
    const ab = parseAbTest(c.ab);
    const entries: LedgerEntry[] = [];
    const messages = new Map<string, NewMessage>();
    const domain = c.from_address.slice(c.from_address.lastIndexOf('@') + 1);
    const host = await getLinkHost(store.db, c.tenant_id, domain);
    const linkBase = host ? `https://${host}` : undefined;
    /** Per A/B variant (null: none), the content prepared once for the batch. */
    const builders = new Map<string | null, CampaignMessages>();
    // Contacts whose address the suppression list names take its word as their status.
    const statusFrom: Partial<Record<string, ContactStatus>> = { unsubscribe: 'unsubscribed', complaint: 'complained', hard_bounce: 'bounced' };
    const restatus = new Map<ContactStatus, string[]>();
    for (const contact of contacts) {
      const hit = contact.status === 'subscribed' ? suppressed.get(contact.email) : undefined;
      const status = hit ? statusFrom[hit.reason] : undefined;
      if (status) {
        const ids = restatus.get(status);
        if (ids) ids.push(contact.id);
        else restatus.set(status, [contact.id]);
      }
      const effective = status ?? contact.status;
      const outcome = effective === 'unsubscribed' ? 'unsubscribed' : effective !== 'subscribed' || hit ? 'suppressed' : 'queued';
      if (outcome !== 'queued') {
        entries.push({ contactId: contact.id, messageId: null, outcome, variant: null });
        continue;
      }
      const { variant, content } = abContentFor(ab, c, contact.id);
      let builder = builders.get(variant);
      if (!builder) {
        builders.set(variant, builder = new CampaignMessages(c, content, {
          hostname: config.hostname, signer, renderer, mailtoHost: `${config.domains.return_path_prefix}.${domain}`, maxMessageBytes: config.smtp.max_message_bytes, linkBase,
        }));
      }
      const id = newId();
      // Made when sent (campaign-body.ts) once the builder has shown, on a contact built here, that nothing can fail then.
      const subject = builder.deferredSubject(contact);
      messages.set(contact.id, subject !== null ? deferredMessageFor(c, subject, contact, id, variant) : messageFor(c, await builder.build(contact, id), contact, id, variant));
      entries.push({ contactId: contact.id, messageId: id, outcome, variant });
    }
    return { from, limit, contacts, entries, messages, restatus };
  }

  /**
   * Writes a prepared batch: `done` when the audience has no one left, `stopped` when the
   * campaign stopped sending (or moved on) since the batch was read.
   */
  async function commitBatch(c: CampaignTable, batch: PreparedBatch): Promise<'more' | 'done' | 'stopped'> {
    const { contacts, entries, messages, restatus } = batch;
    if (contacts.length === 0) return 'done';
    const wanted = messages.size;
    const lease = wanted > 0 ? options.handoff?.reserve(wanted) ?? null : null;
    const t = now();
    let result: { counts: Counts; claimed: ClaimedRecipient[] } | null;
    try {
      // May run twice (alone, after another write sank the group): it changes nothing outside.
      result = await store.write(async (trx) => {
        const current = await trx.selectFrom('campaigns').select(['status', 'cursor']).where('id', '=', c.id).executeTakeFirst();
        // Paused or cancelled since the batch was read: nothing more goes out (exact counts).
        if (current?.status !== 'sending' || current.cursor !== batch.from) return null;
        const inserted = await insertLedger(trx, c.id, entries, t);
        const fresh = entries.filter((e) => inserted.has(e.contactId));
        const counts: Counts = { queued: 0, suppressed: 0, unsubscribed: 0 };
        for (const e of fresh) counts[e.outcome]++;
        const toInsert = fresh.filter((e) => e.outcome === 'queued').map((e) => ({ ...messages.get(e.contactId)!, leaseTo: lease }));
        const stored = await insertMessages(trx, toInsert, { now: t, lifetimeMs: config.queue.max_lifetime });
        await advanceCampaign(trx, c.id, contacts[contacts.length - 1].id, counts, t);
        for (const [status, ids] of restatus) await setContactStatuses(trx, c.tenant_id, ids, status, t);
        return { counts, claimed: lease ? stored.flatMap((s) => s.claimed) : [] };
      });
    } catch (err) {
      if (lease) options.handoff?.release(wanted);
      throw err;
    }
    if (lease) {
      if (result && result.claimed.length) options.handoff?.deliver(result.claimed);
      const unused = wanted - (result?.claimed.length ?? 0);
      if (unused > 0) options.handoff?.release(unused);
    }
    if (!result) return 'stopped';
    if (result.counts.queued > 0) {
      const batches = recent.get(c.id) ?? [];
      batches.push([t, result.counts.queued]);
      recent.set(c.id, batches);
    }
    c.cursor = contacts[contacts.length - 1].id;
    c.pace_count += result.counts.queued;
    c.queued += result.counts.queued;
    c.skipped_suppressed += result.counts.suppressed;
    c.skipped_unsubscribed += result.counts.unsubscribed;
    return contacts.length < batch.limit ? 'done' : 'more';
  }

  function messageFor(c: CampaignTable, m: ComposedMessage, contact: ContactTable, id: string, variant: string | null): NewMessage {
    return {
      id, tenantId: c.tenant_id, origin: 'api', stream: c.stream, mailFrom: m.mailFrom, body: { size: m.raw.length, inline: m.raw, path: null }, headerSize: m.headerSize,
      messageIdHeader: m.messageIdHeader, subject: m.subject, fromHeader: m.fromHeader, smtputf8: m.smtputf8, recipients: [{ rcpt: contact.email }],
      tags: ['campaign'], metadata: { campaign_id: c.id, contact_id: contact.id, ...(variant ? { variant } : {}) },
    };
  }

  /** The row of a message made when sent: what it is made from instead of its bytes (sizes 0 until its first attempt). */
  function deferredMessageFor(c: CampaignTable, subject: string, contact: ContactTable, id: string, variant: string | null): NewMessage {
    return {
      id, tenantId: c.tenant_id, origin: 'api', stream: c.stream, mailFrom: c.from_address, body: NO_BYTES, render: campaignBodySpec(c.id, variant, contact), headerSize: 0,
      messageIdHeader: `<${id}@${config.hostname}>`, subject, fromHeader: c.from_name ? `${c.from_name} <${c.from_address}>` : c.from_address, smtputf8: false,
      recipients: [{ rcpt: contact.email }], tags: ['campaign'], metadata: { campaign_id: c.id, contact_id: contact.id, ...(variant ? { variant } : {}) },
    };
  }

  async function runCampaign(c: CampaignTable, deadline: number): Promise<void> {
    if (c.status === 'scheduled') {
      const started = await store.write((trx) => updateCampaignIf(trx, c.tenant_id, c.id, ['scheduled'], { status: 'sending', started_at: now(), pace_start: now(), pace_count: 0, updated_at: now() }));
      if (!started) return;
      c = started;
      await event(c, 'campaign.started', { rate_per_minute: c.rate_per_minute });
      log.info({ campaign: c.id, tenant: c.tenant_id }, 'campaign started');
    }
    if (await checkAutoPause({ store, config, campaign: c, now: now(), event: (type, data) => event(c, type, data) })) return;
    if (c.send_window && !insideWindow(JSON.parse(c.send_window) as SendWindow, now())) return;
    let ab = parseAbTest(c.ab);
    if (ab?.phase === 'waiting') {
      if (now() < (ab.decide_at ?? 0)) return;
      const { winner, stats } = await chooseWinner(store, c.id, ab);
      ab = { ...ab, phase: 'winner', winner };
      if (!(await saveAb(c, ab))) return;
      log.info({ campaign: c.id, winner, stats }, 'A/B test decided');
    }
    const segment = await segmentOf(c);
    while (!stopped && now() < deadline) {
      const elapsed = now() - (c.pace_start ?? now());
      let budget = Math.min(Math.floor((c.rate_per_minute * elapsed) / 60_000) - c.pace_count, roomThisSecond(c, now()));
      if (ab?.phase === 'sample' && ab.sample_size !== null) {
        const left = ab.sample_size - processed(c);
        if (left <= 0) {
          // The sample is out: wait for the opens (or clicks) before the rest gets the winner.
          await saveAb(c, { ...ab, phase: 'waiting', decide_at: now() + ab.wait_ms });
          return;
        }
        budget = Math.min(budget, left);
      }
      if (budget <= 0) return;
      const r = await commitBatch(c, await prepareBatch(c, segment, c.cursor, Math.min(budget, EXPANSION_BATCH)));
      if (r === 'stopped') return;
      if (r === 'done') {
        const finished = await store.write((trx) => updateCampaignIf(trx, c.tenant_id, c.id, ['sending'], { status: 'sent', finished_at: now(), updated_at: now() }));
        if (finished) {
          await event(finished, 'campaign.finished', { queued: finished.queued, skipped_suppressed: finished.skipped_suppressed, skipped_unsubscribed: finished.skipped_unsubscribed });
          log.info({ campaign: c.id, queued: finished.queued }, 'campaign finished');
        }
        return;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Stores the A/B state if the campaign is still sending; answers whether it was. */
  async function saveAb(c: CampaignTable, ab: AbTest): Promise<boolean> {
    const updated = await store.write((trx) => updateCampaignIf(trx, c.tenant_id, c.id, ['sending'], { ab: JSON.stringify(ab), updated_at: now() }));
    if (updated) c.ab = updated.ab;
    return !!updated;
  }

  let lastPrune = 0;
  /** Ledger rows of finished campaigns past campaigns.ledger_retention, hourly, in short chunks. */
  async function prune(): Promise<void> {
    const retention = config.campaigns.ledger_retention;
    if (retention === 0 || now() - lastPrune < 3_600_000) return;
    lastPrune = now();
    for (let i = 0; i < 100 && !stopped; i++) {
      if ((await store.write((trx) => pruneLedger(trx, now() - retention, 1000), { durable: false })) < 1000) break;
    }
  }

  async function tick(): Promise<void> {
    const deadline = now() + TICK_BUDGET_MS;
    const campaigns = await runnableCampaigns(store.db, now());
    for (const id of recent.keys()) if (!campaigns.some((c) => c.id === id)) recent.delete(id);
    for (const c of campaigns) {
      if (stopped) return;
      try {
        await runCampaign(c, deadline);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (err instanceof ComposeError) {
          // A message that cannot be built (a template failing for some contact's data, a
          // message over the size limit) would fail every round: pause and say why.
          const paused = await store.write((trx) => updateCampaignIf(trx, c.tenant_id, c.id, ['sending'], { status: 'paused', paused_reason: String(code), updated_at: now() }));
          if (paused) await event(paused, 'campaign.paused', { reason: code, detail: err.message.slice(0, 500), queued: paused.queued });
          log.warn({ err, campaign: c.id }, 'campaign paused: a message could not be built');
        } else {
          log.error({ err, campaign: c.id }, 'campaign expansion failed; retrying next round');
        }
      }
    }
    await prune().catch((err: unknown) => log.warn({ err }, 'campaign ledger pruning failed'));
  }

  const lease = options.leaseOwner
    ? new ClusterLease({ store, name: 'campaigns', owner: options.leaseOwner, ttlMs: Math.max(15_000, config.campaigns.tick_interval * 5), log })
    : null;

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      const round = lease ? lease.hold(now()).then((held) => (held ? tick() : undefined)) : tick();
      running = round.catch((err: unknown) => log.error({ err }, 'campaign runner round failed')).finally(() => {
        running = null;
        schedule();
      });
    }, config.campaigns.tick_interval);
    timer.unref();
  }

  return {
    start() {
      stopped = false;
      schedule();
    },
    tick: () => tick(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await lease?.release();
    },
  };
}

