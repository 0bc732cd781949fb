// Configuration is read once at start: the YAML file, then POSTLINE_* overrides, then zod
// validation. A bad key stops start-up with a message naming its path.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  readonly code = 'POSTLINE_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;
const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
const bool = (name: string) => (v: string) => {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name}: expected true or false, got "${v}"`);
};
const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new ConfigError(`${name}: expected a whole number, got "${v}"`);
  return Number(v);
};

const num = (name: string) => (v: string) => {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new ConfigError(`${name}: expected a number, got "${v}"`);
  return Number(v);
};

/**
 * Every environment override: name → config path and how to read the text. The names are
 * a public contract (docs/configuration.md lists them; a test checks the two agree).
 */
export const ENV_OVERRIDES: Record<string, { path: string[]; parse: (v: string) => unknown }> = {
  POSTLINE_DATA_DIR: { path: ['data_dir'], parse: String },
  POSTLINE_HOSTNAME: { path: ['hostname'], parse: String },
  POSTLINE_NODE_ID: { path: ['node_id'], parse: (v) => v || null },
  POSTLINE_ROLES: { path: ['roles'], parse: list },
  POSTLINE_SHUTDOWN_TIMEOUT: { path: ['shutdown_timeout'], parse: String },
  POSTLINE_SMTP_LISTEN: { path: ['smtp', 'listen'], parse: String },
  POSTLINE_SMTPS_LISTEN: { path: ['smtp', 'smtps_listen'], parse: String },
  POSTLINE_MX_LISTEN: { path: ['smtp', 'mx_listen'], parse: String },
  POSTLINE_MX_DOMAINS: { path: ['smtp', 'mx_domains'], parse: list },
  POSTLINE_MAX_MESSAGE_BYTES: { path: ['smtp', 'max_message_bytes'], parse: int('POSTLINE_MAX_MESSAGE_BYTES') },
  POSTLINE_RELAY_NETWORKS: { path: ['smtp', 'relay_networks'], parse: list },
  POSTLINE_HTTP_LISTEN: { path: ['http', 'listen'], parse: String },
  POSTLINE_HTTP_REQUEST_TIMEOUT: { path: ['http', 'request_timeout'], parse: String },
  POSTLINE_HTTP_KEY_CACHE: { path: ['http', 'key_cache'], parse: String },
  POSTLINE_API_KEY_RATE: { path: ['http', 'key_rate_per_second'], parse: num('POSTLINE_API_KEY_RATE') },
  POSTLINE_API_KEY_BURST: { path: ['http', 'key_burst'], parse: int('POSTLINE_API_KEY_BURST') },
  POSTLINE_API_IP_RATE: { path: ['http', 'ip_rate_per_second'], parse: num('POSTLINE_API_IP_RATE') },
  POSTLINE_API_IP_BURST: { path: ['http', 'ip_burst'], parse: int('POSTLINE_API_IP_BURST') },
  POSTLINE_TLS_CERT: { path: ['tls', 'cert'], parse: String },
  POSTLINE_TLS_KEY: { path: ['tls', 'key'], parse: String },
  POSTLINE_DNS_SERVERS: { path: ['dns', 'servers'], parse: list },
  POSTLINE_DELIVERY_MODE: { path: ['delivery', 'mode'], parse: String },
  POSTLINE_DELIVERY_THREAD_NICE: { path: ['delivery', 'thread_nice'], parse: int('POSTLINE_DELIVERY_THREAD_NICE') },
  POSTLINE_DELIVERY_PACED_RATE: { path: ['delivery', 'paced_rate'], parse: int('POSTLINE_DELIVERY_PACED_RATE') },
  POSTLINE_SMTP_PROXY_PROTOCOL_FROM: { path: ['smtp', 'proxy_protocol_from'], parse: list },
  POSTLINE_DELIVERY_PORT: { path: ['delivery', 'port'], parse: int('POSTLINE_DELIVERY_PORT') },
  POSTLINE_RELAYHOST: { path: ['delivery', 'relayhost'], parse: (v) => v || null },
  POSTLINE_DELIVERY_ALLOW_PRIVATE: { path: ['delivery', 'allow_private'], parse: bool('POSTLINE_DELIVERY_ALLOW_PRIVATE') },
  POSTLINE_MAX_CONNECTIONS_PER_DESTINATION: { path: ['delivery', 'max_connections_per_destination'], parse: int('POSTLINE_MAX_CONNECTIONS_PER_DESTINATION') },
  POSTLINE_RETRY_SCHEDULE: { path: ['queue', 'retry_schedule'], parse: list },
  POSTLINE_MAX_QUEUE_LIFETIME: { path: ['queue', 'max_lifetime'], parse: String },
  POSTLINE_DELAY_WARNING_AFTER: { path: ['queue', 'delay_warning_after'], parse: String },
  POSTLINE_QUEUE_POLL_INTERVAL: { path: ['queue', 'poll_interval'], parse: String },
  POSTLINE_DATABASE_URL: { path: ['database', 'url'], parse: (v) => v || null },
  POSTLINE_DATABASE_POOL_SIZE: { path: ['database', 'pool_size'], parse: int('POSTLINE_DATABASE_POOL_SIZE') },
  POSTLINE_DATABASE_CONNECT_TIMEOUT: { path: ['database', 'connect_timeout'], parse: String },
  POSTLINE_QUEUE_LEASE: { path: ['queue', 'lease'], parse: String },
  POSTLINE_ADMIN_TOKEN: { path: ['admin_token'], parse: (v) => v || null },
  POSTLINE_SECRET_KEY: { path: ['security', 'secret_key'], parse: (v) => v || null },
  POSTLINE_SECRET_KEY_FILE: { path: ['security', 'secret_key_file'], parse: (v) => v || null },
  POSTLINE_LOG_LEVEL: { path: ['log', 'level'], parse: String },
  POSTLINE_WEBHOOK_ALLOW_PRIVATE: { path: ['webhooks', 'allow_private'], parse: bool('POSTLINE_WEBHOOK_ALLOW_PRIVATE') },
  POSTLINE_WEBHOOK_TIMEOUT: { path: ['webhooks', 'timeout'], parse: String },
  POSTLINE_WEBHOOK_RETRY_SCHEDULE: { path: ['webhooks', 'retry_schedule'], parse: list },
  POSTLINE_WEBHOOK_DISABLE_AFTER: { path: ['webhooks', 'disable_after'], parse: String },
  POSTLINE_RETENTION_EVENTS_DAYS: { path: ['retention', 'events_days'], parse: int('POSTLINE_RETENTION_EVENTS_DAYS') },
  POSTLINE_RETENTION_BODIES_DAYS: { path: ['retention', 'bodies_days'], parse: int('POSTLINE_RETENTION_BODIES_DAYS') },
  POSTLINE_FEEDBACK_VERP: { path: ['feedback', 'verp'], parse: bool('POSTLINE_FEEDBACK_VERP') },
  POSTLINE_FEEDBACK_FBL_ADDRESSES: { path: ['feedback', 'fbl_addresses'], parse: list },
  POSTLINE_DOMAINS_REQUIRE_VERIFIED: { path: ['domains', 'require_verified'], parse: bool('POSTLINE_DOMAINS_REQUIRE_VERIFIED') },
  POSTLINE_DKIM_ED25519: { path: ['domains', 'dkim_ed25519'], parse: bool('POSTLINE_DKIM_ED25519') },
  POSTLINE_DOMAINS_RECHECK_INTERVAL: { path: ['domains', 'recheck_interval'], parse: String },
  POSTLINE_IP_POOLS_DEFAULT: { path: ['ip_pools', 'default_pool'], parse: (v) => v || null },
  POSTLINE_IP_POOLS_RELOAD_INTERVAL: { path: ['ip_pools', 'reload_interval'], parse: String },
  POSTLINE_THROTTLING_MAX_WAIT: { path: ['throttling', 'max_wait'], parse: String },
  POSTLINE_MTA_STS: { path: ['tls_policy', 'mta_sts'], parse: bool('POSTLINE_MTA_STS') },
  POSTLINE_MTA_STS_PORT: { path: ['tls_policy', 'mta_sts_port'], parse: int('POSTLINE_MTA_STS_PORT') },
  POSTLINE_TLS_POLICY_CA_FILE: { path: ['tls_policy', 'ca_file'], parse: (v) => v || null },
  POSTLINE_CAMPAIGNS_RUNNER: { path: ['campaigns', 'runner'], parse: bool('POSTLINE_CAMPAIGNS_RUNNER') },
  POSTLINE_CAMPAIGNS_TICK_INTERVAL: { path: ['campaigns', 'tick_interval'], parse: String },
  POSTLINE_CAMPAIGNS_PUBLIC_URL: { path: ['campaigns', 'public_url'], parse: (v) => v || null },
};

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new ConfigError(`${path.join('.')}: "${key}" is not a section`);
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

export interface LoadConfigOptions {
  /** Path of the YAML file; falls back to POSTLINE_CONFIG, then to no file (all defaults). */
  file?: string | undefined;
  env?: Env;
  /** Extra values applied after the file and before the environment (CLI flags). */
  overrides?: Record<string, unknown>;
}

/** Reads, merges and validates configuration. Throws ConfigError with every bad key named. */
export function loadConfig(options: LoadConfigOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const file = options.file ?? env.POSTLINE_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: the top level must be a mapping`);
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) setPath(raw, path.split('.'), value);
  for (const [name, { path, parse }] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, parse(value));
    else if (value === '' && (name === 'POSTLINE_RELAYHOST' || name === 'POSTLINE_DATABASE_URL')) setPath(raw, path, null);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(`invalid configuration${file ? ` in ${file}` : ''}:\n${z.prettifyError(result.error)}`);
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
