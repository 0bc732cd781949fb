import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { generate } from 'selfsigned';

/**
 * A scriptable receiving MTA for tests: one smtp-server on a loopback address that records
 * every accepted message and answers MAIL, RCPT and DATA as the test tells it to.
 */

/** A reply line the sink sends instead of its default 250. */
export interface SinkReply {
  code: number;
  message: string;
}
/** Either a reply object or a whole line such as `'550 5.1.1 No such user'`. */
export type SinkReplyRule = SinkReply | string;
type HookResult = SinkReplyRule | undefined | Promise<SinkReplyRule | undefined>;

export type SinkPhase = 'connect' | 'mail' | 'rcpt' | 'data';
export interface SinkDelays {
  greeting?: number;
  mail?: number;
  rcpt?: number;
  data?: number;
}

export interface SinkRecipient {
  address: string;
  notify?: string[];
  orcpt?: string;
}
export interface SinkMessage {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
  remoteAddress: string;
  localAddress: string;
  secure: boolean;
  /** e.g. `'TLSv1.3'` once STARTTLS succeeded. */
  tlsProtocol?: string;
  connectionId: string;
  heloName: string;
  receivedAt: Date;
  smtpUtf8: boolean;
  bodyType: string;
  /** RFC 3461 parameters as received, absent when DSN is hidden. */
  dsn?: { ret: string | null; envid: string | null; recipients: SinkRecipient[] };
}

/** The parts of the behaviour that tests may change while the sink runs (`configure`). */
export interface SinkRules {
  /** RFC 5321 §4.2: a refusal at connect, e.g. `'421 4.3.2 busy'`; the sink closes after it. */
  greeting?: string;
  /** Close the TCP connection without replying: instead of the greeting, on MAIL, on the first RCPT, or after the DATA body arrived. */
  dropAfter?: SinkPhase;
  /** A number delays every phase; milliseconds before the sink answers. */
  delayMs?: number | SinkDelays;
  rcptRules?: Record<string, string>;
  rcpt?: (address: string, session: SMTPServerSession) => HookResult;
  mailFrom?: (address: string, session: SMTPServerSession) => HookResult;
  data?: (message: { mailFrom: string; rcptTo: string[]; raw: Buffer }, session: SMTPServerSession) => HookResult;
}

export interface SinkOptions extends SinkRules {
  /** 127.0.0.x; defaults to 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port; tests run as root, so 25 works too. */
  port?: number;
  /** The name in the greeting and EHLO reply. */
  name?: string;
  /** Advertise STARTTLS with a self-signed certificate (default true). */
  starttls?: boolean;
  hideDSN?: boolean;
  hidePipelining?: boolean;
  hideSmtpUtf8?: boolean;
  hide8BitMime?: boolean;
  hideEnhancedStatusCodes?: boolean;
  /** RFC 1870 SIZE, advertised and enforced with 552 (default 64 MiB). */
  maxMessageBytes?: number;
}

export interface SinkConnectionStats {
  total: number;
  current: number;
  /** Highest number of simultaneous connections seen since start or `reset()`. */
  max: number;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  readonly messages: SinkMessage[];
  readonly connections: SinkConnectionStats;
  /** PEM of the certificate offered after STARTTLS, for clients that want to verify it. */
  readonly certificatePem: string;
  /** Resolves with `messages` once there are `count` of them or `predicate` holds; rejects with code SINK_WAIT_TIMEOUT. */
  waitFor(countOrPredicate: number | ((messages: readonly SinkMessage[]) => boolean), timeoutMs?: number): Promise<SinkMessage[]>;
  /** Replaces the given rules; keys set to undefined switch that rule off. */
  configure(rules: Partial<SinkRules>): void;
  /** `reply` null makes the address accepted again. */
  setRcptRule(address: string, reply: string | null): void;
  /** Forgets recorded messages and connection counts; rules stay. */
  reset(): void;
  close(): Promise<void>;
}

export interface TestCertificate {
  key: string;
  cert: string;
}

let certificate: Promise<TestCertificate> | undefined;

/** One self-signed RSA certificate per process (localhost, 127.0.0.1, ::1); generation is async. */
export function getTestCertificate(): Promise<TestCertificate> {
  certificate ??= generate([{ name: 'commonName', value: 'postline-test-sink' }], {
    // RSA: EC generation trips over duplicated @peculiar/asn1-schema copies in this tree.
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  }).then((pems) => ({ key: pems.private, cert: pems.cert }));
  return certificate;
}

