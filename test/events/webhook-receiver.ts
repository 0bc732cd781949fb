// A real HTTP endpoint for webhook tests: records every call (headers, raw body, time) and
// answers as the test tells it to, optionally after a delay or never (until released).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCall {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
  /** Parsed body. */
  readonly json: { type: string; timestamp: string; data: Record<string, any> };
}

export interface ReceiverAnswer {
  status: number;
  body?: string;
  delayMs?: number;
  /** Hold the answer until release() is called. */
  hold?: boolean;
}

export type Responder = (call: ReceivedCall, index: number) => ReceiverAnswer;

export interface WebhookReceiver {
  readonly url: string;
  readonly port: number;
  readonly calls: ReceivedCall[];
  /** Calls currently waiting for their answer. */
  pending(): number;
  respond(responder: Responder): void;
  /** Answers every held call (with its status). */
  release(): void;
  waitFor(countOrPredicate: number | ((calls: readonly ReceivedCall[]) => boolean), timeoutMs?: number): Promise<ReceivedCall[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: { host?: string; port?: number; path?: string } = {}): Promise<WebhookReceiver> {
  const calls: ReceivedCall[] = [];
  let responder: Responder = () => ({ status: 204 });
  const held: Array<() => void> = [];
  let inFlight = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: ReceivedCall['json'];
      try {
        json = JSON.parse(body);
      } catch {
        json = { type: '', timestamp: '', data: {} };
      }
      const call: ReceivedCall = { headers: req.headers, body, at: Date.now(), json };
      calls.push(call);
      const answer = responder(call, calls.length - 1);
      inFlight++;
      const send = () => {
        inFlight--;
        if (res.destroyed) return;
        res.writeHead(answer.status, { 'content-type': 'text/plain' });
        res.end(answer.body ?? '');
      };
      if (answer.hold) held.push(send);
      else if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}${options.path ?? '/hook'}`,
    port,
    calls,
    pending: () => inFlight,
    respond(r) {
      responder = r;
    },
    release() {
      for (const send of held.splice(0)) send();
    },
    async waitFor(countOrPredicate, timeoutMs = 20_000) {
      const done = typeof countOrPredicate === 'number' ? (c: readonly ReceivedCall[]) => c.length >= countOrPredicate : countOrPredicate;
      const deadline = Date.now() + timeoutMs;
      while (!done(calls)) {
        if (Date.now() > deadline) throw Object.assign(new Error(`webhook receiver: condition not met in ${timeoutMs} ms; ${calls.length} calls: ${calls.map((c) => c.json.type).join(', ')}`), { code: 'RECEIVER_WAIT_TIMEOUT' });
        await new Promise((r) => setTimeout(r, 25));
      }
      return calls;
    },
    async close() {
      for (const send of held.splice(0)) send();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
