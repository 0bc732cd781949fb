// End-to-end delivery rig shared by the queue and delivery suites: a loopback DNS server,
// SMTP sinks on 127.0.0.x that all listen on ONE port number (Postline contacts every MX on
// POSTLINE_DELIVERY_PORT), and a real Postline child process pointed at both. Messages go in
// over authenticated submission and are followed through `postline queue show`.
import { spawn } from 'node:child_process';
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startSmtpSink, type SinkOptions, type SmtpSink } from '../helpers/smtp-sink.ts';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';

/** `postline --json queue show ID`, the parts these suites read. */
export interface MessageView {
  id: string;
  mail_from: string;
  origin: string;
  recipients: Array<{ id: number; recipient: string; state: string; attempts: number; last_code: number | null; last_enhanced: string | null; last_response: string | null }>;
  attempts: Array<{ recipient_id: number; outcome: string; mx_host: string | null; ip: string | null; code: number | null; enhanced: string | null; response: string | null }>;
  events: Array<{ type: string; data: Record<string, any> }>;
}

/** `postline --json queue list` rows. */
export interface QueueRow {
  message_id: string;
  recipient_id: number;
  recipient: string;
  state: string;
  attempts: number;
  mail_from: string;
}

export interface SendOptions {
  from: string;
  to: string | string[];
  subject?: string;
  text?: string;
  /** nodemailer's RFC 3461 options, e.g. `{ notify: 'NEVER' }`. */
  dsn?: { id?: string; return?: 'headers' | 'full'; notify?: string | string[]; recipient?: string };
}

export interface DeliveryRig {
  readonly dns: TestDnsServer;
  /** The port every sink listens on (POSTLINE_DELIVERY_PORT). */
  readonly port: number;
  readonly postline: PostlineProcess;
  /** Sinks by loopback address. */
  sink(host: string): SmtpSink;
  /** Submits over SMTP (STARTTLS + AUTH); resolves with the queue id from the 250 reply. */
  send(options: SendOptions): Promise<string>;
  show(id: string): Promise<MessageView>;
  /** Polls `queue show` until `done` holds; fails with the last view after `timeoutMs`. */
  waitFor(id: string, done: (view: MessageView) => boolean, timeoutMs?: number): Promise<MessageView>;
  list(...args: string[]): Promise<QueueRow[]>;
  close(): Promise<void>;
}

export interface RigOptions {
  /** Loopback addresses to run sinks on, e.g. ['127.0.0.2', '127.0.0.3']. */
  sinks: Array<string | SinkOptions & { host: string }>;
  /** Sending domains of the tenant `acme`. */
  domains: string[];
  env?: Record<string, string>;
}

export async function startDeliveryRig(options: RigOptions): Promise<DeliveryRig> {
  const dns = await startDnsServer();
  const sinks = await startSinksOnOnePort(options.sinks.map((s) => (typeof s === 'string' ? { host: s } : s)));
  const port = sinks.values().next().value!.port;
  const postline = await startPostline({
    tenant: { name: 'acme', domains: options.domains },
    env: { POSTLINE_DNS_SERVERS: dns.address, POSTLINE_DELIVERY_PORT: String(port), ...options.env },
  });
  const transports: Transporter[] = [];
  const transport = (): Transporter => {
    const t = nodemailer.createTransport({
      host: postline.smtp.host,
      port: postline.smtp.port,
      secure: false,
      requireTLS: true,
      auth: { user: postline.credential!.username, pass: postline.credential!.password },
      tls: { rejectUnauthorized: false },
      pool: true,
      maxConnections: 2,
      maxMessages: Infinity,
    });
    transports.push(t);
    return t;
  };
  let submit: Transporter | null = null;
  const rig: DeliveryRig = {
    dns,
    port,
    postline,
    sink(host) {
      const s = sinks.get(host);
      if (!s) throw new Error(`no sink on ${host}`);
      return s;
    },
    async send(o) {
      submit ??= transport();
      const info = await submit.sendMail({ from: o.from, to: o.to, subject: o.subject ?? 'test', text: o.text ?? 'Hello from the delivery suite.\r\n', dsn: o.dsn });
      const id = /queued as (\S+)/.exec(String(info.response))?.[1];
      if (!id) throw new Error(`no queue id in "${info.response}"`);
      return id;
    },
    show: (id) => postline.cli('queue', 'show', id) as Promise<MessageView>,
    async waitFor(id, done, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let view = await rig.show(id);
      while (!done(view)) {
        if (Date.now() > deadline) throw new Error(`message ${id} did not reach the expected state in ${timeoutMs} ms:\n${JSON.stringify(view, null, 1)}`);
        await new Promise((r) => setTimeout(r, 200));
        view = await rig.show(id);
      }
      return view;
    },
    list: (...args) => postline.cli('queue', 'list', ...args) as Promise<QueueRow[]>,
    async close() {
      for (const t of transports) t.close();
      await postline.cleanup();
      await Promise.all([...sinks.values()].map((s) => s.close()));
      await dns.close();
    },
  };
  return rig;
}

