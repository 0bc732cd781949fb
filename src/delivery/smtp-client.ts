// One outbound SMTP connection and the transactions run over it, on nodemailer's
// SMTPConnection (EHLO with HELO fallback, STARTTLS, PIPELINING, dot-stuffing). The pool
// decides where and when to connect; this file decides what one reply means for a recipient.
import net from 'node:net';
import tls from 'node:tls';
import { PassThrough, pipeline } from 'node:stream';
import { DeliveryError, DeliveryErrorCodes, toDeliveryError } from './delivery-error.ts';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Envelope } from 'nodemailer/lib/smtp-connection';
import { parseSmtpReply } from './smtp-reply.ts';
import { secureContextFor } from './tls-trust.ts';

export interface OutboundRecipient {
  readonly id: number | string;
  readonly address: string;
  /** RFC 3461 §4.1 NOTIFY values, e.g. ['FAILURE', 'DELAY']. */
  readonly notify?: readonly string[] | null;
  /** RFC 3461 §4.2 ORCPT, decoded: 'rfc822;user@example.com' or a bare address. */
  readonly orcpt?: string | null;
}

export interface OutboundMessage {
  /** '' for the null reverse-path (bounces, RFC 5321 §4.5.5). */
  readonly mailFrom: string;
  readonly recipients: readonly OutboundRecipient[];
  /** Bytes, for RFC 1870 SIZE. */
  readonly size: number;
  /** Called once per attempt; must return a fresh stream (or the bytes) each call. */
  readonly body: () => NodeJS.ReadableStream | Buffer;
  readonly envid?: string | null;
  readonly ret?: 'FULL' | 'HDRS' | null;
  readonly smtputf8?: boolean;
  readonly eightBitMime?: boolean;
  /** RFC 8689: only over verified TLS to a host that advertises REQUIRETLS, and MAIL FROM carries it. */
  readonly requireTls?: boolean;
}

export interface RecipientOutcome {
  readonly id: number | string;
  readonly status: 'delivered' | 'deferred' | 'bounced';
  readonly smtpCode: number | null;
  readonly enhanced: string | null;
  /** The remote's reply as received, or our error text when no reply decided it. */
  readonly response: string;
}

export interface TransactionResult {
  /** One per message recipient, in the message's order. */
  readonly outcomes: RecipientOutcome[];
  /** What failed the transaction as a whole (MAIL, DATA, timeout, lost connection); null on success. */
  readonly error: DeliveryError | null;
  /** True when the remote decided nothing (no recipient answered): another host may be tried. */
  readonly undecided: boolean;
}

export interface SmtpClientOptions {
  /** The MX name: TLS server name (SNI) and logs. */
  readonly host: string;
  /** The IP address to connect to. */
  readonly address: string;
  readonly port: number;
  /** RFC 5321 §4.1.1.1: our name in EHLO/HELO. */
  readonly ehloName: string;
  readonly localAddress?: string;
  readonly connectTimeoutMs: number;
  readonly greetingTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly dataTimeoutMs: number;
  /**
   * `opportunistic` (default): STARTTLS when offered, any certificate (RFC 7435).
   * `verify`: STARTTLS required, certificate valid for `host` (RFC 8461 §4.2), else TlsFailed.
   * `plaintext`: no STARTTLS (the retry after a failed handshake).
   */
  readonly tls?: 'opportunistic' | 'verify' | 'plaintext';
  /** Extra trusted CA certificates (PEM), beside the system roots. */
  readonly tlsCa?: readonly string[];
}

type Phase = 'connect' | 'MAIL FROM/RCPT TO' | 'DATA' | 'RSET';

/** A connected SMTP session. `connect` and `reset` throw DeliveryError; `send` never throws for remote trouble. */
export class SmtpClient {
  readonly #options: SmtpClientOptions;
  readonly #conn: PostlineConnection;
  /** The TCP socket under nodemailer (and under TLS): its 'close' is the ground truth. */
  readonly #socket: net.Socket;
  /** No further commands: QUIT sent, destroyed, or nodemailer gave up on the session. */
  #unusable = false;
  #onClose: Array<() => void> = [];
  /** Transactions started on this connection (RFC 5321 §4.1.4: RSET before the next). */
  transactions = 0;

