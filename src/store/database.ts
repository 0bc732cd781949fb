// Row types for every table: one Database interface (kysely), `| null` rather than `?`,
// literal unions for status columns. Times are integer milliseconds since the epoch.
import type { Generated } from 'kysely';

export type RecipientStatus = 'queued' | 'inflight' | 'delivered' | 'deferred' | 'bounced' | 'expired' | 'cancelled' | 'received' | 'suppressed';
export type MessageOrigin = 'smtp' | 'api' | 'dsn' | 'mx' | 'cli';
export type Stream = 'transactional' | 'broadcast';

export interface TenantTable {
  id: string;
  name: string;
  sandbox: number;
  created_at: number;
}

export interface DomainTable {
  id: string;
  tenant_id: string;
  name: string;
  /** 1 when the ownership record and the active DKIM record(s) were found at the last check (domains/). */
  verified: number;
  created_at: number;
  /** 0006: the token of the ownership TXT record, `postline-verification=<token>`. */
  verification_token: string | null;
  /** 0006: 1 when the return-path CNAME pointed at this instance at the last check. */
  return_path_ok: number;
  /** 0006: JSON object, record key → last DNS result (domains/domain-view.ts); null: never checked. */
  dns_status: string | null;
  checked_at: number | null;
  /** 0006: when the domain last became verified. */
  verified_at: number | null;
}

export interface CredentialTable {
  id: string;
  tenant_id: string;
  username: string;
  /** scrypt$N$r$p$salt$hash (base64). */
  password_hash: string;
  created_at: number;
  last_used_at: number | null;
}

export interface MessageTable {
  id: string;
  tenant_id: string | null;
  origin: MessageOrigin;
  stream: Stream;
  /** Envelope sender; '' is the null reverse-path (RFC 5321 §4.5.5). */
  mail_from: string;
  size: number;
  /** Message bytes for messages under the inline limit; otherwise null and `body_path` is set. */
  body: Uint8Array | null;
  body_path: string | null;
  /**
   * A campaign message made when it is sent (campaigns/campaign-body.ts): what it is made
   * from, JSON; `body` and `body_path` are then null, and `size`/`header_size` are 0 until
   * its first attempt records them.
   */
  body_render: string | null;
  header_size: number;
  message_id_header: string | null;
  subject: string | null;
  from_header: string | null;
  /** RFC 3461 §4.3 RET and §4.4 ENVID. */
  dsn_ret: 'FULL' | 'HDRS' | null;
  dsn_envid: string | null;
  /** True for DSNs and auto-replies: never generate a DSN for these. */
  is_bounce: number;
  smtputf8: number;
  client_ip: string | null;
  auth_user: string | null;
  created_at: number;
  /** 0003: JSON array of strings given at send time (API), or null. */
  tags: string | null;
  /** 0003: JSON object given at send time (API), echoed in events; or null. */
  metadata: string | null;
  /** 0003: when a scheduled message (API `send_at`) is due; null when sent at once. */
  send_at: number | null;
  /** 0012: 1 when submitted with RFC 8689 REQUIRETLS (verified TLS and REQUIRETLS on every onward hop). */
  require_tls: Generated<number>;
}

export interface RecipientTable {
  id: Generated<number>;
  message_id: string;
  tenant_id: string | null;
  rcpt: string;
  domain: string;
  status: RecipientStatus;
  attempts: number;
  next_attempt_at: number;
  expires_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  /** RFC 3461 §4.1 NOTIFY, comma-separated (SUCCESS,FAILURE,DELAY or NEVER); null = default. */
  dsn_notify: string | null;
  /** RFC 3461 §4.2 ORCPT as received (addr-type;xtext). */
  dsn_orcpt: string | null;
  last_code: number | null;
  last_enhanced: string | null;
  last_response: string | null;
  last_mx: string | null;
  updated_at: number;
  /** 0014: when the RFC 3461 "delayed" DSN for this recipient was queued; null: none yet. */
  delay_dsn_at: number | null;
}

