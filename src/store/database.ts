// Row types for every table: one Database interface (kysely), `| null` rather than `?`,
// literal unions for status columns. Times are integer milliseconds since the epoch.
import type { Generated } from 'kysely';

export type RecipientStatus = 'queued' | 'inflight' | 'delivered' | 'deferred' | 'bounced' | 'expired' | 'cancelled' | 'received';
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
  verified: number;
  created_at: number;
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
}