  private constructor(options: SmtpClientOptions, conn: PostlineConnection, socket: net.Socket) {
    this.#options = options;
    this.#conn = conn;
    this.#socket = socket;
    // Without a listener an 'error' on an idle connection would crash the process.
    conn.on('error', () => (this.#unusable = true));
    conn.on('end', () => (this.#unusable = true));
    socket.once('close', () => {
      this.#unusable = true;
      for (const listener of this.#onClose.splice(0)) listener();
    });
  }

  /** Opens TCP, reads the greeting, EHLO, opportunistic STARTTLS (RFC 7435), EHLO again. */
  static async connect(options: SmtpClientOptions, signal?: AbortSignal): Promise<SmtpClient> {
    const socket = await openSocket(options, signal);
    const servername = net.isIP(options.host) ? undefined : options.host.replace(/\.$/, '');
    const mode = options.tls ?? 'opportunistic';
    const secureContext = secureContextFor(options.tlsCa);
    const conn = new PostlineConnection({
      connection: socket,
      host: options.address,
      port: options.port,
      servername,
      name: options.ehloName,
      // RFC 7435 §3: opportunistic TLS takes any certificate, and a refused STARTTLS
      // continues in plaintext; a failed handshake fails this host (RFC 3207 §4.1) unless the
      // pool retries it in plaintext. RFC 8461 §4.2 (MTA-STS enforce): STARTTLS is required
      // and the certificate must chain to a trusted root and name the MX host.
      opportunisticTLS: mode === 'opportunistic',
      requireTLS: mode === 'verify',
      ignoreTLS: mode === 'plaintext',
      tls: mode === 'verify'
        ? { rejectUnauthorized: true, servername, secureContext, checkServerIdentity: (name: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(servername ?? name, cert) }
        : { rejectUnauthorized: false, servername, secureContext },
      greetingTimeout: options.greetingTimeoutMs,
      // Bounds the whole setup: greeting, EHLO, STARTTLS handshake, second EHLO.
      connectionTimeout: options.greetingTimeoutMs + 3 * options.commandTimeoutMs,
      // Inactivity during setup (EHLO replies); reset per phase once connected.
      socketTimeout: Math.max(options.greetingTimeoutMs, options.commandTimeoutMs),
      socketCloseTimeout: 2_000,
      logger: false,
    });
    const client = new SmtpClient(options, conn, socket);
    try {
      await client.#run('connect', signal, (done) => conn.connect((err) => done(err ?? null)));
    } catch (err) {
      client.destroy();
      throw err;
    }
    client.#setIdleTimeout(0);
    return client;
  }

  /** True once the connection can take no further command (it may still be closing). */
  get closed(): boolean {
    return this.#unusable || this.#conn.destroyed || this.#socket.destroyed;
  }
  get secure(): boolean {
    return this.#conn.secure;
  }
  /** e.g. 'TLSv1.3', null in plaintext. */
  get tlsVersion(): string | null {
    return this.#conn.secure ? (this.#tlsSocket()?.getProtocol() ?? null) : null;
  }
  get tlsCipher(): string | null {
    return this.#conn.secure ? (this.#tlsSocket()?.getCipher()?.name ?? null) : null;
  }
  /**
   * Whether the remote's certificate chains to a trusted root (system roots plus tlsCa) and
   * names the MX host (RFC 6125 via tls.checkServerIdentity); for MTA-STS `testing` reports.
   */
  verifyCertificate(): { authorized: boolean; error: string | null } {
    const socket = this.#tlsSocket();
    if (!socket) return { authorized: false, error: 'no TLS session' };
    if (!socket.authorized) return { authorized: false, error: String(socket.authorizationError ?? 'certificate not trusted') };
    const name = net.isIP(this.#options.host) ? null : this.#options.host.replace(/\.$/, '');
    const mismatch = name ? tls.checkServerIdentity(name, socket.getPeerCertificate()) : new Error('MX host has no name to check the certificate against');
    return mismatch ? { authorized: false, error: mismatch.message } : { authorized: true, error: null };
  }

  /** RFC 3461 §4: the remote announced DSN. */
  get supportsDsn(): boolean {
    return this.#conn.extensions.includes('DSN');
  }

  /** Called once when the TCP connection has closed, for whatever reason. */
  onClose(listener: () => void): void {
    if (this.#socket.closed) queueMicrotask(listener);
    else this.#onClose.push(listener);
  }

  /** RFC 5321 §4.1.1.5: RSET clears the previous transaction before the next on a reused connection. */
  async reset(signal?: AbortSignal): Promise<void> {
    try {
      await this.#run('RSET', signal, (done) => this.#conn.reset((err) => done(err)));
    } catch (err) {
      this.destroy();
      throw err;
    }
    this.#setIdleTimeout(0);
  }

  /** Runs one transaction for every recipient of the message (RFC 5321 §3.3). */
  async send(message: OutboundMessage, signal?: AbortSignal): Promise<TransactionResult> {
    this.transactions++;
    const addresses = [...new Set(message.recipients.map((r) => r.address))];
    const precheck = this.#precheck(message, addresses);
    if (precheck) return settleAll(message, precheck, { undecided: false });

    this.#conn.prepareTransaction({
      requireTls: message.requireTls === true,
      smtputf8: needsSmtputf8(message, addresses),
      rcptArgs: addresses.map((address) => dsnRcptArgs(message.recipients.find((r) => r.address === address))),
    });
    const envelope: Envelope = {
      from: message.mailFrom,
      to: addresses,
      size: message.size,
      // RFC 6152: BODY=8BITMIME when offered. TODO(RFC 6152 §3): a remote without 8BITMIME
      // gets the 8-bit body as is (as Postfix does); downgrading would break DKIM signatures.
      use8BitMime: message.eightBitMime === true,
      // RFC 3461 §4.3/§4.4: RET and ENVID on MAIL FROM; nodemailer adds them only when the remote announced DSN.
      dsn: message.envid || message.ret ? { envid: message.envid ?? null, ret: message.ret ?? null } : undefined,
    };
    let phase: Phase = 'MAIL FROM/RCPT TO';
    // nodemailer pipes the body after the 354 reply: only then is the message opened, and
    // from then on the DATA timeout applies. Streamed, never buffered whole.
    const body = new PassThrough();
    body.once('resume', () => {
      phase = 'DATA';
      this.#setIdleTimeout(this.#options.dataTimeoutMs);
      feedBody(message, body);
    });
    this.#setIdleTimeout(this.#options.commandTimeoutMs);
    let info: { response?: string } | undefined;
    let failure: DeliveryError | null = null;
    try {
      info = await this.#run(() => phase, signal, (done) => this.#conn.send(envelope, body, done));
    } catch (err) {
      failure = toDeliveryError(err);
    }
    body.destroy();
    // A session that failed without a reply (timeout, lost, aborted) is in an unknown state.
    if (this.closed || (failure && failure.smtpCode === undefined)) this.destroy();
    else this.#setIdleTimeout(0);
    return this.#outcomes(message, envelope, info?.response ?? '', failure);
  }

  /** RFC 5321 §4.1.1.10: QUIT, then close; never waits. */
  quit(): void {
    if (this.closed) return this.destroy();
    this.#unusable = true;
    this.#setIdleTimeout(0);
    this.#conn.quit();
    // A server that never answers QUIT must not hold the socket.
    const timer = setTimeout(() => this.destroy(), this.#options.commandTimeoutMs);
    this.#socket.once('close', () => clearTimeout(timer));
  }

  /** Closes at once, without QUIT. */
  destroy(): void {
    this.#unusable = true;
    this.#conn.close();
    this.#socket.destroy();
  }

  // Failures known before any command: RFC 1870 §6.1 SIZE and RFC 6531 §3.4 SMTPUTF8.
  #precheck(message: OutboundMessage, addresses: string[]): DeliveryError | null {
    if (message.requireTls) {
      const refusal = this.#requireTlsRefusal();
      if (refusal) return refusal;
    }
    const max = this.#conn.maxMessageBytes;
    if (max > 0 && message.size > max) {
      return new DeliveryError(DeliveryErrorCodes.TooBig, `message is ${message.size} bytes, remote accepts at most ${max}`, {
        permanent: true,
        enhanced: '5.3.4',
        command: 'MAIL FROM',
      });
    }
    if (needsSmtputf8(message, addresses) && !this.#conn.extensions.includes('SMTPUTF8')) {
      // RFC 6531 §3.6: X.6.7 for a non-ASCII address, X.6.9 for UTF-8 header fields.
      const utf8Address = addresses.some(nonAscii) || nonAscii(message.mailFrom);
      return new DeliveryError(DeliveryErrorCodes.Smtputf8Unsupported, 'message needs SMTPUTF8, which the remote does not offer', {
        permanent: true,
        enhanced: utf8Address ? '5.6.7' : '5.6.9',
        command: 'MAIL FROM',
      });
    }
    return null;
  }

  // RFC 8689 §4.2.1: TLS with a certificate valid for the MX name (PKIX, RFC 6125), and the
  // next hop advertises REQUIRETLS; §5: otherwise the message fails with 5.7.30.
  #requireTlsRefusal(): DeliveryError | null {
    const where = `${this.#options.host} [${this.#options.address}]`;
    const verified = this.secure ? this.verifyCertificate() : { authorized: false, error: 'no TLS session' };
    const why = !verified.authorized ? `no verified TLS with ${where} (${verified.error})`
      : !this.#conn.extensions.includes('REQUIRETLS') ? `${where} does not advertise REQUIRETLS` : null;
    if (!why) return null;
    return new DeliveryError(DeliveryErrorCodes.RequireTlsUnsupported, `REQUIRETLS support required: ${why}`, {
      permanent: true, smtpCode: 550, enhanced: '5.7.30', command: 'MAIL FROM',
      response: `550 5.7.30 REQUIRETLS support required: ${why}`,
    });
  }

  // Recipient by recipient: RCPT reply if it refused the recipient, else the DATA result.
  #outcomes(message: OutboundMessage, envelope: Envelope, dataReply: string, failure: DeliveryError | null): TransactionResult {
    // nodemailer records the replies on the envelope object it was given (SMTPConnectionEnvelope).
    const tracked = envelope as { mailError?: NodemailerFailure; rejectedErrors?: NodemailerFailure[]; accepted?: string[] };
    if (failure && tracked.mailError?.response) {
      // RFC 5321 §3.3: a refused MAIL FROM ends the transaction for everyone; 5yz is final.
      const error = DeliveryError.fromReply('MAIL FROM', tracked.mailError.response, failure);
      return settleAll(message, error, { undecided: error.smtpCode === 421 });
    }
    const refused = new Map<string, DeliveryError>();
    for (const rejected of tracked.rejectedErrors ?? []) {
      if (rejected.recipient && rejected.response) refused.set(rejected.recipient, DeliveryError.fromReply('RCPT TO', rejected.response, rejected));
    }
    const accepted = tracked.accepted ?? [];
    const delivered = parseSmtpReply(dataReply);
    const outcomes = message.recipients.map((r): RecipientOutcome => {
      const rcptError = refused.get(r.address);
      if (rcptError) return outcomeFromError(r.id, rcptError);
      if (!failure) return { id: r.id, status: 'delivered', smtpCode: delivered.code, enhanced: delivered.enhanced, response: dataReply };
      // RFC 5321 §4.2.5: the DATA reply (or its absence) applies to every accepted recipient.
      return outcomeFromError(r.id, failure.code === DeliveryErrorCodes.Rejected && failure.command === 'RCPT TO' ? transient(failure) : failure);
    });
    const undecided = failure !== null && accepted.length === 0 && refused.size === 0 && failure.smtpCode === undefined;
    return { outcomes, error: failure, undecided };
  }

  // Runs one nodemailer operation, settling on its callback, an 'error' or 'end' event,
  // an abort, whichever comes first. Timeouts are nodemailer's socket/phase timers.
  #run<T>(phase: Phase | (() => Phase), signal: AbortSignal | undefined, start: (done: (err: Error | null, value?: T) => void) => void): Promise<T> {
    const conn = this.#conn;
    const phaseName = (): Phase => (typeof phase === 'function' ? phase() : phase);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, value?: T): void => {
        if (settled) return;
        settled = true;
        conn.off('error', onError);
        conn.off('end', onEnd);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(classify(err, phaseName(), this.#options));
        else resolve(value as T);
      };
      const onError = (err: Error): void => finish(err);
      const onEnd = (): void => finish(new DeliveryError(DeliveryErrorCodes.ConnectionLost, `connection to ${this.#options.host} [${this.#options.address}] closed in ${phaseName()}`));
      const onAbort = (): void => {
        finish(new DeliveryError(DeliveryErrorCodes.Aborted, `delivery aborted in ${phaseName()}`, { cause: signal?.reason }));
        conn.close();
      };
      if (signal?.aborted) return onAbort();
      conn.on('error', onError);
      conn.once('end', onEnd);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        start((err, value) => finish(err, value));
      } catch (err) {
        finish(err);
      }
    });
  }

  // Socket inactivity (reads and writes both count) stands in for a per-command timeout;
  // 0 while idle in the pool, which runs its own idle ticker.
  #setIdleTimeout(ms: number): void {
    const socket = this.#conn._socket;
    if (socket && !socket.destroyed) socket.setTimeout(ms);
  }

