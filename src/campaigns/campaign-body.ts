// Campaign messages made when they are sent. Expansion writes, for each contact, a message
// row holding what its bytes are made from (`messages.body_render`: the campaign, the A/B
// variant, and the contact's fields as they were at expansion), not the bytes: ~150 bytes a
// row instead of a whole message, and no MIME building, token MACs or link rewriting on the
// expansion path (measured: that and the body's bytes were ~40 % of a contact's cost). The
// delivery thread, and the API when a message is read, make the bytes here; the same bytes
// each time, since every part of them follows from the row: the Date is the row's creation
// time, the Message-ID the one stored at expansion, the tokens MACs of the message id, and
// the multipart boundary derived from the id (compose's `repeatable`). The campaign's content
// cannot change once it left draft, and a campaign cannot be deleted while any of its
// messages is still queued (api/routes/campaigns.ts), so what the row names is there to read.
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import { ComposeError, TemplateRenderer } from '../compose/index.ts';
import { getLinkHost, UnmakeableBodyError, type BodyRenderer, type CampaignTable, type ContactTable, type Database, type DeferredBody } from '../store/index.ts';
import { CampaignMessages } from './campaign-message.ts';
import type { LinkSigner } from './link-signer.ts';
import { variantContent } from './ab-test.ts';

/** What `messages.body_render` holds for a campaign message. */
export interface CampaignBodySpec {
  readonly campaign: string;
  readonly variant: string | null;
  readonly contact: { readonly id: string; readonly email: string; readonly name: string | null; readonly attributes: Record<string, unknown> };
}

/** The `body_render` JSON for a contact; the contact's attributes are JSON text already, put in as they are. */
export function campaignBodySpec(campaignId: string, variant: string | null, contact: Pick<ContactTable, 'id' | 'email' | 'name' | 'attributes'>): string {
  return `{"campaign":${JSON.stringify(campaignId)},"variant":${JSON.stringify(variant)},"contact":{"id":${JSON.stringify(contact.id)},"email":${JSON.stringify(contact.email)},"name":${JSON.stringify(contact.name)},"attributes":${contact.attributes}}}`;
}

/** A deferred body that cannot be made: the campaign is gone, or its variant, or the message would break a limit. */
export class CampaignBodyError extends UnmakeableBodyError {
  override readonly code = 'CAMPAIGN_BODY_UNAVAILABLE';
}

export interface CampaignBodyRendererOptions {
  readonly db: Kysely<Database>;
  readonly config: Readonly<Config>;
  readonly signer: LinkSigner;
  readonly now?: () => number;
}

/** How long a campaign's prepared content is kept; its link host is read again after it. */
const CACHE_MS = 60_000;
const CACHE_CAMPAIGNS = 32;

interface Cached {
  readonly at: number;
  readonly campaign: CampaignTable;
  readonly linkBase: string | undefined;
  readonly builders: Map<string | null, CampaignMessages>;
}

/** The store's BodyRenderer for campaign messages, with the campaigns being sent kept prepared. */
export function createCampaignBodyRenderer(options: CampaignBodyRendererOptions): BodyRenderer {
  const { db, config, signer } = options;
  const now = options.now ?? Date.now;
  const renderer = new TemplateRenderer();
  const cache = new Map<string, Cached>();

  async function campaignOf(id: string, tenantId: string | null): Promise<Cached> {
    const hit = cache.get(id);
    if (hit && now() - hit.at < CACHE_MS && hit.campaign.tenant_id === tenantId) return hit;
    const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
    // Another tenant's campaign is as good as none: a row can only name its own.
    if (!campaign || campaign.tenant_id !== tenantId) throw new CampaignBodyError(`campaign ${id} no longer exists`);
    const domain = campaign.from_address.slice(campaign.from_address.lastIndexOf('@') + 1);
    const host = await getLinkHost(db, campaign.tenant_id, domain);
    const entry: Cached = { at: now(), campaign, linkBase: host ? `https://${host}` : undefined, builders: new Map() };
    cache.delete(id);
    cache.set(id, entry);
    if (cache.size > CACHE_CAMPAIGNS) cache.delete(cache.keys().next().value!);
    return entry;
  }

  return async (body: DeferredBody): Promise<Buffer> => {
    const spec = JSON.parse(body.spec) as CampaignBodySpec;
    const entry = await campaignOf(spec.campaign, body.tenantId);
    let builder = entry.builders.get(spec.variant);
    if (!builder) {
      const content = variantContent(entry.campaign, spec.variant);
      if (!content) throw new CampaignBodyError(`campaign ${spec.campaign} has no variant ${spec.variant}`);
      const domain = entry.campaign.from_address.slice(entry.campaign.from_address.lastIndexOf('@') + 1);
      builder = new CampaignMessages(entry.campaign, content, {
        hostname: config.hostname, signer, renderer, mailtoHost: `${config.domains.return_path_prefix}.${domain}`,
        maxMessageBytes: config.smtp.max_message_bytes, linkBase: entry.linkBase,
      });
      entry.builders.set(spec.variant, builder);
    }
    const at = body.messageIdHeader?.lastIndexOf('@') ?? -1;
    const hostname = at > 0 ? body.messageIdHeader!.slice(at + 1, -1) : undefined;
    try {
      return (await builder.build(spec.contact, body.messageId, { date: new Date(body.createdAt), hostname })).raw;
    } catch (err) {
      // Deferred only when no template can fail (CampaignMessages.deferredSubject); what is
      // left is the size limit, lowered since expansion.
      if (err instanceof ComposeError) throw new CampaignBodyError(err.message, { cause: err });
      throw err;
    }
  };
}
