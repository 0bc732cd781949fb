// The configuration schema: every key, its default and its unit live here, and
// docs/configuration.md describes each one (a test checks the two agree).
import { z } from 'zod';
import { hostname as osHostname } from 'node:os';
import { isIP } from 'node:net';
import { parseDurationMs } from './duration.ts';

const listen = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$|^off$/, 'expected host:port (or "off")');
const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  try {
    return parseDurationMs(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const dnsLabel = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const dnsName = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
/** RFC 7208 §5.6 ip4/ip6 mechanisms, or a bare address with an optional prefix length. */
function isSpfIp(value: string): boolean {
  const match = /^(?:(ip4|ip6):)?([^/]+)(?:\/(\d{1,3}))?$/i.exec(value.trim());
  if (!match) return false;
  const family = isIP(match[2]);
  if (family === 0 || (match[1] && match[1].toLowerCase() !== `ip${family}`)) return false;
  return match[3] === undefined || Number(match[3]) <= (family === 4 ? 32 : 128);
}

/** One outbound IP of a pool: the address delivery binds to and the name it greets with (its PTR). */
const ipPoolMemberSchema = z.strictObject({
  address: z.string().refine((v) => isIP(v) !== 0, 'expected an IPv4 or IPv6 address'),
  /** RFC 5321 §4.1.1.1: EHLO name; should match the address's PTR record (`postline doctor`). */
  hostname: z.string().regex(dnsName, 'expected a DNS name'),
  weight: z.number().int().min(0).max(1000).default(1),
  /** Follow the warm-up schedule (ip_pools.warmup) from `warmup_start`, or from when the IP was first seen. */
  warmup: z.boolean().default(false),
  /** `YYYY-MM-DD`: day 0 of the warm-up; null: the day the IP was first seen. */
  warmup_start: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD').nullable().default(null),
});

const ipPoolSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, "1-63 letters, digits, '.', '_' or '-'"),
  ips: z.array(ipPoolMemberSchema).min(1),
});

/** Per source IP toward one destination; null keeps the value it would otherwise have. */
const throttleLimitsSchema = z.strictObject({
  max_connections: z.number().int().positive().nullable().default(null),
  max_messages_per_connection: z.number().int().positive().nullable().default(null),
  /** 0: no limit. */
  messages_per_minute: z.number().nonnegative().nullable().default(null),
  messages_per_hour: z.number().nonnegative().nullable().default(null),
});

/** A mailbox provider: every recipient domain whose MX host ends with one of the suffixes shares its budget. */
const throttleProviderSchema = throttleLimitsSchema.extend({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i),
  mx_suffixes: z.array(z.string().regex(dnsName, 'expected a DNS name')).min(1),
});

