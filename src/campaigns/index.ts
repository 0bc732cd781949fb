// What other stages may use of campaigns/: contact import, the segment filter schema, the
// campaign runner (expansion with pacing), signed links (unsubscribe, tracking) and reports.
export { importContactsCsv, ContactImportError, CONTACT_IMPORT_BATCH_ROWS } from './contact-import.ts';
export type { ContactImportOptions, ContactImportProgress } from './contact-import.ts';
export { segmentFilterSchema, segmentConditionSchema, segmentListIds, segmentSize, MAX_SEGMENT_DEPTH, MAX_SEGMENT_CONDITIONS } from './segment-filter.ts';
export { LinkSigner } from './link-signer.ts';
export type { LinkPurpose } from './link-signer.ts';
export { buildCampaignMessage, templateData, listIdHeader } from './campaign-message.ts';
export type { CampaignContent, CampaignMessageOptions } from './campaign-message.ts';
export { rewriteHtmlForTracking, htmlLinks } from './tracking-rewrite.ts';
export type { TrackingRewriteOptions } from './tracking-rewrite.ts';
export { createCampaignRunner, audienceOf, EXPANSION_BATCH } from './campaign-runner.ts';
export type { CampaignRunner, CampaignRunnerOptions } from './campaign-runner.ts';
export { campaignServiceOf, publicBaseUrl } from './campaign-service.ts';
export type { CampaignService, CampaignServiceDeps } from './campaign-service.ts';
export { checkAutoPause, campaignRates } from './auto-pause.ts';
export { parseAbTest, abContentFor } from './ab-test.ts';
export type { AbTest, AbVariant } from './ab-test.ts';
export { sendWindowSchema, insideWindow } from './send-window.ts';
export type { SendWindow } from './send-window.ts';
export { sendConfirmation, DEFAULT_CONFIRM_SUBJECT, DEFAULT_CONFIRM_TEXT } from './double-opt-in.ts';
export { createCampaignBodyRenderer, campaignBodySpec, CampaignBodyError } from './campaign-body.ts';
export type { CampaignBodySpec, CampaignBodyRendererOptions } from './campaign-body.ts';
