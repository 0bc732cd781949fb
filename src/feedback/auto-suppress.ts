// Automatic suppression list entries (issue 4): a hard bounce or a complaint suppresses the
// address on the message's stream at once; soft bounces (asynchronous soft reports, and
// recipients that expired after retrying) suppress it once `soft_bounce_limit` of them
// happened within `soft_bounce_window`. Block-class bounces (5.7.x policy, reputation) say
// nothing about the address and never suppress it.
import type { Kysely } from 'kysely';
import { addSuppressions, countSoftBounce, normaliseSuppressionAddress, resetSoftBounces, type Database, type Stream, type SuppressionReason } from '../store/index.ts';

export interface AutoSuppressOptions {
  /** 0: soft bounces never suppress. */
  readonly softBounceLimit: number;
  readonly softBounceWindowMs: number;
}

export interface AutoSuppressEntry {
  readonly tenantId: string;
  readonly stream: Stream;
  readonly address: string;
  readonly kind: 'hard' | 'soft' | 'block' | 'complaint';
  readonly description: string | null;
  readonly messageId: string;
}

/** Records one failure; answers the reason the address was suppressed with, or null. Call inside store.write. */
export async function autoSuppress(trx: Kysely<Database>, e: AutoSuppressEntry, options: AutoSuppressOptions, now = Date.now()): Promise<SuppressionReason | null> {
  if (e.kind === 'block') return null;
  const address = normaliseSuppressionAddress(e.address);
  if (!address) return null;
  let reason: SuppressionReason;
  let description = e.description?.slice(0, 900) ?? null;
  if (e.kind === 'soft') {
    if (options.softBounceLimit <= 0) return null;
    const count = await countSoftBounce(trx, e.tenantId, e.stream, address, options.softBounceWindowMs, now);
    if (count < options.softBounceLimit) return null;
    reason = 'hard_bounce';
    description = `${count} soft bounces within ${Math.round(options.softBounceWindowMs / 3_600_000)} h; last: ${description ?? 'no diagnostic'}`;
  } else {
    reason = e.kind === 'complaint' ? 'complaint' : 'hard_bounce';
  }
  await addSuppressions(trx, e.tenantId, [{ stream: e.stream, address, reason, description, messageId: e.messageId }], now);
  await resetSoftBounces(trx, e.tenantId, e.stream, address);
  return reason;
}