export interface AttemptTable {
  id: Generated<number>;
  recipient_id: number;
  message_id: string;
  started_at: number;
  duration_ms: number;
  outcome: 'delivered' | 'deferred' | 'bounced';
  mx_host: string | null;
  ip: string | null;
  port: number | null;
  code: number | null;
  enhanced: string | null;
  response: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
}

export interface EventTable {
  /** Cursor order. */
  id: Generated<number>;
  /** Stable public id, `evt_…`. */
  uid: string;
  tenant_id: string | null;
  message_id: string | null;
  recipient_id: number | null;
  type: string;
  payload: string;
  created_at: number;
}

/** What an API key may do: `send` mail, `read` messages and events, `manage` the tenant's keys, credentials, domains, webhooks. */
export type ApiKeyScope = 'send' | 'read' | 'manage';

export interface ApiKeyTable {
  /** Public id, `key_…`; also the middle part of the token `pl_<id>_<secret>`. */
  id: string;
  tenant_id: string;
  name: string;
  /** Comma-separated ApiKeyScope values. */
  scopes: string;
  /** base64url SHA-256 of the secret part of the token. */
  secret_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/** 0013: which node runs a cluster-wide background job, until when (issue 7). */
export interface ClusterLeaseTable {
  name: string;
  owner: string;
  expires_at: number;
}

export interface SettingTable {
  key: string;
  value: string;
}

export interface Database {
  tenants: TenantTable;
  domains: DomainTable;
  credentials: CredentialTable;
  messages: MessageTable;
  recipients: RecipientTable;
  attempts: AttemptTable;
  events: EventTable;
  settings: SettingTable;
  cluster_leases: ClusterLeaseTable;
  api_keys: ApiKeyTable;
  templates: TemplateTable;
  idempotency_keys: IdempotencyKeyTable;
  webhooks: WebhookTable;
  webhook_deliveries: WebhookDeliveryTable;
  webhook_attempts: WebhookAttemptTable;
  event_counts: EventCountTable;
}

/** 0003: a Handlebars template of a tenant; `name` is its alias, unique within the tenant. */
export interface TemplateTable {
  /** Public id, `tpl_…`. */
  id: string;
  tenant_id: string;
  name: string;
  subject: string | null;
  html: string | null;
  text: string | null;
  created_at: number;
  updated_at: number;
}

/** 0003: the response remembered for an Idempotency-Key of a tenant, until `expires_at`. */
export interface IdempotencyKeyTable {
  tenant_id: string;
  key: string;
  /** base64url SHA-256 of method, route and request body. */
  fingerprint: string;
  status: number;
  /** The JSON response body as sent. */
  response: string;
  created_at: number;
  expires_at: number;
}

/** 0004: a tenant's webhook endpoint. */
export interface WebhookTable {
  /** Public id, `whk_…`. */
  id: string;
  tenant_id: string;
  url: string;
  description: string | null;
  /** JSON array of event types; `[]` means every type. */
  events: string;
  /** `whsec_` + base64 of the HMAC key bytes (Standard Webhooks). */
  secret: string;
  enabled: number;
  /** Why it was disabled: `gone` (410), `failing` (disable_after), `manual`. */
  disabled_reason: string | null;
  disabled_at: number | null;
  /** First failed call since the last success; null while healthy. */
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

/** 0004: one event (or test ping) to one endpoint; made by the dispatcher's fan-out. */
export interface WebhookDeliveryTable {
  /** Public id, `whd_…`. */
  id: string;
  webhook_id: string;
  tenant_id: string;
  /** The event's public id (`evt_…`): the `webhook-id` header on every attempt. */
  event_uid: string;
  /** events.id, the order an endpoint's deliveries are sent in; null for test pings. */
  event_id: number | null;
  event_type: string;
  message_id: string | null;
  /** The JSON body sent, `{"type","timestamp","data"}`. */
  payload: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  /** `attempts` when it was last replayed: the retry schedule counts from there. */
  schedule_start: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** 0004: one HTTP call of a delivery. */
export interface WebhookAttemptTable {
  id: Generated<number>;
  delivery_id: string;
  webhook_id: string;
  started_at: number;
  duration_ms: number;
  /** HTTP status; null when no response arrived (refused, timeout, address refused). */
  status_code: number | null;
  /** Error code when no response arrived, e.g. `WEBHOOK_TIMEOUT`. */
  error: string | null;
  /** At most 1 KB of the response body. */
  response_excerpt: string | null;
  outcome: 'succeeded' | 'failed';
}

/** 0004: events per tenant, UTC hour (ms) and type; kept by the webhook dispatcher's fan-out. */
export interface EventCountTable {
  tenant_id: string;
  hour: number;
  type: string;
  n: number;
}


/** 0005: one administrative action (security/audit-log, SECURITY.md). Never updated. */
export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor_kind: 'admin' | 'key' | 'cli' | 'user';
  /** The API key id when actor_kind is `key`; the user id (`usr_…`) when `user` (0009). */
  actor_id: string | null;
  tenant_id: string | null;
  action: string;
  target: string | null;
  /** JSON object; never holds a secret. */
  details: string | null;
  ip: string | null;
}

// Declaration merging adds the 0005 table to Database (kept apart so migrations append).
export interface Database {
  audit_log: AuditLogTable;
}

export type SuppressionReason = 'hard_bounce' | 'complaint' | 'unsubscribe' | 'manual';

/**
 * 0007: an address a tenant must not send to on one stream. `address` is normalised
 * (trimmed, lower-cased, domain in A-labels: store/repos/suppressions.ts).
 */
export interface SuppressionTable {
  /** Public id, `sup_…`. */
  id: string;
  tenant_id: string;
  stream: Stream;
  address: string;
  reason: SuppressionReason;
  /** Free text, e.g. the bounce diagnostic; null when none was given. */
  description: string | null;
  /** The message that caused the entry (bounce, complaint, unsubscribe), if any. */
  message_id: string | null;
  created_at: number;
  /** When the entry stops counting (ms); null: permanent. */
  expires_at: number | null;
}

// Declaration merging adds the 0007 table to Database.
export interface Database {
  suppressions: SuppressionTable;
  soft_bounces: SoftBounceTable;
}

/** 0008: soft bounces counted per address within feedback.soft_bounce_window. */
export interface SoftBounceTable {
  tenant_id: string;
  stream: Stream;
  address: string;
  count: number;
  first_at: number;
  last_at: number;
}

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';
/** pending: published, not yet seen in DNS; active: signs; retiring: still published, no longer signs; retired: gone. */
export type DkimKeyStatus = 'pending' | 'active' | 'retiring' | 'retired';

/** 0006: a DKIM key of a sending domain. */
export interface DkimKeyTable {
  /** Public id, `dkim_…`. */
  id: string;
  domain_id: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** PKCS#8 PEM sealed with secret-box, context `dkim:<domain_id>:<selector>`. Never leaves the server. */
  private_key: string;
  /** The published p= value: base64 SPKI DER (RSA) or base64 of the raw 32-byte key (Ed25519, RFC 8463 §4.2). */
  public_key: string;
  status: DkimKeyStatus;
  created_at: number;
  activated_at: number | null;
  /** retiring: when it becomes retired (activation of its successor + domains.dkim_rotation_overlap). */
  retire_at: number | null;
}

// Declaration merging adds the 0006 table to Database.
export interface Database {
  dkim_keys: DkimKeyTable;
}

/** A tenant user's role: `owner` may do everything its tenant's keys may; `viewer` only reads. */
export type UserRole = 'owner' | 'viewer';

/** 0009: a dashboard user: an instance admin (tenant_id null) or a user of one tenant. */
export interface UserTable {
  /** Public id, `usr_…`. */
  id: string;
  /** Trimmed and lower-cased; unique. */
  email: string;
  /** scrypt$N$r$p$salt$hash (security/password-hash.ts). */
  password_hash: string;
  is_admin: number;
  tenant_id: string | null;
  role: UserRole | null;
  created_at: number;
  last_login_at: number | null;
}

/** 0009: a signed-in browser. The token is only in the cookie; `id` is its SHA-256. */
export interface SessionTable {
  /** base64url SHA-256 of the session token. */
  id: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  ip: string | null;
}

// Declaration merging adds the 0009 tables to Database.
export interface Database {
  users: UserTable;
  sessions: SessionTable;
}

/** 0010: an outbound IP pool managed through the API (pools in the configuration are not stored). */
export interface IpPoolTable {
  name: string;
  created_at: number;
  updated_at: number;
}

/** 0010: one source address of an API-managed pool. */
export interface IpPoolAddressTable {
  pool_name: string;
  address: string;
  /** RFC 5321 §4.1.1.1: the EHLO name used from this address; should match its PTR. */
  hostname: string;
  weight: number;
  /** 1: follows the warm-up schedule (ip_pools.warmup) from ip_addresses.warmup_started_at. */
  warmup: number;
  added_at: number;
}

/** 0010: per source address, whatever pool it is in. */
export interface IpAddressTable {
  address: string;
  /** Day 0 of the warm-up: when the address was added or first seen. */
  warmup_started_at: number;
}

/** 0010: recipients sent from an address per UTC hour (warm-up caps). */
export interface IpHourlyCountTable {
  address: string;
  hour: number;
  n: number;
}

export type IpThrottleKind = 'backoff' | 'block';

/** 0010: a throttle in force for a source address toward a destination (src/pools/throttle-state.ts). */
export interface IpThrottleTable {
  /** '' for the host's default address (no pool). */
  address: string;
  destination: string;
  kind: IpThrottleKind;
  until: number;
  reason: string | null;
  updated_at: number;
}

/** 0010: a tenant's IP pool per stream and its sending quota (null: none). */
export interface TenantSendingTable {
  tenant_id: string;
  transactional_pool: string | null;
  broadcast_pool: string | null;
  quota_per_hour: number | null;
  quota_per_day: number | null;
  updated_at: number;
}

/** 0010: recipients a tenant sent per UTC hour (quotas). */
export interface TenantHourlyCountTable {
  tenant_id: string;
  hour: number;
  n: number;
}

/** 0010: an MTA-STS policy (RFC 8461 §3.2) as last fetched. */
export interface MtaStsPolicyTable {
  domain: string;
  policy_id: string;
  mode: 'enforce' | 'testing' | 'none';
  /** JSON array of mx patterns. */
  mx: string;
  max_age: number;
  fetched_at: number;
  expires_at: number;
}

/** 0010: columns added to attempts. */
export interface AttemptTable {
  /** The local address the connection was bound to; null: the host's default. */
  source_ip: string | null;
  pool: string | null;
  /** starttls, starttls-verified, plaintext, plaintext-after-tls-failure; null when no host was reached. */
  tls_outcome: string | null;
}

// Declaration merging adds the 0010 tables to Database.
export interface Database {
  ip_pools: IpPoolTable;
  ip_pool_addresses: IpPoolAddressTable;
  ip_addresses: IpAddressTable;
  ip_hourly_counts: IpHourlyCountTable;
  ip_throttles: IpThrottleTable;
  tenant_sending: TenantSendingTable;
  tenant_hourly_counts: TenantHourlyCountTable;
  mta_sts_policies: MtaStsPolicyTable;
}

export type ContactStatus = 'subscribed' | 'unsubscribed' | 'bounced' | 'complained';
export type ListMemberStatus = 'subscribed' | 'unsubscribed' | 'unconfirmed';
export type CampaignStatus = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';
export type ImportRejectReason = 'invalid' | 'duplicate' | 'suppressed' | 'malformed';

/** 0011: a contact of a tenant; `email` normalised as suppression addresses are. */
export interface ContactTable {
  /** Public id, `ct_…`; sorts by creation (the campaign expansion cursor). */
  id: string;
  tenant_id: string;
  email: string;
  name: string | null;
  /** JSON object of custom attributes. */
  attributes: string;
  status: ContactStatus;
  created_at: number;
  updated_at: number;
}

/** 0011: a list of contacts. */
export interface ContactListTable {
  /** Public id, `lst_…`. */
  id: string;
  tenant_id: string;
  name: string;
  description: string | null;
  opt_in: 'single' | 'double';
  /** Double opt-in: the confirmation mail's sender and Handlebars sources. */
  confirm_from: string | null;
  confirm_subject: string | null;
  confirm_html: string | null;
  confirm_text: string | null;
  created_at: number;
  updated_at: number;
}

/** 0011: a contact on a list. */
export interface ListMemberTable {
  list_id: string;
  contact_id: string;
  tenant_id: string;
  status: ListMemberStatus;
  job_id: string | null;
  opted_in_at: number | null;
  opt_in_ip: string | null;
  created_at: number;
}

/** 0011: a CSV import into a list. */
export interface ContactImportJobTable {
  /** Public id, `imp_…`. */
  id: string;
  tenant_id: string;
  list_id: string;
  status: 'running' | 'finished' | 'failed';
  rows: number;
  imported: number;
  existing: number;
  rejected: number;
  error: string | null;
  created_at: number;
  finished_at: number | null;
}

/** 0011: one rejected row of an import. */
export interface ContactImportRejectionTable {
  job_id: string;
  line: number;
  email: string;
  reason: ImportRejectReason;
  detail: string | null;
}

/** 0011: a saved dynamic segment. */
export interface SegmentTable {
  /** Public id, `seg_…`. */
  id: string;
  tenant_id: string;
  name: string;
  /** JSON filter (campaigns/segment-filter.ts). */
  filter: string;
  created_at: number;
  updated_at: number;
}

/** 0011: a campaign. */
export interface CampaignTable {
  /** Public id, `cmp_…`. */
  id: string;
  tenant_id: string;
  name: string;
  from_address: string;
  from_name: string | null;
  reply_to: string | null;
  subject: string;
  html: string | null;
  text: string | null;
  /** JSON array of list ids. */
  list_ids: string;
  segment_id: string | null;
  stream: Stream;
  status: CampaignStatus;
  rate_per_minute: number;
  send_at: number | null;
  /** JSON sending window (campaigns/send-window.ts); null: any time. */
  send_window: string | null;
  track_opens: number;
  track_clicks: number;
  ab: string | null;
  cursor: string | null;
  pace_start: number | null;
  pace_count: number;
  queued: number;
  skipped_suppressed: number;
  skipped_unsubscribed: number;
  paused_reason: string | null;
  started_at: number | null;
  finished_at: number | null;
  created_at: number;
  updated_at: number;
}

/** 0011: what a campaign did for one contact; unique per (campaign, contact). */
export interface CampaignLedgerTable {
  campaign_id: string;
  contact_id: string;
  message_id: string | null;
  outcome: 'queued' | 'suppressed' | 'unsubscribed';
  variant: string | null;
  created_at: number;
}

/** 0011: an open or a click of a tracked message. */
export interface TrackingEventTable {
  id: Generated<number>;
  tenant_id: string;
  campaign_id: string | null;
  message_id: string;
  contact_id: string | null;
  kind: 'open' | 'click';
  url: string | null;
  machine: number;
  ip: string | null;
  user_agent: string | null;
  created_at: number;
}

/** 0011: the link host of a sending domain's campaign messages. */
export interface CampaignLinkHostTable {
  tenant_id: string;
  /** The sending domain (lower-case). */
  domain: string;
  /** e.g. `links.example.com`: a CNAME to this instance. */
  host: string;
  created_at: number;
}

// Declaration merging adds the 0011 tables to Database.
export interface Database {
  campaign_link_hosts: CampaignLinkHostTable;
  contacts: ContactTable;
  contact_lists: ContactListTable;
  list_members: ListMemberTable;
  contact_import_jobs: ContactImportJobTable;
  contact_import_rejections: ContactImportRejectionTable;
  segments: SegmentTable;
  campaigns: CampaignTable;
  campaign_ledger: CampaignLedgerTable;
  tracking_events: TrackingEventTable;
}
