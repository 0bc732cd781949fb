// A grammar-aware SMTP fuzzer: sessions are lists of commands from smtp-grammar.ts, sent
// pipelined in random TCP segments, sometimes byte-mutated, sometimes behind a STARTTLS with
// plaintext injected after it, sometimes cut off mid-session. The runner checks what any
// client can see: reply syntax (RFC 5321 §4.2), enhanced codes (RFC 2034), no reply to
// plaintext sent after STARTTLS (RFC 3207 §4.2, CVE-2011-0411), and that QUIT always ends it.
import fc from 'fast-check';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { commandArb, transactionArb, type GrammarOptions } from './smtp-grammar.ts';

export type FuzzListener = 'smtp' | 'smtps' | 'mx';

export interface FuzzSession {
  readonly listener: FuzzListener;
  /** STARTTLS first (submission listener): commands before it and plaintext injected after it. */
  readonly starttls: { readonly before: readonly string[]; readonly inject: string } | null;
  /** The bytes of the session, in the TCP segments they are written as. */
  readonly chunks: readonly Buffer[];
  /** `quit`: end with `CRLF . CRLF QUIT`, which must close the session; `cut`: drop the socket. */
  readonly end: 'quit' | 'cut';
}

export interface FuzzTarget {
  readonly endpoints: Record<FuzzListener, { host: string; port: number }>;
  /** The server's hostname: EHLO/HELO replies start with it (RFC 5321 §4.1.1.1). */
  readonly hostname: string;
}

export interface SessionOutcome {
  /** Every reply, each as its lines. */
  readonly replies: string[][];
  /** What was wrong; empty when the session passed. */
  readonly problems: string[];
}

type Mutation = { kind: 'flip' | 'insert' | 'delete' | 'dup' | 'truncate'; at: number; len: number; bytes: Uint8Array };

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'insert', 'delete', 'dup', 'truncate'),
  at: fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x),
  len: fc.integer({ min: 1, max: 64 }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
}) as fc.Arbitrary<Mutation>;

/** Random byte mutations of a serialized session (libFuzzer-style). */
export function mutate(data: Buffer, mutations: readonly Mutation[]): Buffer {
  let out = data;
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = Math.floor(m.at * out.length);
    if (m.kind === 'flip') {
      out = Buffer.from(out);
      out[at] ^= m.bytes[0] || 1;
    } else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
    else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.len)]);
    else if (m.kind === 'dup') out = Buffer.concat([out.subarray(0, at + m.len), out.subarray(at, at + m.len), out.subarray(at + m.len)]);
    else out = out.subarray(0, at);
  }
  return out;
}

function split(data: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * data.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) out.push(data.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < data.length) out.push(data.subarray(from));
  return out;
}

/** Whole sessions: listener, optional STARTTLS upgrade, commands, mutations, segments, ending. */
export function sessionArb(options: GrammarOptions): fc.Arbitrary<FuzzSession> {
  const listener = fc.constantFrom<FuzzListener>('mx', 'mx', 'smtp', 'smtps');
  const injectArb = fc.constantFrom('', '', 'MAIL FROM:<evil@other.example>\r\n', 'NOOP\r\nNOOP\r\n', 'RSET\r\nRCPT TO:<x@other.example>\r\n', 'EHLO injected\r\n', 'garbage');
  return fc.record({
    listener,
    tls: fc.boolean(),
    before: fc.constantFrom<string[]>([], ['EHLO client.example'], ['HELO client.example'], ['EHLO a', 'NOOP', 'RSET']),
    inject: injectArb,
    // AUTH with the real credential costs an scrypt (~30 ms): about one session in ten does it.
    shape: fc.oneof({ weight: 7, arbitrary: fc.constant('grammar') }, { weight: 2, arbitrary: fc.constant('transaction') }, { weight: 1, arbitrary: fc.constant('auth-transaction') }),
    commands: fc.array(commandArb(options), { minLength: 1, maxLength: 12 }),
    transaction: transactionArb(options, false),
    authTx: transactionArb(options, true),
    mutations: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 6 }) }),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
    end: fc.constantFrom<'quit' | 'cut'>('quit', 'quit', 'quit', 'cut'),
  }).map((r) => {
    const lines = r.shape === 'grammar' ? r.commands : r.shape === 'transaction' ? [...r.transaction, ...r.commands.slice(0, 2)] : r.authTx;
    const raw = mutate(Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'utf8'), r.mutations);
    const starttls = r.listener === 'smtp' && r.tls ? { before: r.before, inject: r.inject } : null;
    return { listener: r.listener, starttls, chunks: split(raw, r.cuts), end: r.end };
  });
}

