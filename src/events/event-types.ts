// Every event type Postline writes, the one list that webhook filters are validated against
// and docs/events.md documents (a test checks the two agree). Types are strings in the
// store, so a new type is one line here and one row in the docs.

/** What happens to a message, written in the same transaction as the state change. */
export const MESSAGE_EVENT_TYPES = [
  'message.queued',
  'message.scheduled',
  'message.delivered',
  'message.deferred',
  'message.bounced',
  'message.delayed',
  'message.complained',
  'message.auto_replied',
  'message.expired',
  'message.suppressed',
  'message.cancelled',
  'message.inbound',
] as const;

/** About webhook endpoints themselves. `webhook.test` is only ever sent by the test route, never stored. */
export const WEBHOOK_EVENT_TYPES = ['webhook.disabled', 'webhook.test'] as const;

/** About sending domains (src/domains/): a DKIM record that was found is gone or changed; a domain became verified. */
export const DOMAIN_EVENT_TYPES = ['domain.dns_error', 'domain.verified'] as const;

/** Bulk mail (src/campaigns/): engagement with campaign messages, unsubscribes, and campaign state changes. */
export const CAMPAIGN_EVENT_TYPES = ['message.opened', 'message.clicked', 'contact.unsubscribed', 'campaign.started', 'campaign.paused', 'campaign.finished'] as const;

export const EVENT_TYPES = [...MESSAGE_EVENT_TYPES, ...WEBHOOK_EVENT_TYPES, ...DOMAIN_EVENT_TYPES, ...CAMPAIGN_EVENT_TYPES] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}
