// The API bench's load generator: a small undici client, not autocannon, so every request can
// carry its own message (a distinct subject and recipient) and every 202 is counted per message,
// not per HTTP answer. Requests go over keep-alive connections (an undici Pool), one request in
// flight per connection, as 50 application servers each holding one connection would send.
import { Pool } from 'undici';

/** One message of the bench: about 1 KB of text, a distinct recipient so no two are alike. */
export function benchMessage(n: number): Record<string, unknown> {
  return {
    from: 'Bench <bench@bench.example>',
    to: [`${n}rcpt@sink.example`],
    subject: `Bench message ${n}`,
    text: `Hello ${n},\n\n${'This is a line of the benchmark message body, about sixty bytes.\n'.repeat(15)}`,
    tags: ['bench'],
  };
}

export interface LoadResult {
  /** Messages answered 202 (single) or with a per-item 202 (batch). */
  readonly accepted: number;
  readonly failed: number;
  /** First few failure descriptions, for the report. */
  readonly errors: readonly string[];
  /** From the first request sent until the last answer read. */
  readonly elapsedMs: number;
  /** Per HTTP request, in ms, sorted ascending. */
  readonly latenciesMs: readonly number[];
}

export interface LoadOptions {
  readonly url: string;
  readonly key: string;
  readonly messages: number;
  /** Parallel clients: connections, each with one request in flight. */
  readonly clients: number;
  /** Messages per request: 1 sends to /messages, more to /messages/batch. */
  readonly perRequest: number;
  readonly timeoutMs: number;
  readonly progress?: (line: string) => void;
}

/** p in [0, 1] of ascending `sorted` (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

interface BatchAnswer {
  results?: Array<{ status?: number }>;
}

/** Sends `messages` messages and counts what was accepted. Never throws for a refused request. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(options.url, {
    connections: options.clients,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  const batch = options.perRequest > 1;
  const path = batch ? '/api/v1/messages/batch' : '/api/v1/messages';
  const headers = { authorization: `Bearer ${options.key}`, 'content-type': 'application/json' };
  const requests = Math.ceil(options.messages / options.perRequest);
  // Bodies are built before the clock starts: the client's JSON work is not the server's.
  // Buffers (outside the V8 heap): tens of MB of strings made the client's own GCs longer.
  const bodies: Buffer[] = [];
  for (let r = 0; r < requests; r++) {
    const first = r * options.perRequest;
    const count = Math.min(options.perRequest, options.messages - first);
    const items = Array.from({ length: count }, (_, i) => benchMessage(first + i + 1));
    bodies.push(Buffer.from(JSON.stringify(batch ? { messages: items } : items[0])));
  }
  const latencies = new Float64Array(requests);
  let accepted = 0;
  let failed = 0;
  const errors: string[] = [];
  const fail = (count: number, why: string) => {
    failed += count;
    if (errors.length < 5) errors.push(why);
  };
  let next = 0;
  let lastReport = Date.now();
  const started = performance.now();
  const worker = async () => {
    while (next < requests) {
      const r = next++;
      const count = Math.min(options.perRequest, options.messages - r * options.perRequest);
      const t0 = performance.now();
      try {
        const res = await pool.request({ method: 'POST', path, headers, body: bodies[r] });
        const text = await res.body.text();
        latencies[r] = performance.now() - t0;
        if (!batch) {
          if (res.statusCode === 202) accepted++;
          else fail(1, `${res.statusCode} ${text.slice(0, 200)}`);
        } else if (res.statusCode !== 200) {
          fail(count, `${res.statusCode} ${text.slice(0, 200)}`);
        } else {
          const items = (JSON.parse(text) as BatchAnswer).results ?? [];
          const ok = items.filter((item) => item.status === 202).length;
          accepted += ok;
          if (ok < count) fail(count - ok, `batch: ${count - ok} of ${count} items not 202: ${text.slice(0, 200)}`);
        }
      } catch (err) {
        latencies[r] = performance.now() - t0;
        fail(count, `${(err as { code?: string }).code ?? 'ERROR'}: ${(err as Error).message}`);
      }
      if (options.progress && Date.now() - lastReport > 2000) {
        lastReport = Date.now();
        options.progress(`  … ${(accepted + failed).toLocaleString('en-US')} of ${options.messages.toLocaleString('en-US')} answered`);
      }
    }
  };
  const deadline = AbortSignal.timeout(options.timeoutMs);
  try {
    await Promise.race([
      Promise.all(Array.from({ length: options.clients }, worker)),
      new Promise((_resolve, reject) => deadline.addEventListener('abort', () => reject(new Error(`timed out after ${options.timeoutMs} ms`)))),
    ]);
  } catch (err) {
    fail(options.messages - accepted - failed, (err as Error).message);
  }
  const elapsedMs = performance.now() - started;
  await pool.destroy();
  return { accepted, failed, errors, elapsedMs, latenciesMs: Array.from(latencies).sort((a, b) => a - b) };
}