export const configSchema = z.strictObject({
  /** Where the SQLite database, spool, TLS material and admin token live. */
  data_dir: z.string().default('./data'),
  /** The name used in the SMTP banner, in EHLO when delivering, and in Received headers. */
  hostname: z.string().min(1).default(osHostname()),
  /**
   * This node's name among the nodes sharing a PostgreSQL database: its delivery leases are
   * `<node_id>:…`, and at start it releases only those. Empty: the machine's host name and the
   * data directory (stable across restarts of the same node).
   */
  node_id: z.string().max(200).nullable().default(null),
  /**
   * What this process does (issue 7: split ingress from delivery across nodes on PostgreSQL):
   * `smtp` (submission, SMTPS and MX listeners), `api` (HTTP API), `web` (the dashboard, on the
   * API's listener: needs `api`), `worker` (delivery, webhooks, campaigns, background jobs).
   */
  roles: z.array(z.enum(['smtp', 'api', 'web', 'worker'])).min(1).default(['smtp', 'api', 'web', 'worker'])
    .refine((r) => !r.includes('web') || r.includes('api'), 'the web role needs the api role (the dashboard talks to the API on the same listener)'),
  /**
   * SIGTERM: how long open SMTP transactions may take to finish before they are answered
   * `421 4.3.2` and closed (RFC 5321 §3.8); the process exits within this plus a few seconds.
   */
  shutdown_timeout: duration.prefault('30s'),
  smtp: z.strictObject({
    /** Submission with STARTTLS (RFC 6409). */
    listen: listen.default('127.0.0.1:2587'),
    /** Submission with implicit TLS (RFC 8314). */
    smtps_listen: listen.default('127.0.0.1:2465'),
    /** Inbound MX for hosted domains. */
    mx_listen: listen.default('127.0.0.1:2525'),
    /** RFC 1870 SIZE: the largest message accepted, in bytes. */
    max_message_bytes: z.number().int().positive().default(25 * 1024 * 1024),
    /** RFC 5321 §4.5.3.1.8 asks for at least 100; we allow up to this many per message. */
    max_recipients: z.number().int().positive().max(100_000).default(1000),
    /** Largest header section we parse on submission, in bytes. */
    max_header_bytes: z.number().int().positive().default(256 * 1024),
    /** Trusted networks that may submit without AUTH, each bound to a tenant: `127.0.0.0/8=acme`. */
    relay_networks: z.array(z.string()).default([]),
    /** Load balancers (exact IP addresses) whose connections start with a PROXY protocol v1 header naming the client. */
    proxy_protocol_from: z.array(z.string().refine((v) => isIP(v) !== 0, 'expected an IP address')).default([]),
    /** Domains (beyond the hostname) the MX listener accepts mail for. */
    mx_domains: z.array(z.string()).default([]),
    /** AUTH failures from one IP before replies are slowed. */
    auth_slow_after_failures: z.number().int().positive().default(3),
    /** AUTH failures from one IP before it is refused with 421 4.7.0. */
    auth_block_after_failures: z.number().int().positive().default(10),
    /** How long failures are remembered and a refused IP stays refused. */
    auth_block_duration: duration.prefault('15m'),
    /** MX listener: hold the greeting this long and refuse clients that talk first (pregreet test). */
    mx_greeting_delay: duration.prefault('100ms'),
    /** RFC 5321 §4.5.3.2.7: server idle timeout. */
    idle_timeout: duration.prefault('5m'),
    /** Concurrent SMTP sessions per listener. */
    max_clients: z.number().int().positive().default(2000),
    /** Concurrent SMTP sessions from one client IP, all listeners together (0: no limit). */
    max_connections_per_ip: z.number().int().nonnegative().default(50),
    /** Concurrent SMTP sessions from one IPv4 /24 or IPv6 /64, all listeners together (0: no limit). */
    max_connections_per_network: z.number().int().nonnegative().default(200),
    /** Command lines in one session, above one transaction at max_recipients; the next gets 421 4.7.0 (0: no limit). */
    max_commands_per_session: z.number().int().nonnegative().default(10_000),
    /** Error replies (4xx/5xx) in one session before 421 4.7.0 and close (0: no limit). */
    max_errors_per_session: z.number().int().nonnegative().default(20),
    /** RFC 5321 §4.5.3.1.4: longest command line in octets (512 at least; extensions add more). */
    max_line_length: z.number().int().min(512).default(2048),
    /** A whole session, however active, ends with 421 4.4.2 after this long (0: no limit). */
    session_timeout: duration.prefault('30m'),
    /** First delay once AUTH replies are slowed; it doubles per failure, at most 16 times this. */
    auth_failure_delay: duration.prefault('500ms'),
    /** AUTH failures for one account (any IP) before its replies are slowed. */
    auth_account_slow_after_failures: z.number().int().positive().default(5),
    /** AUTH failures for one account (any IP) before it is refused with 454 4.7.0. */
    auth_account_block_after_failures: z.number().int().positive().default(30),
  }).prefault({}),
  http: z.strictObject({
    listen: listen.default('127.0.0.1:8025'),
    /** Socket level: the whole request (headers and body) must arrive within this time (408 otherwise). */
    request_timeout: duration.prefault('60s'),
    /** Application level: a handler still running after this answers 503 (its work may still commit). */
    handler_timeout: duration.prefault('30s'),
    /**
     * Token bucket per API key: requests per second (0: no limit) and how many may come at
     * once. The default is about a third of what one node accepts on 2 cores: one runaway
     * client cannot take the whole node from the other tenants.
     */
    key_rate_per_second: z.number().nonnegative().default(1000),
    key_burst: z.number().int().positive().default(2000),
    /** Token bucket per client IP, spent by requests that fail authentication (0: no limit). */
    ip_rate_per_second: z.number().nonnegative().default(5),
    ip_burst: z.number().int().positive().default(50),
    /**
     * How long a verified API key is trusted before it is read again (0: every request). A key
     * revoked on another node or by the CLI stops working within this; on this node at once.
     */
    key_cache: duration.prefault('1s'),
  }).prefault({}),
  tls: z.strictObject({
    /** PEM certificate chain; a self-signed one is made in the data dir when absent. */
    cert: z.string().nullable().default(null),
    key: z.string().nullable().default(null),
  }).prefault({}),
  dns: z.strictObject({
    /** `host[:port]` of recursive resolvers; empty means the system resolver (/etc/resolv.conf). */
    servers: z.array(z.string()).default([]),
    /** Per-query timeout; each server is tried in turn. */
    timeout: duration.prefault('5s'),
    /** Upper bound on how long an answer is cached, whatever its TTL. */
    max_cache_ttl: duration.prefault('1h'),
  }).prefault({}),
  delivery: z.strictObject({
    /** `live` sends to the world; `capture` keeps every message (marked delivered, same events). */
    mode: z.enum(['live', 'capture']).default('live'),
    /** Port remote MX hosts are contacted on. */
    port: z.number().int().min(1).max(65535).default(25),
    /** Optional smarthost `host[:port]`: every message goes there instead of to MX hosts. */
    relayhost: z.string().nullable().default(null),
    /** Allow MX hosts that resolve to loopback, private or link-local addresses. */
    allow_private: z.boolean().default(false),
    /** Simultaneous connections to one destination domain. */
    max_connections_per_destination: z.number().int().positive().default(10),
    /** Simultaneous outbound connections in all. */
    max_connections: z.number().int().positive().default(200),
    /** Messages sent over one connection before it is closed. */
    max_messages_per_connection: z.number().int().positive().default(100),
    /**
     * Nice increment of the delivery thread (Linux, 0-19): when the CPU is short, accepting
     * mail (SMTP 250, API 202) goes first and delivery drains the queue with what is left.
     */
    thread_nice: z.number().int().min(0).max(19).default(5),
    /**
     * While the HTTP API's thread waits for a CPU (Linux schedstat), delivery starts attempts
     * more slowly, down to this many a second (src/queue/delivery-pacing.ts); 0: never held back.
     */
    paced_rate: z.number().int().min(0).default(100),
    /** Idle time before a reusable connection is closed. */
    idle_connection_timeout: duration.prefault('5s'),
    // RFC 5321 §4.5.3.2 client timeouts.
    connect_timeout: duration.prefault('30s'),
    greeting_timeout: duration.prefault('5m'),
    command_timeout: duration.prefault('5m'),
    data_timeout: duration.prefault('10m'),
  }).prefault({}),
  queue: z.strictObject({
    /** Delays between attempts; the last one repeats. Jitter of ±10% is added. */
    retry_schedule: z.array(duration).min(1).prefault(['1m', '5m', '15m', '30m', '1h', '2h', '4h']),
    /** After this long a message that is still deferred expires and bounces. */
    max_lifetime: duration.prefault('5d'),
    /** RFC 3461 NOTIFY=DELAY: a recipient still deferred this long after acceptance gets one "delayed" DSN to the sender; 0: never. */
    delay_warning_after: duration.prefault('4h'),
    /** How long a claim on a recipient holds before another worker may take it. */
    lease: duration.prefault('10m'),
    /** How often the queue is polled when nothing wakes it. */
    poll_interval: duration.prefault('1s'),
    /** Recipients claimed per scheduling round. */
    claim_batch: z.number().int().positive().default(500),
  }).prefault({}),
  webhooks: z.strictObject({
    /** Allow webhook URLs that resolve to loopback, private or link-local addresses (the SSRF guard off). */
    allow_private: z.boolean().default(false),
    /** One call to an endpoint: connect, request, response headers and the first KB of the body. */
    timeout: duration.prefault('10s'),
    /** Delay before attempt n+1 after n failed attempts; when it runs out the delivery has failed. */
    retry_schedule: z.array(duration).min(1).prefault(['5s', '5m', '30m', '2h', '5h', '10h', '10h']),
    /** Calls in flight to one endpoint. */
    max_concurrency_per_endpoint: z.number().int().positive().max(100).default(4),
    /** Calls in flight to all endpoints together. */
    max_concurrency: z.number().int().positive().max(10_000).default(64),
    /** An endpoint that has failed every call for this long is disabled (event webhook.disabled). */
    disable_after: duration.prefault('3d'),
  }).prefault({}),
  retention: z.strictObject({
    /** Events (and webhook delivery logs) older than this many days are deleted; 0 keeps them. */
    events_days: z.number().int().nonnegative().default(30),
    /** Message bodies of finished messages older than this many days are deleted; 0 keeps them. */
    bodies_days: z.number().int().nonnegative().default(7),
  }).prefault({}),
  database: z.strictObject({
    /**
     * Empty: SQLite at <data_dir>/postline.db (one node). `postgres://user:pass@host/db`: PostgreSQL,
     * which several nodes can share (docs/scaling.md). `sqlite:PATH` names another SQLite file.
     */
    url: z.string().nullable().default(null),
    /** PostgreSQL: connections per process (each node has two: the API/SMTP thread's and the delivery thread's pools). */
    pool_size: z.number().int().min(1).max(1000).default(10),
    /** PostgreSQL: how long to wait for a connection before answering "try again later" (SMTP 451 4.3.0, HTTP 503). */
    connect_timeout: duration.prefault('5s'),
    /** PostgreSQL: a statement running longer than this is cancelled (statement_timeout). */
    statement_timeout: duration.prefault('30s'),
  }).prefault({}),
  /** Bootstrap admin token; generated into <data_dir>/admin-token when unset. */
  admin_token: z.string().nullable().default(null),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).prefault({}),
  security: z.strictObject({
    /** Base64 of 32 random bytes: the AES-256-GCM key that encrypts webhook secrets (and DKIM keys) at rest. */
    secret_key: z.string().nullable().default(null),
    /** A file holding that key instead; when neither is set, <data_dir>/secret.key is generated (0600). */
    secret_key_file: z.string().nullable().default(null),
  }).prefault({}),
  /** Sending domains: DNS records suggested to tenants, DKIM keys, verification (src/domains/). */
  domains: z.strictObject({
    /** Send only from verified domains; false is for development and is logged loudly at start. */
    require_verified: z.boolean().default(true),
    /** Sign with an Ed25519 key (RFC 8463) as well as RSA; applies to domains added or rotated afterwards. */
    dkim_ed25519: z.boolean().default(false),
    /** Bits of new RSA DKIM keys; 1024 is allowed (RFC 8301 §3.2) but discouraged. */
    dkim_rsa_bits: z.union([z.literal(1024), z.literal(2048), z.literal(3072), z.literal(4096)]).default(2048),
    /** The name the suggested SPF record includes; null: `_spf.<hostname>`. */
    spf_include: z.string().regex(dnsName, 'expected a DNS name').nullable().default(null),
    /** `ip4:`/`ip6:` mechanisms or bare IPs (CIDR allowed); when set, the suggested SPF lists them instead of the include. */
    spf_ips: z.array(z.string().refine(isSpfIp, 'expected ip4:ADDR[/LEN], ip6:ADDR[/LEN] or an IP address')).default([]),
    /** The return-path host is `<prefix>.<domain>`. */
    return_path_prefix: z.string().regex(dnsLabel, 'expected one DNS label').default('pl-bounces'),
    /** What the return-path CNAME points to (this instance's MX name); null: `hostname`. */
    return_path_target: z.string().regex(dnsName, 'expected a DNS name').nullable().default(null),
    /** The rua= of the suggested DMARC record; null: `mailto:dmarc-reports@<hostname>`. */
    dmarc_rua: z.string().min(1).nullable().default(null),
    /** After rotation, how long the old DKIM key stays published (retiring) once the new one signs. */
    dkim_rotation_overlap: duration.prefault('7d'),
    /** How often every domain's DNS records are checked again (0: never). */
    recheck_interval: duration.prefault('1h'),
  }).prefault({}),
  /** Bounces, complaints and auto-replies coming back, and what is sent for them (src/feedback/). */
  feedback: z.strictObject({
    /**
     * VERP: each recipient goes out with its own envelope sender `<return_path_prefix>+<token>@<return-path host>`
     * once the domain's return-path host verified, so bounces are matched exactly (off: the submitted sender).
     */
    verp: z.boolean().default(true),
    /** Addresses on hosted domains where mailbox providers send ARF complaint reports (RFC 5965). */
    fbl_addresses: z.array(z.string().email()).default([]),
    /** RFC 9477 `CFBL-Address` header value added to tenant mail, e.g. `fbl@mta.example.com; report=arf`; null: none. */
    cfbl_address: z.string().min(3).nullable().default(null),
    /** Soft bounces (async soft reports, and expiries) of one address within `soft_bounce_window` that suppress it (0: never). */
    soft_bounce_limit: z.number().int().nonnegative().default(3),
    soft_bounce_window: duration.prefault('7d'),
    /** Prepend Authentication-Results (SPF, DKIM, DMARC; RFC 8601) to mail received on the MX listener. */
    authentication_results: z.boolean().default(true),
  }).prefault({}),
  /** The dashboard (web/, served at / by the HTTP listener) and its users' sign-in (src/web/). */
  web: z.strictObject({
    /** Serve the dashboard at `/` and accept dashboard sessions; off, only bearer tokens work. */
    enabled: z.boolean().default(true),
    /** A session ends this long after sign-in (not sliding: activity does not extend it). */
    session_ttl: duration.prefault('12h'),
    /** Session cookie `Secure` flag; null: set when the request arrived over TLS. */
    secure_cookie: z.boolean().nullable().default(null),
    /** Failed sign-ins from one client IP within `signin_block_duration` before it gets 429. */
    signin_max_failures_per_ip: z.number().int().positive().default(20),
    /** Failed sign-ins for one account (any IP) within `signin_block_duration` before it gets 429. */
    signin_max_failures_per_account: z.number().int().positive().default(5),
    /** How long failures are counted, and how long a refused IP or account stays refused. */
    signin_block_duration: duration.prefault('15m'),
  }).prefault({}),
  /** Outbound source addresses grouped into pools, and their warm-up (src/pools/, docs/configuration.md). */
  ip_pools: z.strictObject({
    /** Pools declared here (read-only through the API); more can be added with POST /api/v1/ip-pools. */
    pools: z.array(ipPoolSchema).default([]),
    /** Pool for mail whose tenant names none for its stream; null: no pool (the host's default address, EHLO = hostname). */
    default_pool: z.string().nullable().default(null),
    /** How often the delivery thread reads pools, tenant assignments and quotas again. */
    reload_interval: duration.prefault('5s'),
    warmup: z.strictObject({
      /** Messages (recipients) an IP may send on the UTC day it was added (day 0). */
      daily_start: z.number().int().positive().default(50),
      /** Factor the daily cap grows by each day: cap(day) = daily_start × daily_growth^day. */
      daily_growth: z.number().min(1).default(1.4),
      /** Once the cap reaches this many per day the IP is warm: no cap any more. */
      daily_full: z.number().int().positive().default(100_000),
      /** At most this share of the day's cap in one UTC hour (1: no hourly cap). */
      hourly_share: z.number().positive().max(1).default(1),
    }).prefault({}),
  }).prefault({}),
  /** Pacing per destination (recipient domain, or MX provider) and source IP; adaptive back-off (src/pools/). */
  throttling: z.strictObject({
    /** A delivery over a limit waits this long at most for its turn; beyond it, it is deferred to that time. */
    max_wait: duration.prefault('5s'),
    /** Limits per source IP for destinations no provider or domain entry matches; null: the `delivery.*` value. */
    default: throttleLimitsSchema.prefault({}),
    /** Replaces the built-in provider list (Google, Microsoft, Yahoo; docs/configuration.md) when set. */
    providers: z.array(throttleProviderSchema).nullable().default(null),
    /** Per recipient domain limits, e.g. `{ "example.com": { max_connections: 2 } }`; beat providers. */
    domains: z.record(z.string(), throttleLimitsSchema).default({}),
    /** After a rate-limit or reputation reply (421, 4.7.x, "try again later"): how long that IP goes slow to that destination. */
    backoff_duration: duration.prefault('15m'),
    /** Meanwhile: connections from that IP to that destination, and messages per minute. */
    backoff_max_connections: z.number().int().positive().default(1),
    backoff_messages_per_minute: z.number().positive().default(2),
    /** After a 5.7.x block of an IP: how long that IP is not used for that destination. */
    block_duration: duration.prefault('1h'),
  }).prefault({}),
  /** Outbound TLS policy: MTA-STS (RFC 8461) and the plaintext fallback (src/delivery/mta-sts.ts). */
  tls_policy: z.strictObject({
    /** Look up and apply MTA-STS policies of recipient domains (not for a relayhost). */
    mta_sts: z.boolean().default(true),
    /** HTTPS port of the policy host `mta-sts.<domain>` (RFC 8461 §3.3 says 443; tests use another). */
    mta_sts_port: z.number().int().min(1).max(65535).default(443),
    /** Whole policy fetch (connect, TLS, response). */
    mta_sts_timeout: duration.prefault('10s'),
    /** Extra CA certificates (PEM file) trusted for policy hosts and MX certificates, beside the system roots. */
    ca_file: z.string().nullable().default(null),
    /** A failed STARTTLS handshake is retried once in plaintext on the same host unless a policy requires TLS. */
    plaintext_fallback: z.boolean().default(true),
  }).prefault({}),
  /** Bulk mail: contacts, campaigns, pacing, tracking and unsubscribe links (src/campaigns/). */
  campaigns: z.strictObject({
    /** Run the campaign runner (expansion into the queue) in this process; off: campaigns wait. */
    runner: z.boolean().default(true),
    /** How often the runner wakes to queue the next batch of each sending campaign. */
    tick_interval: duration.prefault('250ms'),
    /** Base URL of the public unsubscribe (/u/…) and tracking (/t/…) links; null: `https://<hostname>`. */
    public_url: z.url({ protocol: /^https?$/ }).nullable().default(null),
    /** Open and click tracking of new broadcast campaigns unless the campaign says otherwise. */
    track_opens: z.boolean().default(true),
    track_clicks: z.boolean().default(true),
    /** Send rate of a campaign that names none (messages per minute), and the highest rate allowed. */
    default_rate_per_minute: z.number().int().positive().default(1000),
    max_rate_per_minute: z.number().int().positive().default(1_000_000),
    /** A running campaign pauses itself when its bounce or complaint rate passes these (0: never). */
    auto_pause_bounce_rate: z.number().min(0).max(1).default(0.1),
    auto_pause_complaint_rate: z.number().min(0).max(1).default(0.005),
    /** … once at least this many of its messages have a final outcome. */
    auto_pause_min_outcomes: z.number().int().positive().default(200),
    /** Ledger rows of finished campaigns are deleted this long after they were written (0: kept). */
    ledger_retention: duration.prefault('30d'),
    /** A click this soon after delivery is counted as a link scanner's (machine), not a person's. */
    scanner_click_window: duration.prefault('10s'),
  }).prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