/** A printable form of a session for failure messages (replayable by hand). */
export function describeSession(s: FuzzSession): string {
  return JSON.stringify({ listener: s.listener, starttls: s.starttls, end: s.end, chunks: s.chunks.map((c) => c.toString('latin1')) });
}

const REPLY_LINE = /^\d{3}[ -]/;
const EHLO_SYNTAX = /^(501 Error: (syntax: EHLO hostname|Syntax: HELO hostname|Bad hostname syntax)|500 Error: command not recognized)$/;
const ENHANCED = /^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}( |$)/;

/** Replies must be well-formed, and all but the greeting, EHLO/HELO and 3xx carry an enhanced code. */
export function checkReplies(replies: readonly string[][], hostname: string): string[] {
  const problems: string[] = [];
  replies.forEach((reply, i) => {
    for (const line of reply) if (!REPLY_LINE.test(line)) problems.push(`malformed reply line: ${JSON.stringify(line.slice(0, 200))}`);
    const first = reply[0] ?? '';
    const code = first.slice(0, 3);
    // smtp-server answers a bad EHLO/HELO argument, and LHLO (its LMTP greeting, refused on
    // SMTP), like EHLO itself: without an enhanced code.
    const ehlo = first.startsWith(`250-${hostname}`) || first.startsWith(`250 ${hostname}`) || EHLO_SYNTAX.test(first);
    const exempt = i === 0 || ehlo || code[0] === '3';
    if (!exempt && !reply.every((l) => ENHANCED.test(l))) problems.push(`reply without enhanced code: ${JSON.stringify(reply.join(' | ').slice(0, 200))}`);
  });
  return problems;
}

