// `--only api`: durable acceptance through the HTTP API. Each phase gets a fresh Postline
// (HTTP API on a loopback port, relaying to a fresh smtp-sink, as the relay bench does) and
// sends its messages through POST /api/v1/messages/batch (500 a request) or one by one through
// POST /api/v1/messages. A 202 is only answered once the message is committed with fsync, so
// accepted/s is the rate of durable acceptance. Delivery to the sink runs at the same time,
// with Postline's default settings: it takes its share of the 2 cores, and is paced while the
// API thread waits for a CPU (delivery.paced_rate), as it would be in production.
// Single sends are driven by wrk (bench/api-wrk.ts: a Node client's own GC pauses showed up as
// server latency), batches by our Node client (4 connections, 500 messages a request).
import { join } from 'node:path';
import { runLoad, percentile } from './api-load.ts';
import { startPostlineRelay } from './postline-relay.ts';
import { sampleTree } from './proc-stats.ts';
import { startSink } from './smtp-sink.ts';
import { BenchSetupError, findProgram } from './tools.ts';
import { runWrkLoad } from './api-wrk.ts';

export const API_MODES = ['batch', 'single'] as const;
/** Single sends before the measured ones, not counted: a tenth of them, at most 5,000 (api-wrk.ts). */
export const warmupMessages = (messages: number): number => Math.min(5_000, Math.ceil(messages / 10));
export type ApiMode = (typeof API_MODES)[number];

export interface ApiScenario {
  readonly mode: ApiMode;
  readonly messages: number;
  readonly clients: number;
  /** Messages per HTTP request. */
  readonly perRequest: number;
}

export interface ApiResult extends ApiScenario {
  /** The load generator: wrk for single sends, our Node client (bench/api-load.ts) for batches. */
  readonly client?: 'wrk' | 'node';
  /** Single sends: the warm-up run before the measured one (a fresh process compiling its code). */
  readonly warmup?: { readonly messages: number; readonly p50Ms: number; readonly p99Ms: number };
  readonly accepted: number;
  readonly failed: number;
  readonly elapsedMs: number | null;
  readonly acceptedPerS: number | null;
  /** Per HTTP request (a whole batch for batch mode). */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  /** CPU time Postline used while the load ran (user + system). */
  readonly cpuMs: number | null;
  readonly error: string | null;
  readonly at: string;
}

export interface ApiRunOptions {
  readonly root: string;
  readonly dataDir: string;
  readonly smtpSink: string;
  readonly profileDir: string | null;
  readonly timeoutMs: number;
  readonly progress: (line: string) => void;
  /** Registers what must be stopped on Ctrl-C; the caller's `live` set. */
  readonly track: (handle: { relay?: { stop(): Promise<void>; stopNow(): void }; sink?: { stop(): Promise<void>; stopNow(): void } }) => () => void;
}

function failedApi(scenario: ApiScenario, error: string): ApiResult {
  return {
    ...scenario, accepted: 0, failed: scenario.messages, elapsedMs: null, acceptedPerS: null,
    p50Ms: null, p99Ms: null, maxMs: null, cpuMs: null, error, at: new Date().toISOString(),
  };
}

/** Runs one API scenario against a fresh Postline and sink. */
export async function runApiScenario(scenario: ApiScenario, index: number, options: ApiRunOptions): Promise<ApiResult> {
  const via = scenario.mode === 'batch' ? `${scenario.perRequest} a request` : 'one a request';
  options.progress(`▶ api ${scenario.mode}: ${scenario.messages.toLocaleString('en-US')} messages, ${via}, ${scenario.clients} clients over keep-alive`);
  const handle: Parameters<ApiRunOptions['track']>[0] = {};
  const untrack = options.track(handle);
  try {
    const sink = await startSink(options.smtpSink);
    handle.sink = sink;
    const relay = await startPostlineRelay({
      root: options.root, dataDir: join(options.dataDir, `api-${index}`), sinkPort: sink.port, concurrency: 20,
      profileDir: options.profileDir, api: true,
    });
    handle.relay = relay;
    if (!relay.api) throw new BenchSetupError('BENCH_POSTLINE_START', 'postline did not report its HTTP listener');
    const wrk = scenario.mode === 'single' ? await findProgram('wrk') : null;
    if (scenario.mode === 'single' && !wrk) throw new BenchSetupError('BENCH_TOOLS_MISSING', 'missing wrk, the load generator of single sends: apt-get install -y wrk');
    const loadOptions = {
      url: relay.api.url, key: relay.api.key, messages: scenario.messages, clients: scenario.clients,
      perRequest: scenario.perRequest, timeoutMs: options.timeoutMs, progress: options.progress,
    };
    const cpuAt = async () => (await sampleTree(relay.pid))?.cpuMs ?? null;
    let cpuBefore = await cpuAt();
    let load: { accepted: number; failed: number; errors: readonly string[]; elapsedMs: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
    let warmup: Awaited<ReturnType<typeof runWrkLoad>> | null = null;
    if (wrk) {
      // A server that has run for a while has its code compiled: the first seconds of a fresh
      // process (JIT warm-up) are measured apart, with messages of their own, and reported.
      warmup = await runWrkLoad({ ...loadOptions, messages: warmupMessages(scenario.messages), first: 10_000_000, root: options.root });
      options.progress(`  warm-up: ${warmup.accepted.toLocaleString('en-US')} messages, p50 ${warmup.p50Ms.toFixed(1)} ms, p99 ${warmup.p99Ms.toFixed(1)} ms (not counted)`);
      cpuBefore = await cpuAt();
      load = await runWrkLoad({ ...loadOptions, root: options.root });
    }
    else {
      const l = await runLoad(loadOptions);
      load = { ...l, p50Ms: percentile(l.latenciesMs, 0.5), p99Ms: percentile(l.latenciesMs, 0.99), maxMs: l.latenciesMs.at(-1) ?? null };
    }
    const cpuAfter = (await sampleTree(relay.pid))?.cpuMs ?? null;
    const error = load.failed > 0 ? `${load.failed} messages not accepted; first: ${load.errors[0] ?? '?'}` : null;
    if (error) options.progress(`  ✗ ${error}\n  postline log (last lines):\n${await relay.logTail()}`);
    return {
      ...scenario,
      client: wrk ? 'wrk' : 'node',
      ...(warmup ? { warmup: { messages: warmup.accepted, p50Ms: warmup.p50Ms, p99Ms: warmup.p99Ms } } : {}),
      accepted: load.accepted,
      failed: load.failed,
      elapsedMs: Math.round(load.elapsedMs),
      acceptedPerS: load.accepted > 0 ? (load.accepted * 1000) / load.elapsedMs : null,
      p50Ms: load.p50Ms,
      p99Ms: load.p99Ms,
      maxMs: load.maxMs,
      cpuMs: cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : null,
      error,
      at: new Date().toISOString(),
    };
  } catch (err) {
    if (!(err instanceof BenchSetupError)) throw err;
    options.progress(`  ✗ ${err.code}: ${err.message}`);
    return failedApi(scenario, `${err.code}: ${err.message}`);
  } finally {
    await handle.relay?.stop();
    await handle.sink?.stop();
    untrack();
  }
}
