// Outbound connections shared by all deliveries: reuse per MX address, per-destination and
// global limits with a FIFO wait queue, MX fallback (RFC 5321 §5.1), idle expiry on one
// coarse ticker. Each connection belongs to the destination that opened it, so the
// per-destination count is exact; two domains sharing an MX do not share connections.
// With IP pools a destination's limit is per source address: connections from different
// local addresses are separate (keys and counts include the address), and each host of a
// target may name the address to bind, the EHLO name to use from it, and the TLS it needs.
import { performance } from 'node:perf_hooks';
import { DeliveryError, DeliveryErrorCodes, toDeliveryError } from './delivery-error.ts';
import { SmtpClient, settleAll } from './smtp-client.ts';
import type { OutboundMessage, RecipientOutcome, TransactionResult } from './smtp-client.ts';

import type { AttemptReport, DeliveryHost, DeliveryResult, DeliveryTarget, PoolOptions, TlsRequirement } from './delivery-target.ts';

export type { OutboundMessage, OutboundRecipient, RecipientOutcome } from './smtp-client.ts';
export type { AttemptReport, DeliveryHost, DeliveryResult, DeliveryTarget, PoolLogger, PoolOptions, TlsRequirement } from './delivery-target.ts';

interface Entry {
  readonly key: string;
  /** The per-destination slot: destination, plus the source address when one is bound. */
  readonly destination: string;
  readonly maxMessages: number;
  /** Opened in plaintext after a failed handshake (reported on reuse too). */
  fallback: boolean;
  client: SmtpClient | null;
  /** 'closing' still counts against the limits: the remote sees it until the socket closes. */
  state: 'opening' | 'busy' | 'idle' | 'closing' | 'closed';
  idleSince: number;
}

interface Lease {
  readonly entry: Entry;
  readonly reused: boolean;
}

interface Waiter {
  readonly destination: string;
  readonly key: string;
  readonly limit: Limit;
  readonly grant: (lease: Lease | DeliveryError) => void;
}

interface Limit {
  readonly connections: number;
  readonly messages: number;
}

type HostResult = { kind: 'done'; transaction: TransactionResult } | { kind: 'failed'; error: DeliveryError };

// Idle expiry resolution: connections live between idleTimeoutMs and idleTimeoutMs + 1 s.
const TICK_MS = 1_000;

/** Outbound SMTP connections with reuse, limits and MX fallback. */
export class ConnectionPool {
  readonly #options: Readonly<PoolOptions>;
  readonly #entries = new Set<Entry>();
  readonly #perDestination = new Map<string, number>();
  /** Idle entries, oldest first (Set keeps insertion order). */
  readonly #idle = new Set<Entry>();
  readonly #waiters: Waiter[] = [];
  /** How many waiters each host key and each destination has: a pass stops once it refused all of them. */
  readonly #waitingKeys = new Map<string, number>();
  readonly #waitingDestinations = new Map<string, number>();
  readonly #shutdown = new AbortController();
  #ticker: NodeJS.Timeout | null = null;
  #closing = false;
  #drained: (() => void) | null = null;

  constructor(options: PoolOptions) {
    this.#options = Object.freeze({ ...options });
  }