  #tlsSocket(): tls.TLSSocket | null {
    const socket = this.#conn._socket;
    return socket && 'getProtocol' in socket ? (socket as tls.TLSSocket) : null;
  }
}

// The TCP connect is ours, so its timeout and error ('connect ECONNREFUSED 127.0.0.2:25')
// are exact; nodemailer takes over the connected socket.
function openSocket(options: SmtpClientOptions, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DeliveryError(DeliveryErrorCodes.Aborted, 'delivery aborted before connect', { cause: signal.reason }));
    const socket = net.connect({ host: options.address, port: options.port, localAddress: options.localAddress });
    const fail = (err: DeliveryError): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new DeliveryError(DeliveryErrorCodes.Aborted, 'delivery aborted while connecting', { cause: signal?.reason }));
    const timer = setTimeout(() => {
      fail(new DeliveryError(DeliveryErrorCodes.Timeout, `timeout after ${options.connectTimeoutMs} ms connecting to ${options.address}:${options.port}`, { command: 'connect' }));
    }, options.connectTimeoutMs);
    socket.once('error', (err) => fail(new DeliveryError(DeliveryErrorCodes.ConnectFailed, err.message, { command: 'connect', cause: err })));
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(?:GET|VERIFY)|ALTNAME|HOSTNAME_MISMATCH/;

