// A line-based SMTP client for wire tests: it sends exactly the bytes a test gives it and
// hands back every reply as received, multi-line replies whole (RFC 5321 §4.2.1), so a test
// can assert exact reply lines, count replies (smuggling), and upgrade with STARTTLS.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { once } from 'node:events';

export interface SmtpReply {
  readonly code: number;
  /** The RFC 3463 enhanced code of the last line, or null. */
  readonly enhanced: string | null;
  /** Every line without its CRLF, e.g. `['250-mx.test', '250 SIZE 100']`. */
  readonly lines: readonly string[];
  /** The last line, e.g. `'250 2.1.0 Accepted'`. */
  readonly last: string;
}

export interface TalkOptions {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS (RFC 8314), certificate not verified. */
  readonly tls?: boolean;
  /** Source address, e.g. `'127.0.0.5'`, to act as another client. */
  readonly localAddress?: string;
  /** Per-reply wait, in ms (default 10 s). */
  readonly timeoutMs?: number;
  /** Bytes written right after connecting, before the greeting (a PROXY protocol v1 header). */
  readonly proxyHeader?: string;
}

export interface SmtpTalk {
  /** The 220 (or 421/554) the server opened with. */
  readonly greeting: SmtpReply;
  /** Writes `line` + CRLF and reads one reply. */
  send(line: string): Promise<SmtpReply>;
  /** Writes raw bytes, no CRLF added, nothing read. */
  write(data: string | Buffer): void;
  /** The next reply, waiting up to `timeoutMs`. */
  read(timeoutMs?: number): Promise<SmtpReply>;
  /** Replies that arrive within `ms`: proves the server said nothing more. */
  drain(ms: number): Promise<SmtpReply[]>;
  ehlo(name?: string): Promise<SmtpReply>;
  /** STARTTLS, expects 220, then the TLS handshake; EHLO again is up to the caller. */
  startTls(): Promise<void>;
  /** AUTH PLAIN with an initial response (RFC 4954 §4). */
  authPlain(username: string, password: string): Promise<SmtpReply>;
  /** DATA; when 354 follows, sends `message` dot-stuffed as given and `.`; returns the final reply (or the DATA refusal). */
  data(message: string | Buffer): Promise<SmtpReply>;
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  close(): void;
}

const LINE_END = /\r\n/;

function parseReply(lines: string[]): SmtpReply {
  const last = lines[lines.length - 1];
  const enhanced = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?: |$)/.exec(last);
  return { code: Number(last.slice(0, 3)), enhanced: enhanced ? enhanced[1] : null, lines, last };
}

/** RFC 5321 §4.5.2: a line that starts with "." gets one more. */
export function dotStuff(message: string | Buffer): Buffer {
  const text = Buffer.isBuffer(message) ? message.toString('latin1') : Buffer.from(message, 'utf8').toString('latin1');
  return Buffer.from(text.replace(/(^|\r\n)\./g, '$1..'), 'latin1');
}

export async function connectSmtp(options: TalkOptions): Promise<SmtpTalk> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const tcp = netConnect({ host: options.host, port: options.port, localAddress: options.localAddress });
  await once(tcp, 'connect');
  if (options.proxyHeader) tcp.write(options.proxyHeader);
  let socket: Socket | TLSSocket = tcp;
  if (options.tls) {
    socket = tlsConnect({ socket: tcp, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
  }
  let buffer = '';
  let current: string[] = [];
  const replies: SmtpReply[] = [];
  const waiters: Array<(reply: SmtpReply | null) => void> = [];
  let closed = false;
  let onClosed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (onClosed = resolve));

  const deliver = (reply: SmtpReply | null) => {
    const waiter = waiters.shift();
    if (waiter) waiter(reply);
    else if (reply) replies.push(reply);
  };
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (let m = LINE_END.exec(buffer); m; m = LINE_END.exec(buffer)) {
      const line = Buffer.from(buffer.slice(0, m.index), 'latin1').toString('utf8');
      buffer = buffer.slice(m.index + 2);
      current.push(line);
      // The last line of a reply has a space (or nothing) after the code.
      if (line.length <= 3 || line[3] !== '-') {
        const reply = parseReply(current);
        current = [];
        deliver(reply);
      }
    }
  };
  const attach = (s: Socket | TLSSocket) => {
    s.on('data', onData);
    s.on('error', () => undefined);
    s.once('close', () => {
      if (s !== socket) return;
      closed = true;
      while (waiters.length) deliver(null);
      onClosed();
    });
  };
  attach(socket);

  const read = (ms = timeoutMs): Promise<SmtpReply> => {
    const queued = replies.shift();
    if (queued) return Promise.resolve(queued);
    if (closed) return Promise.reject(Object.assign(new Error('connection closed'), { code: 'SMTP_TALK_CLOSED' }));
    return new Promise((resolve, reject) => {
      const waiter = (reply: SmtpReply | null) => {
        clearTimeout(timer);
        if (reply) resolve(reply);
        else reject(Object.assign(new Error('connection closed before a reply'), { code: 'SMTP_TALK_CLOSED' }));
      };
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        reject(Object.assign(new Error(`no reply within ${ms} ms`), { code: 'SMTP_TALK_TIMEOUT' }));
      }, ms);
      waiters.push(waiter);
    });
  };
  const write = (data: string | Buffer) => {
    socket.write(data);
  };
  const send = (line: string) => {
    write(`${line}\r\n`);
    return read();
  };
  const greeting = await read();

  const talk: SmtpTalk = {
    greeting,
    send,
    write,
    read,
    async drain(ms) {
      const out = replies.splice(0);
      const end = Date.now() + ms;
      while (!closed) {
        const left = end - Date.now();
        if (left <= 0) break;
        try {
          out.push(await read(left));
        } catch {
          break;
        }
      }
      return out;
    },
    ehlo: (name = 'client.postline.test') => send(`EHLO ${name}`),
    async startTls() {
      const reply = await send('STARTTLS');
      if (reply.code !== 220) throw Object.assign(new Error(`STARTTLS refused: ${reply.last}`), { code: 'SMTP_TALK_STARTTLS' });
      const plain = socket;
      plain.off('data', onData);
      const secure = tlsConnect({ socket: plain, rejectUnauthorized: false });
      socket = secure;
      attach(secure);
      await once(secure, 'secureConnect');
    },
    authPlain(username, password) {
      return send(`AUTH PLAIN ${Buffer.from(`\0${username}\0${password}`).toString('base64')}`);
    },
    async data(message) {
      const go = await send('DATA');
      if (go.code !== 354) return go;
      const body = dotStuff(message);
      const ends = body.length >= 2 && body[body.length - 2] === 0x0d && body[body.length - 1] === 0x0a;
      write(Buffer.concat([body, Buffer.from(ends ? '.\r\n' : '\r\n.\r\n')]));
      return read();
    },
    closed: closedPromise,
    isClosed: () => closed,
    close() {
      socket.destroy();
    },
  };
  return talk;
}
