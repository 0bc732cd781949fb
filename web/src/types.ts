// The API's objects as the dashboard reads them (docs/api.md; the OpenAPI document at
// /api/v1/openapi.json is the full contract).

export type Scope = 'send' | 'read' | 'manage';

export interface User {
  id: string;
  email: string;
  is_admin: boolean;
  tenant_id: string | null;
  role: 'owner' | 'viewer' | null;
  created_at: string;
  last_login_at: string | null;
}

export interface Session {
  user: User;
  tenant: { id: string; name: string; sandbox: boolean } | null;
  scopes: Scope[];
  csrf_token: string;
  expires_at: string;
}

export interface Tenant {
  id: string;
  name: string;
  sandbox: boolean;
  created_at: string;
}

export interface Stats {
  from: string;
  to: string;
  interval: 'hour' | 'day';
  totals: Record<string, number>;
  delivery_rate: number | null;
  bounce_rate: number | null;
  buckets: Array<{ start: string; counts: Record<string, number>; delivery_rate: number | null; bounce_rate: number | null }>;
}

export interface MessageListItem {
  id: string;
  stream: string;
  origin: string;
  mail_from: string;
  from: string | null;
  subject: string | null;
  size: number;
  tags: string[];
  created_at: string;
  send_at: string | null;
  body_available: boolean;
  recipients: Record<string, number>;
}

export interface Recipient {
  id: number;
  email: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_code: number | null;
  last_enhanced: string | null;
  last_response: string | null;
  last_mx: string | null;
  updated_at: string;
}

export interface ApiEvent {
  id: string;
  type: string;
  created_at: string;
  message_id: string | null;
  recipient_id: number | null;
  data: Record<string, unknown>;
}

export interface Attempt {
  id: number;
  recipient_id: number;
  started_at: string;
  duration_ms: number;
  outcome: string;
  mx_host: string | null;
  ip: string | null;
  port: number | null;
  code: number | null;
  enhanced: string | null;
  response: string | null;
  tls: { version: string; cipher: string | null } | null;
}

export interface MessageDetail extends Omit<MessageListItem, 'recipients'> {
  message_id_header: string | null;
  metadata: Record<string, unknown> | null;
  envelope: { mail_from: string; rcpt_to: string[] };
  headers: Array<{ name: string; value: string }>;
  recipients: Recipient[];
  events: ApiEvent[];
  attempts: Attempt[];
}

export interface MessageContent {
  id: string;
  subject: string | null;
  text: string | null;
  html: string | null;
  attachments: Array<{ index: number; filename: string | null; content_type: string; disposition: string | null; content_id: string | null; size: number }>;
}

export interface CapturedMessage {
  id: string;
  mail_from: string;
  from: string | null;
  subject: string | null;
  to: string[];
  size: number;
  created_at: string;
  body_available: boolean;
}

export interface QueueDestination {
  domain: string;
  queued: number;
  deferred: number;
  inflight: number;
  next_attempt_at: string | null;
  oldest_at: string;
  last_error: { code: number | null; enhanced: string | null; response: string | null; mx: string | null; at: string } | null;
}

export interface QueueRecipient {
  id: number;
  message_id: string;
  email: string;
  domain: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_response: string | null;
  subject: string | null;
  created_at: string;
}

export interface DnsRecord {
  name: string;
  type: string;
  value: string;
  purpose: string;
  status: string;
  found?: string[] | string | null;
  expected?: string | null;
  warning?: string | null;
  selector?: string;
  key_status?: string;
}

export interface Domain {
  id: string;
  name: string;
  verified: boolean;
  return_path_ok: boolean;
  created_at: string;
  checked_at: string | null;
  records: DnsRecord[];
}

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  created_at: string;
  last_used_at: string | null;
  key?: string;
}

export interface SmtpCredential {
  id: string;
  username: string;
  created_at: string;
  last_used_at: string | null;
  password?: string;
}

export interface Webhook {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  created_at: string;
  secret?: string;
}

export interface WebhookDelivery {
  id: string;
  event_id: string;
  event_type: string;
  message_id: string | null;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  attempts: Array<{ started_at: string; duration_ms: number; status_code: number | null; error: string | null; response_excerpt: string | null; outcome: string }>;
}

export interface Suppression {
  id: string;
  stream: string;
  address: string;
  reason: string;
  description: string | null;
  message_id: string | null;
  created_at: string;
  expires_at: string | null;
}

export type CampaignStatus = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';

export interface Campaign {
  id: string;
  name: string;
  from: string;
  reply_to: string | null;
  subject: string;
  lists: string[];
  segment: string | null;
  stream: string;
  status: CampaignStatus;
  rate_per_minute: number;
  send_at: string | null;
  track_opens: boolean;
  track_clicks: boolean;
  counts: { queued: number; skipped_suppressed: number; skipped_unsubscribed: number };
  paused_reason: string | null;
  started_at: string | null;
  finished_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface TrackingCounts {
  total: number;
  unique: number;
  machine: number;
}

/** GET /api/v1/campaigns/{id}/report. */
export interface CampaignReport {
  campaign_id: string;
  status: string;
  audience: { total: number; subscribed: number };
  queued: number;
  skipped: { suppressed: number; unsubscribed: number };
  delivered: number;
  pending: number;
  bounced: { hard: number; soft: number };
  complained: number;
  unsubscribed: number;
  opened: TrackingCounts;
  clicked: TrackingCounts & { links: Array<{ url: string; total: number; unique: number }> };
  series: Array<{ hour: string; opens: number; clicks: number }>;
}
