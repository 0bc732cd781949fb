// Automatic pause of a running campaign whose bounce or complaint rate crosses the configured
// threshold (campaigns.auto_pause_*), once enough of its messages have an outcome: a bad
// list is stopped before it costs the sending IPs their reputation. The rates come from the
// campaign's message events (bounced, complained, delivered), checked at most every few
// seconds per campaign.
import type { Config } from '../config/index.ts';
import { campaignEventCounts, updateCampaignIf, type CampaignTable, type Store } from '../store/index.ts';

const CHECK_EVERY_MS = 2000;
const lastCheck = new Map<string, number>();

export interface AutoPauseContext {
  readonly store: Store;
  readonly config: Readonly<Config>;
  readonly campaign: CampaignTable;
  readonly now: number;
  readonly event: (type: string, data: Record<string, unknown>) => Promise<void>;
}

/** The rates of a campaign so far. */
export async function campaignRates(store: Store, campaignId: string): Promise<{ outcomes: number; bounced: number; complained: number }> {
  const n = await campaignEventCounts(store.db, campaignId, ['message.delivered', 'message.bounced', 'message.complained']);
  const bounced = n['message.bounced'] ?? 0;
  return { outcomes: (n['message.delivered'] ?? 0) + bounced, bounced, complained: n['message.complained'] ?? 0 };
}

/** Pauses the campaign (event campaign.paused, reason bounce_rate or complaint_rate) when a threshold is crossed; answers true if it did. */
export async function checkAutoPause(ctx: AutoPauseContext): Promise<boolean> {
  const { config, campaign: c } = ctx;
  const { auto_pause_bounce_rate: maxBounce, auto_pause_complaint_rate: maxComplaint, auto_pause_min_outcomes: min } = config.campaigns;
  if (maxBounce === 0 && maxComplaint === 0) return false;
  if (ctx.now - (lastCheck.get(c.id) ?? 0) < CHECK_EVERY_MS) return false;
  lastCheck.set(c.id, ctx.now);
  if (lastCheck.size > 10_000) lastCheck.clear();
  const r = await campaignRates(ctx.store, c.id);
  if (r.outcomes < min) return false;
  const bounceRate = r.bounced / r.outcomes;
  const complaintRate = r.complained / r.outcomes;
  const reason = maxBounce > 0 && bounceRate > maxBounce ? 'bounce_rate' : maxComplaint > 0 && complaintRate > maxComplaint ? 'complaint_rate' : null;
  if (!reason) return false;
  const paused = await ctx.store.write((trx) => updateCampaignIf(trx, c.tenant_id, c.id, ['sending'], { status: 'paused', paused_reason: reason, updated_at: ctx.now }));
  if (paused) await ctx.event('campaign.paused', { reason, bounce_rate: bounceRate, complaint_rate: complaintRate, outcomes: r.outcomes, queued: paused.queued });
  return !!paused;
}