// nodemailer's error codes and timeout types → our codes, naming the phase.
function classify(err: unknown, phase: Phase, options: SmtpClientOptions): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = err as NodemailerFailure;
  const where = `${options.host} [${options.address}]`;
  if (e.code === 'ETIMEDOUT') {
    const step = e.timeoutType === 'GREETING_TIMEOUT' ? 'greeting' : e.timeoutType === 'UPGRADE_TIMEOUT' ? 'STARTTLS' : phase === 'connect' ? 'EHLO/STARTTLS' : phase;
    const ms = step === 'greeting' ? options.greetingTimeoutMs : step === 'DATA' ? options.dataTimeoutMs : options.commandTimeoutMs;
    return new DeliveryError(DeliveryErrorCodes.Timeout, `timeout after ${ms} ms in ${step} with ${where}`, { command: step, cause: err });
  }
  // A handshake failure surfaces as ETLS, or as a socket error carrying OpenSSL's code (a
  // refused certificate: DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID, …).
  const certificate = CERT_ERROR.test(e.originalCode ?? '');
  if (e.code === 'ETLS' || /^ERR_(SSL|TLS)_/.test(e.originalCode ?? '') || certificate) {
    const text = e.message.replace(/; if the root CA is installed locally.*$/s, '').trim();
    // RFC 8461 §4.2: under an MTA-STS `enforce` policy the host is skipped; X.7.5 is the
    // "cryptographic failure" status (RFC 3463 §3.8).
    if (options.tls === 'verify') {
      const why = certificate ? `certificate of ${where} not valid: ${text.replace(/\s*\(.*\)$/, '')}` : `STARTTLS with ${where} failed: ${text}`;
      return new DeliveryError(DeliveryErrorCodes.TlsFailed, `TLS required by the MTA-STS policy: ${why}`, { command: 'STARTTLS', enhanced: '4.7.5', cause: err });
    }
    return new DeliveryError(DeliveryErrorCodes.TlsFailed, `STARTTLS with ${where} failed: ${text}`, { command: 'STARTTLS', cause: err });
  }
  if (e.code === 'ESTREAM') return new DeliveryError(DeliveryErrorCodes.MessageRead, `reading the message failed: ${e.message}`, { cause: err });
  if (e.response && /^[2-5]\d\d/.test(e.response)) {
    const named = e.command && e.command !== 'CONN' ? e.command : undefined;
    const command = phase === 'connect' ? (/^Invalid greeting/.test(e.message) ? 'greeting' : (named ?? 'EHLO')) : (named ?? phase);
    const error = DeliveryError.fromReply(command, e.response, err);
    // Only a 5yz greeting, MAIL, RCPT or DATA reply is a final answer about the message;
    // a refused EHLO/HELO says something about us or the host, so another host may do.
    return phase === 'connect' && command !== 'greeting' ? transient(error) : error;
  }
  if (e.code === 'ECONNECTION' || e.code === 'ESOCKET') {
    const code = phase === 'connect' ? DeliveryErrorCodes.ConnectFailed : DeliveryErrorCodes.ConnectionLost;
    return new DeliveryError(code, `${e.message} (${where}, ${phase})`, { command: phase, cause: err });
  }
  if (e.code === 'EPROTOCOL') return new DeliveryError(DeliveryErrorCodes.Protocol, `${e.message} (${where})`, { command: phase, cause: err });
  return toDeliveryError(err);
}

