// A/B tests of a campaign's subject or content: the first `sample_percent` of the audience
// (in cursor order) is split between the variants by `split` weights; when the sample is
// queued the campaign waits `wait_ms`, then the variant with the best human open (or click)
// rate wins and the rest of the audience gets it. The state lives in `campaigns.ab` (JSON),
// so a restart resumes the same phase.
import { createHash } from 'node:crypto';
import { abVariantStats, type CampaignTable, type Store } from '../store/index.ts';
import type { CampaignContent } from './campaign-message.ts';

export interface AbVariant {
  readonly name: string;
  readonly subject?: string | null | undefined;
  readonly html?: string | null | undefined;
  readonly text?: string | null | undefined;
  /** Share of the sample, in percent of the sample (weights need not add to 100). */
  readonly split: number;
}

export interface AbTest {
  readonly variants: readonly AbVariant[];
  /** Percent of the audience in the sample. */
  readonly sample_percent: number;
  readonly metric: 'open' | 'click';
  readonly wait_ms: number;
  /** sample: sending the sample; waiting: sample queued, until `decide_at`; winner: the rest gets `winner`. */
  readonly phase: 'sample' | 'waiting' | 'winner';
  /** Contacts in the sample (fixed when the campaign starts). */
  readonly sample_size: number | null;
  readonly decide_at: number | null;
  readonly winner: string | null;
}

export function parseAbTest(json: string | null): AbTest | null {
  return json ? (JSON.parse(json) as AbTest) : null;
}

function contentOf(c: CampaignTable, v: AbVariant | undefined): CampaignContent {
  return { subject: v?.subject ?? c.subject, html: v?.html !== undefined ? v.html ?? null : c.html, text: v?.text !== undefined ? v.text ?? null : c.text };
}

/** The content of the variant named `name` (null: the campaign's own); null when the campaign has no such variant. */
export function variantContent(c: CampaignTable, name: string | null): CampaignContent | null {
  if (name === null) return contentOf(c, undefined);
  const v = parseAbTest(c.ab)?.variants.find((x) => x.name === name);
  return v ? contentOf(c, v) : null;
}

/** A stable choice by weight for a contact (the same contact gets the same variant after a restart). */
function pick(variants: readonly AbVariant[], contactId: string): AbVariant {
  const total = variants.reduce((n, v) => n + v.split, 0);
  const x = (createHash('sha256').update(contactId).digest().readUInt32BE(0) / 2 ** 32) * total;
  let acc = 0;
  for (const v of variants) {
    acc += v.split;
    if (x < acc) return v;
  }
  return variants[variants.length - 1];
}

/** The variant and content for a contact in the current phase. */
export function abContentFor(ab: AbTest | null, c: CampaignTable, contactId: string): { variant: string | null; content: CampaignContent } {
  if (!ab || ab.variants.length === 0) return { variant: null, content: contentOf(c, undefined) };
  if (ab.phase === 'winner') {
    const w = ab.variants.find((v) => v.name === ab.winner);
    return { variant: w?.name ?? null, content: contentOf(c, w) };
  }
  const v = pick(ab.variants, contactId);
  return { variant: v.name, content: contentOf(c, v) };
}

/** Contacts the campaign has dealt with so far (queued or skipped): the sample's progress. */
export function processed(c: Pick<CampaignTable, 'queued' | 'skipped_suppressed' | 'skipped_unsubscribed'>): number {
  return c.queued + c.skipped_suppressed + c.skipped_unsubscribed;
}

/** The variant with the best human open (or click) rate among its queued messages; ties go to the first. */
export async function chooseWinner(store: Store, campaignId: string, ab: AbTest): Promise<{ winner: string; stats: Array<{ variant: string; sent: number; engaged: number; rate: number }> }> {
  const rows = await abVariantStats(store.db, campaignId, ab.metric);
  const stats = ab.variants.map((v) => {
    const r = rows.find((x) => x.variant === v.name);
    const sent = r?.sent ?? 0;
    const engaged = r?.engaged ?? 0;
    return { variant: v.name, sent, engaged, rate: sent ? engaged / sent : 0 };
  });
  let best = stats[0];
  for (const s of stats) if (s.rate > best.rate) best = s;
  return { winner: best.variant, stats };
}
