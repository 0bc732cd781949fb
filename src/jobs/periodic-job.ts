// A background job that runs every `intervalMs` in the process that starts it: one run at a
// time (a run longer than the interval delays the next rather than overlapping it), errors
// logged and the next run scheduled anyway, and `stop()` waits for a run under way. The
// retention job and the domain re-check are two of these. With a `lease`, a scheduled run
// happens only on the node holding it: once per cluster, not once per node (issue 7).
import type { Logger } from 'pino';
import type { ClusterLease } from './cluster-lease.ts';

export interface PeriodicJobOptions<R> {
  /** For the log line of a failed run. */
  readonly name: string;
  readonly intervalMs: number;
  /** Delay of the first run after start(). */
  readonly firstRunDelayMs: number;
  readonly log: Logger;
  /** One run; `signal` aborts when stop() is called. */
  readonly run: (signal: AbortSignal) => Promise<R>;
  /** Runs only while this node holds the lease (several nodes on one database). */
  readonly lease?: ClusterLease;
  /** Called after a failed run (e.g. to drop a cached context). */
  readonly onError?: (err: unknown) => void;
}

export interface PeriodicJob<R> {
  start(): void;
  /** One run now, or the one under way. */
  runOnce(): Promise<R>;
  stop(): Promise<void>;
}

export function periodicJob<R>(options: PeriodicJobOptions<R>): PeriodicJob<R> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<R> | null = null;

  function runOnce(): Promise<R> {
    running ??= options.run(abort.signal).finally(() => {
      running = null;
    });
    return running;
  }

  function schedule(delayMs: number): void {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => {
      const lease = options.lease;
      (lease ? lease.hold().then((held) => (held ? runOnce() : undefined)) : runOnce())
        .catch((err: unknown) => {
          options.onError?.(err);
          options.log.error({ err }, `${options.name} run failed`);
        })
        .finally(() => schedule(options.intervalMs));
    }, delayMs);
    timer.unref();
  }

  return {
    start: () => schedule(options.firstRunDelayMs),
    runOnce,
    async stop() {
      abort.abort();
      if (timer) clearTimeout(timer);
      if (running) await running.catch(() => undefined);
      await options.lease?.release();
    },
  };
}