function transient(error: DeliveryError): DeliveryError {
  if (!error.permanent) return error;
  return new DeliveryError(error.code, error.message, { ...error, permanent: false, cause: error.cause });
}

function outcomeFromError(id: number | string, error: DeliveryError): RecipientOutcome {
  return {
    id,
    status: error.permanent ? 'bounced' : 'deferred',
    smtpCode: error.smtpCode ?? null,
    enhanced: error.enhanced ?? null,
    response: error.response ?? error.message,
  };
}

/** Every recipient gets the same answer (a refused MAIL FROM, a host that failed). */
export function settleAll(message: OutboundMessage, error: DeliveryError, extra: { undecided: boolean }): TransactionResult {
  return { outcomes: message.recipients.map((r) => outcomeFromError(r.id, error)), error, undecided: extra.undecided };
}

function feedBody(message: OutboundMessage, out: PassThrough): void {
  try {
    const body = message.body();
    if (Buffer.isBuffer(body)) out.end(body);
    // Errors reach nodemailer through `out` (ESTREAM); destroying `out` closes the source.
    else pipeline(body, out, () => {});
  } catch (err) {
    out.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

function nonAscii(value: string): boolean {
  return /[\u0080-\uffff]/.test(value);
}

function needsSmtputf8(message: OutboundMessage, addresses: string[]): boolean {
  return message.smtputf8 === true || nonAscii(message.mailFrom) || addresses.some(nonAscii);
}

// RFC 3461 §4.1 NOTIFY and §4.2 ORCPT for one RCPT TO, sent only when the remote announced DSN.
function dsnRcptArgs(recipient: OutboundRecipient | undefined): string {
  const args: string[] = [];
  const notify = recipient?.notify?.map((n) => n.trim().toUpperCase()) ?? [];
  if (notify.length > 0 && validNotify(notify)) args.push(`NOTIFY=${notify.join(',')}`);
  if (recipient?.orcpt) args.push(`ORCPT=${encodeOrcpt(recipient.orcpt)}`);
  return args.join(' ');
}

// --- nodemailer seam ------------------------------------------------------------------
// SMTPConnection keeps the EHLO extensions and SIZE limit in private fields and builds
// RCPT TO parameters from one envelope-wide DSN object. Postline needs per-recipient
// NOTIFY/ORCPT (RFC 3461 §4.1-4.2) and SMTPUTF8 for UTF-8 header fields with an ASCII
// envelope (RFC 6531 §3.4), so the subclass overrides two internal hooks. The wire tests in
// test/delivery/connection-pool.test.ts catch a nodemailer release that renames them.
interface ConnectionInternals {
  _supportedExtensions: string[];
  _maxAllowedSize: number;
  _sendCommand(str: string, logStr?: string): void;
}
const baseInternals = SMTPConnection.prototype as unknown as ConnectionInternals;

type NodemailerFailure = Error & { code?: string; originalCode?: string; response?: string; command?: string; recipient?: string; timeoutType?: string };

class PostlineConnection extends SMTPConnection {
  #smtputf8 = false;
  #requireTls = false;
  #rcptArgs: string[] = [];
  #rcptIndex = 0;

  get extensions(): readonly string[] {
    return (this as unknown as ConnectionInternals)._supportedExtensions ?? [];
  }
  /** RFC 1870 §4 SIZE value announced by the remote; 0 when none. */
  get maxMessageBytes(): number {
    return (this as unknown as ConnectionInternals)._maxAllowedSize || 0;
  }

  prepareTransaction(transaction: { requireTls: boolean; smtputf8: boolean; rcptArgs: string[] }): void {
    this.#requireTls = transaction.requireTls;
    this.#smtputf8 = transaction.smtputf8;
    this.#rcptArgs = transaction.rcptArgs;
    this.#rcptIndex = 0;
  }

  /** nodemailer hook: called once per RCPT TO, in envelope order. */
  _getDsnRcptToArgs(): string {
    const args = this.#rcptArgs[this.#rcptIndex++] ?? '';
    return args && this.extensions.includes('DSN') ? ` ${args}` : '';
  }

  /** nodemailer hook: every command line goes through here. */
  _sendCommand(str: string, logStr?: string): void {
    // RFC 6531 §3.4: the SMTPUTF8 parameter on MAIL FROM (precheck made sure it is offered).
    // RFC 8689 §4.2.1: REQUIRETLS on MAIL FROM (precheck made sure it is advertised over verified TLS).
    let extra = '';
    if (/^MAIL FROM:/i.test(str)) {
      if (this.#smtputf8 && !/ SMTPUTF8\b/i.test(str)) extra += ' SMTPUTF8';
      if (this.#requireTls && !/ REQUIRETLS\b/i.test(str)) extra += ' REQUIRETLS';
    }
    baseInternals._sendCommand.call(this, str + extra, logStr && extra ? `${logStr}${extra}` : logStr);
  }
}

const NOTIFY_VALUES = new Set(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']);

// RFC 3461 §4.1: NEVER stands alone; otherwise any of SUCCESS, FAILURE, DELAY.
function validNotify(values: string[]): boolean {
  return values.every((v) => NOTIFY_VALUES.has(v)) && (values.length === 1 || !values.includes('NEVER'));
}

// RFC 3461 §4.2: ORCPT=addr-type;xtext. A non-ASCII address goes as utf-8-addr-xtext (RFC 6533 §3).
function encodeOrcpt(orcpt: string): string {
  const semi = orcpt.indexOf(';');
  const type = semi > 0 ? orcpt.slice(0, semi) : 'rfc822';
  const address = semi > 0 ? orcpt.slice(semi + 1) : orcpt;
  if (nonAscii(address)) {
    const encoded = [...address].map((ch) => (/^[\x21-\x7e]$/.test(ch) && !'+=\\'.includes(ch) ? ch : `\\x{${ch.codePointAt(0)!.toString(16).toUpperCase()}}`));
    return `utf-8;${encoded.join('')}`;
  }
  return `${type};${xtext(address)}`;
}

// RFC 3461 §4: xtext, "+" and two upper-case hex digits for anything outside ! to ~ and for + and =.
function xtext(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value)) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
