// A load generator for crash tests: N messages over C plain SMTP sessions to a server that
// may be killed at any moment. Per submission it records whether the server answered 250
// after the final dot (RFC 5321 §4.1.1.4: only then has the server taken responsibility)
// and with which queue id. Anything else (4xx, a dropped connection, a timeout) is no
// acceptance: the message is submitted again, as a real client would, and that is a new
// submission with its own key. Each message carries its token and submission key in
// headers, Subject and body so the receiving sink can account for every one.
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CrashEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface CrashLoadOptions {
  /** Where the server listens now; read before every connect, so a restart on a new port is followed. */
  readonly endpoint: () => CrashEndpoint;
  readonly messages: number;
  readonly connections: number;
  readonly from: string;
  readonly to: string;
  /** Filler bytes per body (default 1 KiB). */
  readonly bodyBytes?: number;
  /** Every n-th message gets `largeBytes` of body instead (default 0: none). */
  readonly largeEvery?: number;
  readonly largeBytes?: number;
  /** Transactions per session before QUIT and a new connection (default 50). */
  readonly messagesPerSession?: number;
  /** A reply that takes longer counts as a dropped connection (default 30 s). */
  readonly replyTimeoutMs?: number;
  /** The run fails when no session could be opened for this long (default 60 s). */
  readonly unreachableTimeoutMs?: number;
  /** Submissions of one message before it is abandoned (default 10). */
  readonly maxSubmissions?: number;
}

/** accepted: 250 after DATA. temporary: a 4xx reply. dropped: connection lost or timed out. rejected: a 5xx reply. */
export type SubmissionOutcome = 'accepted' | 'temporary' | 'dropped' | 'rejected';

export interface Submission {
  /** `n-17#2`: message 17, second submission. */
  readonly key: string;
  /** `n-17`: the message, whatever the submission. */
  readonly token: string;
  readonly outcome: SubmissionOutcome;
  /** From `250 … queued as ID`. */
  readonly queueId: string | null;
  readonly reply: string | null;
  /** Date.now() when the outcome was known. */
  readonly at: number;
}

export interface CrashLoadResult {
  readonly submissions: readonly Submission[];
  /** Accepted submissions by key. */
  readonly accepted: ReadonlyMap<string, Submission>;
  /** Tokens that never got a 250 (rejected, or out of submissions). */
  readonly abandoned: readonly string[];
  readonly sessions: number;
  readonly connectFailures: number;
  readonly durationMs: number;
}

export interface CrashLoad {
  /** Resolves when every message was accepted or abandoned; rejects with code CRASH_LOAD_UNREACHABLE. */
  readonly done: Promise<CrashLoadResult>;
  acceptedCount(): number;
  /** Resolves once `count` submissions were accepted, or the load ended first. */
  whenAccepted(count: number): Promise<void>;
  /** Stops after the transactions in progress. */
  stop(): void;
}

export const TOKEN_HEADER = 'X-Crash-Token';
export const SUBMISSION_HEADER = 'X-Crash-Submission';

/** The submission key and queue id of a message as received, from its header section; null when it carries none. */
export function readCrashHeaders(raw: Buffer): { key: string; token: string; queueId: string | null } | null {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end < 0 ? Math.min(raw.length, 64 * 1024) : end).toString('latin1');
  const key = new RegExp(`^${SUBMISSION_HEADER}: *(\\S+)`, 'im').exec(head)?.[1];
  const token = new RegExp(`^${TOKEN_HEADER}: *(\\S+)`, 'im').exec(head)?.[1];
  if (!key || !token) return null;
  // Our Received line (RFC 5321 §4.4) names the queue id: "by HOST (Postline) with ESMTP id ID".
  const queueId = /\(Postline\) with \S+ id (\S+?)[;\s]/.exec(head)?.[1] ?? null;
  return { key, token, queueId };
}

interface Reply {
  readonly code: number;
  readonly text: string;
}

class SessionClosedError extends Error {
  readonly code = 'CRASH_LOAD_SESSION_CLOSED';
}

/** One SMTP session over a raw socket: send lines, read whole (possibly multi-line) replies. */
class RawSession {
  readonly #socket: net.Socket;
  readonly #timeoutMs: number;
  #buffer = '';
  #lines: string[] = [];
  #replies: Reply[] = [];
  #waiter: ((r: Reply | Error) => void) | null = null;
  #closed: Error | null = null;

