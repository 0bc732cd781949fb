// Single sends through wrk (C, epoll), not a Node client: measured, the Node load generator
// paused for its own scavenges (10–25 ms every ~0.6 s under load on 2 vCPUs), and every
// request in flight then looked that much slower, a third of the slow requests. wrk threads
// send their share of the messages (bench/wrk-send.lua) and say when done; wrk runs until
// its -d, so it gets SIGINT then, on which it reports (latency from its histogram).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { LoadResult } from './api-load.ts';

export interface WrkLoadOptions {
  readonly root: string;
  readonly url: string;
  readonly key: string;
  readonly messages: number;
  /** Message numbers start after this (distinct recipients and subjects across runs). */
  readonly first?: number;
  readonly clients: number;
  readonly timeoutMs: number;
  readonly progress?: (line: string) => void;
}

/** What the run measured; latencies are wrk's percentiles, not a list. */
export interface WrkLoadResult extends Omit<LoadResult, 'latenciesMs'> {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * One wrk thread drives all the connections (it needs a fraction of a core at these rates): a
 * second thread only took CPU from the server on 2 cores (measured, p99 of three runs each:
 * 23, 23, 34 ms with one thread; 27, 29, 43 ms with two).
 */
const THREADS = 1;

export function runWrkLoad(options: WrkLoadOptions): Promise<WrkLoadResult> {
  const threads = Math.min(THREADS, options.clients);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', [
      `-t${threads}`, `-c${options.clients}`, `-d${Math.ceil(options.timeoutMs / 1000)}s`, '--timeout', '30s',
      '-s', join(options.root, 'bench', 'wrk-send.lua'), options.url,
    ], { env: { ...process.env, WRK_KEY: options.key, WRK_MESSAGES: String(options.messages), WRK_FIRST: String(options.first ?? 0), WRK_THREADS: String(threads) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let done = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const now = (out.match(/POSTLINE_WRK_THREAD_DONE/g) ?? []).length;
      if (now > done) {
        done = now;
        if (done === threads) child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('error', reject);
    child.once('exit', () => {
      const line = out.split('\n').find((l) => l.startsWith('POSTLINE_WRK '));
      if (!line) {
        reject(new Error(`wrk printed no result: ${(err || out).slice(0, 500)}`));
        return;
      }
      const r = JSON.parse(line.slice('POSTLINE_WRK '.length)) as { answered: number; accepted: number; elapsedUs: number; p50Us: number; p99Us: number; maxUs: number; errors: number; failure: string };
      // A thread stops once its share is answered; requests its other connections had in
      // flight are answered too (a few dozen more than asked): counted, as sent.
      const failed = Math.max(options.messages, r.answered) - r.accepted;
      resolve({
        accepted: r.accepted, failed, errors: failed > 0 ? [r.failure || `${r.errors} socket errors or timeouts`] : [],
        elapsedMs: r.elapsedUs / 1000, p50Ms: r.p50Us / 1000, p99Ms: r.p99Us / 1000, maxMs: r.maxUs / 1000,
      });
    });
  });
}
