// What the campaign routes, the public link routes and the runner share in one API process:
// the link signer (its key derived from the instance secret) and the runner. Made once per
// API instance (keyed by its frozen deps object), on first use.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { DeliveryHandoff } from '../ingress/index.ts';
import type { BodyRenderer, Store } from '../store/index.ts';
import { secretKeyOf } from '../security/index.ts';
import { LinkSigner } from './link-signer.ts';
import { createCampaignRunner, type CampaignRunner } from './campaign-runner.ts';
import { createCampaignBodyRenderer } from './campaign-body.ts';
import { nodeIdOf } from '../queue/lease-owner.ts';

export interface CampaignServiceDeps {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
  readonly handoff: DeliveryHandoff | null;
}

export interface CampaignService {
  readonly signer: LinkSigner;
  readonly runner: CampaignRunner;
  /** Makes campaign messages stored as what they are made from, for store.openBody. */
  readonly renderBody: BodyRenderer;
}

const services = new WeakMap<object, Promise<CampaignService>>();

/** Where /u/ and /t/ links point: campaigns.public_url, else https://<hostname>. */
export function publicBaseUrl(config: Readonly<Config>): string {
  return config.campaigns.public_url ?? `https://${config.hostname}`;
}

export function campaignServiceOf(deps: CampaignServiceDeps): Promise<CampaignService> {
  let s = services.get(deps);
  if (!s) {
    s = (async () => {
      const signer = new LinkSigner(await secretKeyOf(deps.config), publicBaseUrl(deps.config));
      const runner = createCampaignRunner({ config: deps.config, store: deps.store, log: deps.log, signer, handoff: deps.handoff, leaseOwner: nodeIdOf(deps.config) });
      return { signer, runner, renderBody: createCampaignBodyRenderer({ db: deps.store.db, config: deps.config, signer }) };
    })();
    services.set(deps, s);
  }
  return s;
}