// The first sink takes a free port; the others bind the same number on their own address.
// Should that number be taken on another address, start over with a new one.
async function startSinksOnOnePort(specs: Array<SinkOptions & { host: string }>): Promise<Map<string, SmtpSink>> {
  for (let round = 0; ; round++) {
    const started = new Map<string, SmtpSink>();
    try {
      const [first, ...rest] = specs;
      const head = await startSmtpSink({ ...first, port: 0 });
      started.set(first.host, head);
      for (const spec of rest) started.set(spec.host, await startSmtpSink({ ...spec, port: head.port }));
      return started;
    } catch (err) {
      await Promise.all([...started.values()].map((s) => s.close()));
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || round >= 4) throw err;
    }
  }
}

export function recipient(view: MessageView, address: string): MessageView['recipients'][number] {
  const r = view.recipients.find((x) => x.recipient === address);
  if (!r) throw new Error(`${address} is not a recipient of ${view.id}`);
  return r;
}

export function finalState(view: MessageView): boolean {
  return view.recipients.every((r) => !['queued', 'inflight', 'deferred'].includes(r.state));
}

export function eventTypes(view: MessageView): string[] {
  return view.events.map((e) => e.type);
}

/** What Python's `email` package reads from a DSN (RFC 3464 multipart/report). */
export interface ParsedDsn {
  content_type: string;
  report_type: string | null;
  part_types: string[];
  per_message: Record<string, string>;
  recipients: Array<Record<string, string>>;
  defects: string[];
}

const PY_PARSE_DSN = String.raw`
import sys, json, re, email
def unfold(v):
    return re.sub(r'\r?\n(?=[ \t])', '', str(v))
msg = email.message_from_bytes(sys.stdin.buffer.read())
parts = msg.get_payload() if msg.is_multipart() else []
out = {
    'content_type': msg.get_content_type(),
    'report_type': msg.get_param('report-type'),
    'part_types': [p.get_content_type() for p in parts],
    'defects': [type(d).__name__ for p in msg.walk() for d in p.defects],
    'per_message': {}, 'recipients': [],
}
status = [p for p in parts if p.get_content_type() == 'message/delivery-status']
if status:
    blocks = [{k: unfold(v) for k, v in b.items()} for b in status[0].get_payload()]
    out['per_message'] = blocks[0]
    out['recipients'] = blocks[1:]
print(json.dumps(out))
`;

/** Parses a message with Python's email package (a parser we did not write). */
export function parseDsnWithPython(raw: Buffer): Promise<ParsedDsn> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', PY_PARSE_DSN], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`python3 exited with ${code}: ${err}`));
      resolve(JSON.parse(out) as ParsedDsn);
    });
    child.stdin.end(raw);
  });
}