class Wire {
  socket: Socket | TLSSocket;
  replies: string[][] = [];
  #buffer = '';
  #current: string[] = [];
  #waiters: Array<() => void> = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    let done!: () => void;
    this.closedPromise = new Promise((r) => (done = r));
    this.attach(socket, done);
  }

  attach(s: Socket | TLSSocket, done?: () => void): void {
    s.on('data', (d: Buffer) => this.#onData(d));
    s.on('error', () => undefined);
    if (done) s.once('close', () => { this.closed = true; done(); this.#wake(); });
  }

  #onData(d: Buffer): void {
    this.#buffer += d.toString('latin1');
    let nl: number;
    while ((nl = this.#buffer.indexOf('\r\n')) >= 0) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 2);
      this.#current.push(line);
      if (line.length < 4 || line[3] !== '-') {
        this.replies.push(this.#current);
        this.#current = [];
      }
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves once `count` replies have arrived (true), or the socket closed or time ran out (false). */
  async waitFor(count: number, deadline: number): Promise<boolean> {
    while (this.replies.length < count) {
      if (this.closed || Date.now() >= deadline) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, deadline - Date.now());
        this.#waiters.push(() => { clearTimeout(t); r(); });
      });
    }
    return true;
  }

  /** Stops reading the plain socket (before a TLS upgrade). */
  detach(): void {
    this.socket.removeAllListeners('data');
  }
}

function open(host: string, port: number, tls: boolean): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls
      ? tlsConnect({ host, port, rejectUnauthorized: false }, () => resolve(s))
      : netConnect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Index of a `220` (STARTTLS accepted) among the replies from `from` on, or -1. */
function acceptedStartTls(replies: readonly string[][], from: number): number {
  for (let i = Math.max(1, from); i < replies.length; i++) if (replies[i][0]?.startsWith('220 ')) return i;
  return -1;
}

const pause = () => new Promise<void>((r) => setImmediate(r));

/** Runs one session; every wait is bounded by `timeoutMs` from the start, so nothing hangs the run. */
export async function runSession(target: FuzzTarget, session: FuzzSession, timeoutMs: number): Promise<SessionOutcome> {
  const ep = target.endpoints[session.listener];
  const deadline = Date.now() + timeoutMs;
  const problems: string[] = [];
  let socket: Socket | TLSSocket;
  try {
    socket = await open(ep.host, ep.port, session.listener === 'smtps');
  } catch (err) {
    return { replies: [], problems: [`connect failed: ${(err as Error).message}`] };
  }
  const wire = new Wire(socket);
  try {
    if (!(await wire.waitFor(1, deadline))) return { replies: wire.replies, problems: ['no greeting'] };
    if (!wire.replies[0][0]?.startsWith('220 ')) return { replies: wire.replies, problems: checkReplies(wire.replies, target.hostname) };
    let sent = 1;
    if (session.starttls) {
      const { before, inject } = session.starttls;
      socket.write(before.map((l) => `${l}\r\n`).join('') + 'STARTTLS\r\n' + inject);
      sent += before.length + 1;
      if (!(await wire.waitFor(sent, deadline))) problems.push('no reply to STARTTLS');
      else if (wire.replies[sent - 1][0]?.startsWith('220 ')) {
        // RFC 3207 §4.2: anything the client sent after STARTTLS before the handshake is
        // discarded, so the first reply after TLS must answer our EHLO, not the injection.
        wire.detach();
        const secure = tlsConnect({ socket: socket as Socket, rejectUnauthorized: false });
        const up = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
          secure.once('secureConnect', () => { clearTimeout(t); resolve(true); });
          secure.once('error', () => { clearTimeout(t); resolve(false); });
        });
        if (wire.replies.length > sent) problems.push(`plaintext after STARTTLS was answered: ${JSON.stringify(wire.replies.slice(sent))}`);
        if (!up) {
          if (inject === '') problems.push('TLS handshake after STARTTLS failed');
          secure.destroy();
          return { replies: wire.replies, problems: [...problems, ...checkReplies(wire.replies, target.hostname)] };
        }
        wire.socket = secure;
        wire.attach(secure);
        secure.write('EHLO client.example\r\n');
        if (!(await wire.waitFor(sent + 1, deadline))) problems.push('no reply to EHLO after STARTTLS');
        else if (!wire.replies[sent][0]?.startsWith(`250-${target.hostname}`)) problems.push(`first reply after TLS is not the EHLO reply: ${JSON.stringify(wire.replies[sent])}`);
        sent += 1;
      }
    }
    for (const chunk of session.chunks) {
      if (wire.closed) break;
      wire.socket.write(chunk);
      await pause();
    }
    const bulkFrom = sent;
    if (session.end === 'quit' && !wire.closed) {
      // Ends a DATA body, an AUTH exchange or an unterminated line, then QUIT (RFC 5321 §4.1.1.10).
      wire.socket.write('\r\n.\r\nQUIT\r\n');
      for (;;) {
        // A STARTTLS accepted inside the burst leaves the server waiting for a TLS handshake, which
        // plaintext (our QUIT included) cannot give it: that wait is the client's, not a hang.
        if (acceptedStartTls(wire.replies, bulkFrom) >= 0) {
          await new Promise((r) => setTimeout(r, 100));
          break;
        }
        if (!(await wire.waitFor(wire.replies.length + 1, deadline))) break;
      }
      if (!wire.closed && acceptedStartTls(wire.replies, bulkFrom) < 0) problems.push(`session still open ${timeoutMs} ms after QUIT (hang)`);
    }
    const tlsAt = acceptedStartTls(wire.replies, bulkFrom);
    if (tlsAt >= 0 && wire.replies.length > tlsAt + 1) problems.push(`plaintext after STARTTLS was answered: ${JSON.stringify(wire.replies.slice(tlsAt + 1)).slice(0, 300)}`);
  } finally {
    wire.socket.destroy();
    socket.destroy();
  }
  return { replies: wire.replies, problems: [...problems, ...checkReplies(wire.replies, target.hostname)] };
}

export interface BatchResult {
  readonly sessions: number;
  readonly failures: Array<{ index: number; session: string; problems: string[]; replies: string[][] }>;
  readonly replies: number;
  /** Messages the server accepted (250 2.6.0) during the batch. */
  readonly queued: number;
}

/** Runs `sessions` with up to `concurrency` connections open at once. */
export async function runBatch(target: FuzzTarget, sessions: readonly FuzzSession[], options: { concurrency: number; timeoutMs: number; offset?: number }): Promise<BatchResult> {
  const failures: BatchResult['failures'] = [];
  let next = 0;
  let replies = 0;
  let queued = 0;
  const worker = async () => {
    while (next < sessions.length) {
      const i = next++;
      const outcome = await runSession(target, sessions[i], options.timeoutMs);
      replies += outcome.replies.length;
      queued += outcome.replies.filter((r) => r[r.length - 1]?.startsWith('250 2.6.0')).length;
      if (outcome.problems.length) failures.push({ index: (options.offset ?? 0) + i, session: describeSession(sessions[i]), problems: outcome.problems, replies: outcome.replies });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { sessions: sessions.length, failures, replies, queued };
}