  private constructor(socket: net.Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new SessionClosedError('connection closed')));
  }

  static async open(endpoint: CrashEndpoint, connectTimeoutMs: number, replyTimeoutMs: number): Promise<RawSession> {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const timer = setTimeout(() => socket.destroy(new SessionClosedError('connect timed out')), connectTimeoutMs);
    try {
      await once(socket, 'connect');
    } finally {
      clearTimeout(timer);
    }
    return new RawSession(socket, replyTimeoutMs);
  }

  #onData(d: Buffer): void {
    this.#buffer += d.toString('latin1');
    let nl: number;
    while ((nl = this.#buffer.indexOf('\r\n')) >= 0) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 2);
      this.#lines.push(line);
      // RFC 5321 §4.2.1: "250-" continues a reply, "250 " (or a bare code) ends it.
      if (line.length < 4 || line[3] === ' ') {
        const reply = { code: Number(line.slice(0, 3)), text: this.#lines.join('\n') };
        this.#lines = [];
        if (this.#waiter) {
          const w = this.#waiter;
          this.#waiter = null;
          w(reply);
        } else this.#replies.push(reply);
      }
    }
  }

  #fail(err: Error): void {
    this.#closed ??= err;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w(this.#closed);
    }
  }

  read(): Promise<Reply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        this.#socket.destroy();
        reject(new SessionClosedError(`no reply within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiter = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
    });
  }

  async write(data: string | Buffer): Promise<void> {
    if (this.#closed) throw this.#closed;
    // Respect back-pressure: a 1 MiB body must not sit in memory 20 times over.
    if (!this.#socket.write(data)) {
      await Promise.race([once(this.#socket, 'drain'), once(this.#socket, 'close')]);
      if (this.#closed) throw this.#closed;
    }
  }

  async command(line: string): Promise<Reply> {
    await this.write(`${line}\r\n`);
    return this.read();
  }

  async quit(): Promise<void> {
    if (!this.#closed) await this.command('QUIT').catch(() => undefined);
    this.#socket.destroy();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** RFC 5322 message for one submission; lines stay under 78 octets and never start with "." (no dot-stuffing needed). */
function buildMessage(options: CrashLoadOptions, n: number, submission: number): Buffer {
  const token = `n-${n}`;
  const key = `${token}#${submission}`;
  const large = options.largeEvery ? n % options.largeEvery === 0 : false;
  const size = large ? (options.largeBytes ?? 1.2 * 1024 * 1024) : (options.bodyBytes ?? 1024);
  const line = `${key} ${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)}`.slice(0, 70);
  const body = `${`${line}\r\n`.repeat(Math.max(1, Math.ceil(size / (line.length + 2))))}`;
  const head = [
    `From: Crash Load <${options.from}>`,
    `To: <${options.to}>`,
    `Subject: crash ${key}`,
    `Message-ID: <${token}.${submission}.${Date.now()}@crash-load.test>`,
    `Date: ${new Date().toUTCString().replace(/GMT$/, '+0000')}`,
    `${TOKEN_HEADER}: ${token}`,
    `${SUBMISSION_HEADER}: ${key}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
  ].join('\r\n');
  return Buffer.from(`${head}\r\n\r\ntoken ${token} submission ${key}\r\n${body}.\r\n`, 'latin1');
}

/** Starts the load at once; see CrashLoad. */
export function startCrashLoad(options: CrashLoadOptions): CrashLoad {
  const replyTimeoutMs = options.replyTimeoutMs ?? 30_000;
  const unreachableMs = options.unreachableTimeoutMs ?? 60_000;
  const perSession = options.messagesPerSession ?? 50;
  const maxSubmissions = options.maxSubmissions ?? 10;
  const started = Date.now();
  const submissions: Submission[] = [];
  const accepted = new Map<string, Submission>();
  const abandoned: string[] = [];
  const tries = new Map<number, number>();
  const retry: number[] = [];
  let next = 1;
  let busy = 0;
  let sessions = 0;
  let connectFailures = 0;
  let lastReachable = Date.now();
  let stopped = false;
  let ended = false;
  const watchers = new Set<{ count: number; resolve: () => void }>();

  const notify = (): void => {
    for (const w of watchers) {
      if (ended || accepted.size >= w.count) {
        watchers.delete(w);
        w.resolve();
      }
    }
  };

  /** The next message to submit, 'wait' while others may still hand one back, or null when all is done. */
  const take = (): number | 'wait' | null => {
    if (stopped) return null;
    const again = retry.shift();
    if (again !== undefined) return again;
    if (next <= options.messages) return next++;
    return busy > 0 ? 'wait' : null;
  };

  const record = (n: number, submission: number, outcome: SubmissionOutcome, reply: Reply | null): void => {
    const token = `n-${n}`;
    const queueId = outcome === 'accepted' ? (/queued as (\S+)/.exec(reply?.text ?? '')?.[1] ?? null) : null;
    const s: Submission = { key: `${token}#${submission}`, token, outcome, queueId, reply: reply?.text ?? null, at: Date.now() };
    submissions.push(s);
    if (outcome === 'accepted') {
      accepted.set(s.key, s);
      notify();
    } else if (outcome === 'rejected' || submission >= maxSubmissions) abandoned.push(token);
    else retry.push(n);
  };

  async function connect(): Promise<RawSession | null> {
    for (;;) {
      if (stopped) return null;
      try {
        const session = await RawSession.open(options.endpoint(), 5000, replyTimeoutMs);
        const greeting = await session.read();
        if (greeting.code !== 220) throw new SessionClosedError(`greeting ${greeting.text}`);
        const ehlo = await session.command('EHLO crash-load.test');
        if (ehlo.code !== 250) throw new SessionClosedError(`EHLO ${ehlo.text}`);
        sessions++;
        lastReachable = Date.now();
        return session;
      } catch (err) {
        // The server is down or restarting: retry, as MTAs and submission clients do.
        connectFailures++;
        if (Date.now() - lastReachable > unreachableMs) {
          throw Object.assign(new Error(`no SMTP session could be opened for ${unreachableMs} ms`), { code: 'CRASH_LOAD_UNREACHABLE', cause: err });
        }
        await sleep(50 + Math.random() * 100);
      }
    }
  }

  /** One transaction; returns false when the session is unusable afterwards. */
  async function submit(session: RawSession, n: number): Promise<boolean> {
    const submission = (tries.get(n) ?? 0) + 1;
    tries.set(n, submission);
    let reply: Reply;
    let afterDot = false;
    try {
      reply = await session.command(`MAIL FROM:<${options.from}>`);
      if (reply.code === 250) reply = await session.command(`RCPT TO:<${options.to}>`);
      if (reply.code === 250) reply = await session.command('DATA');
      if (reply.code === 354) {
        await session.write(buildMessage(options, n, submission));
        afterDot = true;
        reply = await session.read();
      }
    } catch {
      record(n, submission, 'dropped', null);
      return false;
    }
    if (afterDot && reply.code === 250) {
      record(n, submission, 'accepted', reply);
      return true;
    }
    record(n, submission, reply.code >= 500 ? 'rejected' : 'temporary', reply);
    if (reply.code === 421) return false; // RFC 5321 §3.8: 421 closes the session.
    if (afterDot) return true; // RFC 5321 §4.1.1.4: the transaction ended with the reply to the dot.
    return session.command('RSET').then((r) => r.code === 250, () => false);
  }

  async function worker(): Promise<void> {
    let session: RawSession | null = null;
    let used = 0;
    try {
      for (;;) {
        const n = take();
        if (n === null) break;
        if (n === 'wait') {
          await sleep(50);
          continue;
        }
        busy++;
        try {
          if (!session || used >= perSession) {
            if (session) await session.quit();
            session = await connect();
            used = 0;
            if (!session) {
              retry.push(n);
              break;
            }
          }
          used++;
          if (!(await submit(session, n))) {
            session.destroy();
            session = null;
          }
        } finally {
          busy--;
        }
      }
    } finally {
      if (session) await session.quit();
    }
  }

  const done = (async (): Promise<CrashLoadResult> => {
    try {
      await Promise.all(Array.from({ length: options.connections }, () => worker()));
    } catch (err) {
      stopped = true;
      throw err;
    } finally {
      ended = true;
      notify();
    }
    return { submissions, accepted, abandoned, sessions, connectFailures, durationMs: Date.now() - started };
  })();

  return {
    done,
    acceptedCount: () => accepted.size,
    whenAccepted(count) {
      if (ended || accepted.size >= count) return Promise.resolve();
      return new Promise((resolve) => watchers.add({ count, resolve }));
    },
    stop() {
      stopped = true;
    },
  };
}
