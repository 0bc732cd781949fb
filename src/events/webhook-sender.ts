// One HTTP call to a webhook endpoint: POST the JSON body with the Standard Webhooks headers,
// wait at most `timeoutMs` for the answer and the first KB of its body, never follow a
// redirect (a 3xx is a failure: following it would bypass the address check), and connect
// only to addresses the SSRF guard allowed.
import { isIP } from 'node:net';
import { Agent, fetch } from 'undici';
import { isPrivateAddress } from '../delivery/address-policy.ts';
import { signWebhook } from './webhook-signature.ts';
import { guardedLookup, urlHost } from './url-guard.ts';

/** How much of a response body is kept with an attempt. */
export const RESPONSE_EXCERPT_BYTES = 1024;
const USER_AGENT = 'Postline-Webhooks/1';

/** Why a call got no HTTP answer. */
export type WebhookCallError =
  | 'WEBHOOK_TIMEOUT'
  | 'WEBHOOK_ABORTED'
  | 'WEBHOOK_URL_PRIVATE'
  | 'WEBHOOK_CONNECTION_REFUSED'
  | 'WEBHOOK_DNS_FAILED'
  | 'WEBHOOK_TLS_FAILED'
  | 'WEBHOOK_NETWORK_ERROR';

export interface WebhookCall {
  readonly url: string;
  readonly secret: string;
  /** The event id: the `webhook-id` header. */
  readonly eventUid: string;
  readonly body: string;
  readonly signal?: AbortSignal | undefined;
}

export interface WebhookCallResult {
  readonly startedAt: number;
  readonly durationMs: number;
  /** null when no HTTP answer arrived. */
  readonly statusCode: number | null;
  readonly error: WebhookCallError | null;
  /** The first KB of the body, or for an error its description. */
  readonly excerpt: string | null;
}

export interface WebhookSenderOptions {
  readonly allowPrivate: boolean;
  readonly timeoutMs: number;
  /** Sockets kept per origin. */
  readonly connectionsPerOrigin: number;
}

export class WebhookSender {
  readonly #agent: Agent;
  readonly #allowPrivate: boolean;
  readonly #timeoutMs: number;

  constructor(options: WebhookSenderOptions) {
    this.#allowPrivate = options.allowPrivate;
    this.#timeoutMs = options.timeoutMs;
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin,
      connect: { timeout: options.timeoutMs, lookup: guardedLookup(options.allowPrivate) },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  async call(call: WebhookCall, now: () => number = Date.now): Promise<WebhookCallResult> {
    const startedAt = now();
    const t0 = performance.now();
    const done = (statusCode: number | null, error: WebhookCallError | null, excerpt: string | null): WebhookCallResult =>
      ({ startedAt, durationMs: Math.round(performance.now() - t0), statusCode, error, excerpt });
    const url = new URL(call.url);
    const host = urlHost(url);
    // An IP literal is connected to without a lookup, so the guard's lookup never sees it.
    if (isIP(host) && !this.#allowPrivate && isPrivateAddress(host)) return done(null, 'WEBHOOK_URL_PRIVATE', `${host} is not a public address`);
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...signWebhook(call.secret, call.eventUid, Math.floor(startedAt / 1000), call.body),
    };
    try {
      const res = await fetch(url, { method: 'POST', headers, body: call.body, redirect: 'manual', signal, dispatcher: this.#agent });
      const excerpt = await readExcerpt(res.body, RESPONSE_EXCERPT_BYTES);
      return done(res.status, null, excerpt);
    } catch (err) {
      if (call.signal?.aborted) return done(null, 'WEBHOOK_ABORTED', 'Postline stopped during the call');
      if (timeout.aborted) return done(null, 'WEBHOOK_TIMEOUT', `no answer within ${this.#timeoutMs} ms`);
      const { code, message } = rootCause(err);
      return done(null, classify(code), `${code ? `${code}: ` : ''}${message}`.slice(0, RESPONSE_EXCERPT_BYTES));
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** Up to `limit` bytes of a body as text; the rest is cancelled, not read. */
async function readExcerpt(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string | null> {
  if (!body) return null;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  if (size === 0) return null;
  // A multi-byte character cut at the limit decodes as U+FFFD.
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit));
}

function rootCause(err: unknown): { code: string; message: string } {
  let e: unknown = err;
  // fetch wraps socket errors: TypeError('fetch failed', { cause }).
  for (let i = 0; i < 5 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  const x = e as { code?: unknown; message?: unknown };
  return { code: typeof x?.code === 'string' ? x.code : '', message: typeof x?.message === 'string' ? x.message : String(e) };
}

function classify(code: string): WebhookCallError {
  if (code === 'WEBHOOK_URL_PRIVATE') return 'WEBHOOK_URL_PRIVATE';
  if (code === 'ECONNREFUSED') return 'WEBHOOK_CONNECTION_REFUSED';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA') return 'WEBHOOK_DNS_FAILED';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'WEBHOOK_TIMEOUT';
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT')) return 'WEBHOOK_TLS_FAILED';
  return 'WEBHOOK_NETWORK_ERROR';
}
