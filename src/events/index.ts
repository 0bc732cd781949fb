// What other stages (server.ts, the API, tests) may use of events and webhooks.
export { EVENT_TYPES, MESSAGE_EVENT_TYPES, WEBHOOK_EVENT_TYPES, isEventType } from './event-types.ts';
export type { EventType } from './event-types.ts';
export { signWebhook, newWebhookSecret, webhookSecretKey, WebhookSecretError, WEBHOOK_SECRET_PREFIX } from './webhook-signature.ts';
export type { SignedHeaders } from './webhook-signature.ts';
export { nextWebhookAttemptAt, scheduleSpanMs } from './webhook-retry.ts';
export { parseWebhookUrl, assertWebhookUrlAllowed, guardedLookup, WebhookUrlError, MAX_WEBHOOK_URL_LENGTH } from './url-guard.ts';
export type { WebhookUrlErrorCode } from './url-guard.ts';
export { WebhookSender, RESPONSE_EXCERPT_BYTES } from './webhook-sender.ts';
export type { WebhookCall, WebhookCallResult, WebhookCallError } from './webhook-sender.ts';
export { webhookBody, deliveryFor, filterTakes, fanOutBatch, loadFanOutCursor } from './webhook-fanout.ts';
export { createWebhookDispatcher } from './webhook-dispatcher.ts';
export type { WebhookDispatcher, WebhookDispatcherOptions, WebhookDispatcherStats } from './webhook-dispatcher.ts';
export { createRetentionJob } from './retention-job.ts';
export type { RetentionJob, RetentionOptions, RetentionResult } from './retention-job.ts';