const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
const REPLY_LINE = /^([2-5]\d\d)[ -]?(.*)$/s;

/** Reads `'550 5.1.1 No such user'` into a reply; throws on a line without a 2xx-5xx code. */
export function parseSinkReply(rule: SinkReplyRule): SinkReply {
  if (typeof rule !== 'string') return rule;
  const match = REPLY_LINE.exec(rule.trim());
  if (!match) throw Object.assign(new Error(`not an SMTP reply line: ${rule}`), { code: 'SINK_BAD_RULE' });
  return { code: Number(match[1]), message: match[2] };
}

function replyError(reply: SinkReply): Error {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

/** The connection fields the sink relies on; smtp-server declares them public in its .d.ts. */
interface ConnectionHandle {
  id: string;
  _socket: Socket;
  send(code: number, data?: string | string[] | null, context?: string | false): void;
}

export async function startSmtpSink(options: SinkOptions = {}): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const starttls = options.starttls ?? true;
  const tlsMaterial = starttls ? await getTestCertificate() : undefined;
  let rules: SinkRules = {
    greeting: options.greeting,
    dropAfter: options.dropAfter,
    delayMs: options.delayMs,
    rcptRules: lowerKeys(options.rcptRules),
    rcpt: options.rcpt,
    mailFrom: options.mailFrom,
    data: options.data,
  };
  const messages: SinkMessage[] = [];
  const stats: SinkConnectionStats = { total: 0, current: 0, max: 0 };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const handles = new Map<string, ConnectionHandle>();
  const events = new EventEmitter();
  events.setMaxListeners(0);

  const delay = (phase: keyof SinkDelays): Promise<void> => {
    const ms = typeof rules.delayMs === 'number' ? rules.delayMs : (rules.delayMs?.[phase] ?? 0);
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  };
  const drop = (session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    const handle = handles.get(session.id);
    if (handle) handle._socket.destroy();
    else callback(replyError({ code: 421, message: '4.4.2 closing' }));
  };
  const answer = (result: SinkReplyRule | undefined, callback: (err?: Error | null) => void): void => {
    const reply = result === undefined ? undefined : parseSinkReply(result);
    callback(reply && reply.code >= 400 ? replyError(reply) : null);
  };

  const server = new SMTPServer({
    name: options.name ?? 'sink.postline.test',
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    allowInsecureAuth: true,
    maxAllowedUnauthenticatedCommands: false,
    disabledCommands: starttls ? [] : ['STARTTLS'],
    key: tlsMaterial?.key,
    cert: tlsMaterial?.cert,
    size: options.maxMessageBytes ?? 64 * 1024 * 1024,
    rejectOversized: true,
    hideDSN: options.hideDSN ?? false,
    hidePIPELINING: options.hidePipelining ?? false,
    hideSMTPUTF8: options.hideSmtpUtf8 ?? false,
    hide8BITMIME: options.hide8BitMime ?? false,
    hideENHANCEDSTATUSCODES: options.hideEnhancedStatusCodes ?? false,
    closeTimeout: 1000,

    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },

    onConnect(session, callback) {
      const connection = [...server.connections].find((c) => c.id === session.id) as ConnectionHandle | undefined;
      if (connection) {
        handles.set(session.id, connection);
        // smtp-server prefixes its own enhanced code (RFC 2034) to every reply; a scripted line
        // already carries one, and tests assert the exact line the client received.
        const send = connection.send.bind(connection);
        connection.send = (code, data, context) =>
          send(code, data, typeof data === 'string' && ENHANCED_PREFIX.test(data) ? false : context);
      }
      if (rules.dropAfter === 'connect') return drop(session, callback);
      void delay('greeting').then(() => {
        if (rules.greeting === undefined) return callback();
        const reply = parseSinkReply(rules.greeting);
        if (reply.code < 400) return callback();
        // RFC 5321 §3.1: a 421/554 greeting refuses the session; smtp-server closes after it.
        callback(replyError(reply));
      });
    },

    onMailFrom(address, session, callback) {
      if (rules.dropAfter === 'mail') return drop(session, callback);
      void delay('mail')
        .then(() => rules.mailFrom?.(address.address, session))
        .then((result) => answer(result, callback), callback);
    },

    onRcptTo(address, session, callback) {
      if (rules.dropAfter === 'rcpt') return drop(session, callback);
      void delay('rcpt')
        .then(async () => (await rules.rcpt?.(address.address, session)) ?? ruleFor(address.address))
        .then((result) => answer(result, callback), callback);
    },

    onData(stream, session, callback) {
      void readAll(stream)
        .then(async (raw) => {
          if (stream.sizeExceeded) return callback(); // rejectOversized answers 552 itself
          if (rules.dropAfter === 'data') return drop(session, callback);
          await delay('data');
          const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const rcptTo = session.envelope.rcptTo.map((r) => r.address);
          const result = await rules.data?.({ mailFrom, rcptTo, raw }, session);
          const reply = result === undefined ? undefined : parseSinkReply(result);
          if (reply && reply.code >= 400) return callback(replyError(reply));
          record(session, mailFrom, raw);
          callback(null, reply?.message ?? `2.0.0 Ok: queued as ${session.id}.${session.transaction}`);
        })
        .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
    },

    onClose(session) {
      handles.delete(session.id);
      closed.get(`${session.remoteAddress}:${session.remotePort}`)?.();
    },
  });

  function ruleFor(address: string): string | undefined {
    return rules.rcptRules?.[address.toLowerCase()];
  }

  function record(session: SMTPServerSession, mailFrom: string, raw: Buffer): void {
    const envelope = session.envelope;
    const message: SinkMessage = {
      mailFrom,
      rcptTo: envelope.rcptTo.map((r) => r.address),
      raw,
      remoteAddress: session.remoteAddress,
      localAddress: session.localAddress,
      secure: session.secure,
      tlsProtocol: session.tlsOptions ? session.tlsOptions.version : undefined,
      connectionId: session.id,
      heloName: session.hostNameAppearsAs,
      receivedAt: new Date(),
      smtpUtf8: envelope.smtpUtf8 ?? false,
      bodyType: envelope.bodyType ?? '7bit',
      dsn: envelope.dsn
        ? {
            ret: envelope.dsn.ret,
            envid: envelope.dsn.envid,
            recipients: envelope.rcptTo.map((r: SMTPServerAddress) => ({
              address: r.address,
              notify: r.dsn?.notify,
              orcpt: r.dsn?.orcpt,
            })),
          }
        : undefined,
    };
    messages.push(message);
    events.emit('message');
  }

  // A connection ends at the raw socket's 'close' or at smtp-server's onClose, whichever comes
  // first: after STARTTLS smtp-server wraps the socket (tls.TLSSocket) and the raw one may never
  // emit 'close', which left `current` (and so `max`) counting every TLS session ever opened.
  const closed = new Map<string, () => void>();
  server.server.on('connection', (socket: Socket) => {
    stats.total++;
    stats.current++;
    stats.max = Math.max(stats.max, stats.current);
    sockets.add(socket);
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      stats.current--;
      sockets.delete(socket);
      closed.delete(key);
    };
    closed.set(key, end);
    socket.once('close', end);
  });
  // A client that vanishes mid-command is normal in these tests, not a failure of the sink.
  server.on('error', () => {});

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const bound = server.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : 0;

  return {
    host,
    port,
    messages,
    connections: stats,
    certificatePem: tlsMaterial?.cert ?? '',

    waitFor(countOrPredicate, timeoutMs = 5000) {
      const done = typeof countOrPredicate === 'number'
        ? () => messages.length >= countOrPredicate
        : () => countOrPredicate(messages);
      if (done()) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const onMessage = (): void => {
          if (!done()) return;
          clearTimeout(timer);
          events.off('message', onMessage);
          resolve(messages);
        };
        const timer = setTimeout(() => {
          events.off('message', onMessage);
          const err = new Error(`sink ${host}:${port} has ${messages.length} message(s) after ${timeoutMs} ms`);
          reject(Object.assign(err, { code: 'SINK_WAIT_TIMEOUT' }));
        }, timeoutMs);
        events.on('message', onMessage);
      });
    },

    configure(patch) {
      rules = { ...rules, ...patch };
      if ('rcptRules' in patch) rules.rcptRules = lowerKeys(patch.rcptRules);
    },

    setRcptRule(address, reply) {
      const table = { ...rules.rcptRules };
      if (reply === null) delete table[address.toLowerCase()];
      else table[address.toLowerCase()] = reply;
      rules = { ...rules, rcptRules: table };
    },

    reset() {
      messages.length = 0;
      stats.total = stats.current;
      stats.max = stats.current;
    },

    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

function lowerKeys(table: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(table ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
}

async function readAll(stream: SMTPServerDataStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