  /**
   * Delivers one message to every recipient in one transaction, trying the hosts in order.
   * Never rejects for SMTP or network trouble: every recipient gets an outcome.
   */
  async deliver(target: DeliveryTarget, message: OutboundMessage, signal?: AbortSignal): Promise<DeliveryResult> {
    const started = performance.now();
    const attempt: AttemptReport = {
      mxHost: null, address: null, port: this.#options.port, tlsVersion: null, tlsCipher: null,
      durationMs: 0, reusedConnection: false, remoteSupportsDsn: false, localAddress: null, tlsOutcome: null, tlsAuthorized: null, tlsAuthError: null, errors: [],
    };
    const done = (outcomes: RecipientOutcome[]): DeliveryResult => {
      attempt.durationMs = Math.round(performance.now() - started);
      return { outcomes, attempt };
    };
    if (message.recipients.length === 0) return done([]);
    const combined = signal ? AbortSignal.any([signal, this.#shutdown.signal]) : this.#shutdown.signal;
    let last = new DeliveryError(DeliveryErrorCodes.ConnectFailed, `no host to deliver to for ${target.destination}`);
    try {
      if (this.#closing) throw new DeliveryError(DeliveryErrorCodes.PoolUnavailable, 'connection pool is closed');
      const limit: Limit = {
        connections: target.maxConnections ?? this.#options.maxConnectionsPerDestination,
        messages: target.maxMessagesPerConnection ?? this.#options.maxMessagesPerConnection,
      };
      for (const host of target.hosts) {
        const result = await this.#tryHost(target.destination, host, message, combined, attempt, limit);
        if (result.kind === 'done') return done(result.transaction.outcomes);
        last = result.error;
        attempt.errors.push({ host: host.host, address: host.address, message: last.message });
        this.#options.logger?.info({ destination: target.destination, host: host.host, address: host.address, code: last.code, err: last.message }, 'delivery host failed');
        // A 5yz greeting refuses this host's service, not the mail: try the next MX, as
        // Postfix does (smtp_skip_5xx_greeting); only the last host's 5yz bounces. Aborts end the attempt.
        if (last.code === DeliveryErrorCodes.Aborted || last.code === DeliveryErrorCodes.PoolUnavailable) break;
      }
    } catch (err) {
      last = toDeliveryError(err);
    }
    return done(settleAll(message, last, { undecided: true }).outcomes);
  }

  stats(): { open: number; busy: number; idle: number; perDestination: Record<string, number> } {
    return {
      open: this.#entries.size,
      busy: this.#entries.size - this.#idle.size,
      idle: this.#idle.size,
      perDestination: Object.fromEntries(this.#perDestination),
    };
  }

  /** QUITs idle connections, lets busy ones finish (up to closeTimeoutMs), then aborts them. */
  async close(): Promise<void> {
    this.#closing = true;
    const waiters = this.#waiters.splice(0);
    this.#waitingKeys.clear();
    this.#waitingDestinations.clear();
    for (const waiter of waiters) {
      waiter.grant(new DeliveryError(DeliveryErrorCodes.PoolUnavailable, 'connection pool is closing'));
    }
    for (const entry of [...this.#idle]) this.#retire(entry, 'quit');
    this.#stopTicker();
    if (this.#entries.size > 0) {
      const drained = new Promise<void>((resolve) => (this.#drained = resolve));
      const timer = setTimeout(() => {
        this.#shutdown.abort(new DeliveryError(DeliveryErrorCodes.PoolUnavailable, 'connection pool closed'));
        for (const entry of this.#entries) entry.client?.destroy();
      }, this.#options.closeTimeoutMs ?? 10_000);
      await drained;
      clearTimeout(timer);
    }
  }

  async #tryHost(destination: string, host: DeliveryHost, message: OutboundMessage, signal: AbortSignal, attempt: AttemptReport, limit: Limit): Promise<HostResult> {
    const port = host.port ?? this.#options.port;
    const localAddress = host.localAddress ?? this.#options.localAddress;
    const tlsMode = host.tls ?? 'opportunistic';
    // Per source address: connections from different IPs count and are reused separately.
    const slot = localAddress ? `${destination}|${localAddress}` : destination;
    const key = `${destination}|${host.host}|${host.address}|${port}|${localAddress ?? ''}|${host.ehloName ?? ''}|${tlsMode}`;
    Object.assign(attempt, {
      mxHost: host.host, address: host.address, port, tlsVersion: null, tlsCipher: null, reusedConnection: false, remoteSupportsDsn: false,
      localAddress: localAddress ?? null, tlsOutcome: null, tlsAuthorized: null, tlsAuthError: null,
    });
    // A reused connection may have been closed by the remote meanwhile: then one fresh try.
    for (let tries = 0; tries < 2; tries++) {
      let lease: Lease;
      try {
        lease = await this.#acquire(slot, key, signal, limit);
      } catch (err) {
        return { kind: 'failed', error: toDeliveryError(err) };
      }
      const { entry, reused } = lease;
      let client: SmtpClient;
      try {
        client = reused ? entry.client! : await this.#openWithFallback(entry, host, localAddress, port, tlsMode, signal);
        // RFC 5321 §4.1.1.5: clear the previous transaction on a reused connection.
        if (reused && client.transactions > 0) await client.reset(signal);
      } catch (err) {
        this.#release(entry, false);
        const error = toDeliveryError(err);
        if (reused && error.code !== DeliveryErrorCodes.Aborted) {
          this.#dropIdle(key);
          continue;
        }
        return { kind: 'failed', error };
      }
      // Checked only where an MTA-STS policy applies (host.tls set): it costs a certificate parse per transaction.
      const verification = client.secure && host.tls ? client.verifyCertificate() : null;
      Object.assign(attempt, {
        reusedConnection: reused, tlsVersion: client.tlsVersion, tlsCipher: client.tlsCipher, remoteSupportsDsn: client.supportsDsn,
        tlsAuthorized: verification?.authorized ?? null, tlsAuthError: verification?.error ?? null,
        tlsOutcome: client.secure ? (verification?.authorized && tlsMode === 'verify' ? 'starttls-verified' : 'starttls') : entry.fallback ? 'plaintext-after-tls-failure' : 'plaintext',
      });
      const transaction = await client.send(message, signal);
      this.#release(entry, !client.closed && client.transactions < entry.maxMessages);
      // Nothing was decided by the remote (421 on MAIL, dropped before any RCPT reply).
      if (transaction.undecided && transaction.error && transaction.error.code !== DeliveryErrorCodes.Aborted) {
        if (reused && tries === 0) {
          this.#dropIdle(key);
          continue;
        }
        return { kind: 'failed', error: transaction.error };
      }
      return { kind: 'done', transaction };
    }
    return { kind: 'failed', error: new DeliveryError(DeliveryErrorCodes.ConnectionLost, `connection to ${host.host} [${host.address}] failed twice`) };
  }

  // RFC 3207 §4.1 leaves a failed handshake to the client: where nothing requires TLS
  // (no MTA-STS enforce) one plaintext session on the same host is better than none; the
  // attempt records it (tls_outcome plaintext-after-tls-failure).
  async #openWithFallback(entry: Entry, host: DeliveryHost, localAddress: string | undefined, port: number, tlsMode: TlsRequirement, signal: AbortSignal): Promise<SmtpClient> {
    try {
      return await this.#open(entry, host, localAddress, port, tlsMode, signal);
    } catch (err) {
      const error = toDeliveryError(err);
      if (error.code !== DeliveryErrorCodes.TlsFailed || tlsMode === 'verify' || !this.#options.plaintextFallback) throw error;
      entry.fallback = true;
      try {
        return await this.#open(entry, host, localAddress, port, 'plaintext', signal);
      } catch (second) {
        const again = toDeliveryError(second);
        throw new DeliveryError(error.code, `${error.message}; plaintext retry: ${again.message}`, { ...error, cause: error.cause });
      }
    }
  }

  async #open(entry: Entry, host: DeliveryHost, localAddress: string | undefined, port: number, tls: TlsRequirement | 'plaintext', signal: AbortSignal): Promise<SmtpClient> {
    const o = this.#options;
    const client = await SmtpClient.connect({
      host: host.host, address: host.address, port, ehloName: host.ehloName ?? o.ehloName, localAddress,
      connectTimeoutMs: o.connectTimeoutMs, greetingTimeoutMs: o.greetingTimeoutMs,
      commandTimeoutMs: o.commandTimeoutMs, dataTimeoutMs: o.dataTimeoutMs,
      tls, tlsCa: o.tlsCa,
    }, signal);
    entry.client = client;
    entry.state = 'busy';
    client.onClose(() => this.#forget(entry));
    o.logger?.debug({ host: host.host, address: host.address, port, localAddress, tls: client.tlsVersion }, 'smtp connection opened');
    return client;
  }

  // An idle connection to this host, else a new slot within the limits, else wait (FIFO).
  #acquire(destination: string, key: string, signal: AbortSignal, limit: Limit): Promise<Lease> {
    if (signal.aborted) return Promise.reject(new DeliveryError(DeliveryErrorCodes.Aborted, 'delivery aborted', { cause: signal.reason }));
    const lease = this.#tryAcquire(destination, key, limit);
    if (lease) return Promise.resolve(lease);
    if (this.#waiters.length >= (this.#options.maxWaiting ?? 10_000)) {
      return Promise.reject(new DeliveryError(DeliveryErrorCodes.PoolUnavailable, 'too many deliveries waiting for a connection'));
    }
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#removeWaiter(index);
        reject(new DeliveryError(DeliveryErrorCodes.Aborted, 'delivery aborted while waiting for a connection', { cause: signal.reason }));
      };
      const waiter: Waiter = {
        destination, key, limit,
        grant: (granted) => {
          signal.removeEventListener('abort', onAbort);
          if (granted instanceof DeliveryError) reject(granted);
          else resolve(granted);
        },
      };
      this.#waiters.push(waiter);
      count(this.#waitingKeys, key, 1);
      count(this.#waitingDestinations, destination, 1);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #tryAcquire(destination: string, key: string, limit: Limit, reuseOnly = false): Lease | null {
    // The most recently used idle connection to the same host first (warmest).
    let match: Entry | undefined;
    for (const entry of this.#idle) if (entry.key === key) match = entry;
    if (match) {
      this.#idle.delete(match);
      match.state = 'busy';
      return { entry: match, reused: true };
    }
    if (reuseOnly) return null;
    const perDestination = this.#perDestination.get(destination) ?? 0;
    if (perDestination >= limit.connections) {
      // At the destination's limit: an idle connection of it to another MX makes room once
      // it has closed (one at a time; the waiter gets the slot when it is free).
      if (!this.#closingFor(destination)) {
        const other = [...this.#idle].find((e) => e.destination === destination);
        if (other) this.#retire(other, 'quit');
      }
      return null;
    }
    if (this.#entries.size >= this.#options.maxConnections) {
      // At the global limit: the longest idle connection anywhere makes room.
      const oldest = this.#idle.values().next().value;
      if (oldest && !this.#closingFor(null)) this.#retire(oldest, 'quit');
      return null;
    }
    const entry: Entry = { key, destination, maxMessages: limit.messages, fallback: false, client: null, state: 'opening', idleSince: 0 };
    this.#entries.add(entry);
    this.#perDestination.set(destination, (this.#perDestination.get(destination) ?? 0) + 1);
    return { entry, reused: false };
  }

  #release(entry: Entry, reusable: boolean): void {
    if (entry.state !== 'busy' && entry.state !== 'opening') return;
    if (reusable && !this.#closing && entry.client && !entry.client.closed) {
      entry.state = 'idle';
      entry.idleSince = performance.now();
      this.#idle.add(entry);
      this.#startTicker();
      this.#dispatch();
    } else {
      this.#retire(entry, 'quit');
    }
  }

  // Closes a connection; its slot stays taken until the socket has closed (#forget).
  #retire(entry: Entry, how: 'quit' | 'destroy'): void {
    if (entry.state === 'closing' || entry.state === 'closed') return;
    this.#idle.delete(entry);
    if (this.#idle.size === 0) this.#stopTicker();
    const client = entry.client;
    if (!client) return this.#forget(entry);
    entry.state = 'closing';
    if (how === 'quit') client.quit();
    else client.destroy();
  }

  // The connection is gone: free its slot; idempotent.
  #forget(entry: Entry): void {
    if (entry.state === 'closed') return;
    entry.state = 'closed';
    this.#entries.delete(entry);
    this.#idle.delete(entry);
    if (this.#idle.size === 0) this.#stopTicker();
    const count = (this.#perDestination.get(entry.destination) ?? 1) - 1;
    if (count > 0) this.#perDestination.set(entry.destination, count);
    else this.#perDestination.delete(entry.destination);
    if (this.#entries.size === 0 && this.#drained) this.#drained();
    this.#dispatch();
  }

  // One stale connection to a host (restarted, idle-closed) suggests the others are too.
  #dropIdle(key: string): void {
    for (const entry of [...this.#idle]) if (entry.key === key) this.#retire(entry, 'destroy');
  }

  // A connection already closing in this scope will free a slot: do not close another.
  #closingFor(destination: string | null): boolean {
    for (const entry of this.#entries) {
      if (entry.state === 'closing' && (destination === null || entry.destination === destination)) return true;
    }
    return false;
  }

  // Serves waiters in arrival order; one that cannot proceed yet does not block others.
  // Waiters that can reuse an idle connection go first, so a connection is not closed to
  // make room while someone wants it; maxMessagesPerConnection bounds how long that lasts.
  #dispatch(): void {
    if (this.#waiters.length === 0) return;
    if (this.#idle.size > 0) this.#serve(true);
    this.#serve(false);
  }

  // With thousands of waiters (a large queue to one destination) a pass must not try each
  // one: once a waiter of a host (reuse pass) or of a destination (new-connection pass) is
  // refused, every later waiter of it would be refused for the same reason in this pass, and
  // once the global limit refuses one, it refuses all. Skipping them keeps a release O(1)
  // for the common case instead of O(waiters).
  // Skipping still walks the list, though: so a pass also ends once every group that has a
  // waiter was refused (measured: with ~2,000 waiters for one sink the walk was 13 % of the
  // delivery thread's CPU).
  #serve(reuseOnly: boolean): void {
    const refused = new Set<string>();
    const groups = reuseOnly ? this.#waitingKeys : this.#waitingDestinations;
    for (let i = 0; i < this.#waiters.length; ) {
      const waiter = this.#waiters[i];
      const group = reuseOnly ? waiter.key : waiter.destination;
      if (refused.has(group)) {
        i++;
        continue;
      }
      const lease = this.#tryAcquire(waiter.destination, waiter.key, waiter.limit, reuseOnly);
      if (!lease) {
        if (!reuseOnly && this.#entries.size >= this.#options.maxConnections) return;
        refused.add(group);
        if (refused.size >= groups.size) return;
        i++;
        continue;
      }
      this.#removeWaiter(i);
      waiter.grant(lease);
    }
  }

  #removeWaiter(index: number): void {
    const [waiter] = this.#waiters.splice(index, 1);
    count(this.#waitingKeys, waiter.key, -1);
    count(this.#waitingDestinations, waiter.destination, -1);
  }

  #startTicker(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => this.#expireIdle(), Math.min(TICK_MS, this.#options.idleTimeoutMs));
    this.#ticker.unref();
  }

  #stopTicker(): void {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = null;
  }

  #expireIdle(): void {
    const cutoff = performance.now() - this.#options.idleTimeoutMs;
    for (const entry of [...this.#idle]) {
      if (entry.idleSince > cutoff) break; // oldest first: the rest are younger
      this.#retire(entry, 'quit');
    }
  }
}

/** Adds `by` to `name`'s count, dropping it at 0. */
function count(counts: Map<string, number>, name: string, by: number): void {
  const n = (counts.get(name) ?? 0) + by;
  if (n > 0) counts.set(name, n);
  else counts.delete(name);
}
