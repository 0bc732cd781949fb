// What the connection pool is given and what it reports: its options, a delivery target
// (destination, hosts in MX order, each with the source address and TLS it needs) and the
// report of one attempt.
import type { RecipientOutcome } from './smtp-client.ts';

export interface PoolLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface PoolOptions {
  /** RFC 5321 §4.1.1.1: our name in EHLO. */
  ehloName: string;
  /** Remote port when a host names none (25). */
  port: number;
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  /** Each command's reply (EHLO, MAIL, RCPT, RSET), measured as socket inactivity. */
  commandTimeoutMs: number;
  /** DATA: inactivity while the body is sent, then the wait for the final reply. */
  dataTimeoutMs: number;
  /** Per destination key (the recipient domain, or the relayhost). */
  maxConnectionsPerDestination: number;
  maxConnections: number;
  maxMessagesPerConnection: number;
  /** Idle reusable connection closed after this; checked about once a second. */
  idleTimeoutMs: number;
  localAddress?: string;
  /** Extra CA certificates (PEM) trusted when a host needs a verified certificate (MTA-STS), beside the system roots. */
  tlsCa?: readonly string[];
  /** A failed STARTTLS handshake is retried once in plaintext on the same host when the host does not require TLS. */
  plaintextFallback?: boolean;
  /** Deliveries that may wait for a connection at once; more are deferred (default 10,000). */
  maxWaiting?: number;
  /** How long close() waits for busy connections before aborting them (default 10 s). */
  closeTimeoutMs?: number;
  logger?: PoolLogger;
}

/**
 * `opportunistic`: STARTTLS when offered, any certificate (RFC 7435). `verify`: STARTTLS
 * required and the certificate must be valid for the MX name (RFC 8461 §4.2, MTA-STS enforce).
 */
export type TlsRequirement = 'opportunistic' | 'verify';

export interface DeliveryHost {
  host: string;
  address: string;
  port?: number;
  /** Source address to bind (IP pools); absent: the pool's localAddress, else the system's choice. */
  localAddress?: string;
  /** RFC 5321 §4.1.1.1: the EHLO name used from that address; absent: the pool's ehloName. */
  ehloName?: string;
  tls?: TlsRequirement;
}

export interface DeliveryTarget {
  /** Key for the per-destination limit (recipient domain, or MX provider). */
  destination: string;
  /** In the order to try (already MX-sorted). `host` is the MX name, for logs and SNI. */
  hosts: ReadonlyArray<DeliveryHost>;
  /** Connections per source address to this destination; default maxConnectionsPerDestination. */
  maxConnections?: number;
  /** Default maxMessagesPerConnection. */
  maxMessagesPerConnection?: number;
}

export interface AttemptReport {
  mxHost: string | null;
  address: string | null;
  port: number;
  tlsVersion: string | null;
  tlsCipher: string | null;
  durationMs: number;
  reusedConnection: boolean;
  remoteSupportsDsn: boolean;
  /** The local address the deciding connection was bound to (null: the system's choice). */
  localAddress: string | null;
  /** starttls, starttls-verified, plaintext, plaintext-after-tls-failure; null when no session was set up. */
  tlsOutcome: string | null;
  /** Whether the certificate chains to a trusted root and names the MX host (null in plaintext). */
  tlsAuthorized: boolean | null;
  tlsAuthError: string | null;
  /** Hosts that failed before the one that decided (or all of them). */
  errors: Array<{ host: string; address: string; message: string }>;
}

export interface DeliveryResult {
  outcomes: RecipientOutcome[];
  attempt: AttemptReport;
}
