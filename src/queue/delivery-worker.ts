// The main thread's side of the delivery thread: it reserves room for recipients that
// ingress is about to commit (so they can be inserted already claimed), hands them over
// after the commit, and tracks how many are still in flight.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { ClaimedRecipient, WriteLock } from '../store/index.ts';
import type { CpuPressure } from '../concurrency/cpu-pressure.ts';
import type { FromDeliveryThread, ToDeliveryThread, DeliveryThreadData } from './delivery-thread.ts';

export interface DeliveryWorker {
  reserve(count: number): { owner: string; leaseMs: number } | null;
  deliver(claimed: readonly ClaimedRecipient[]): void;
  release(count: number): void;
  wake(): void;
  stop(): Promise<void>;
}

export async function startDeliveryWorker(config: Readonly<Config>, options: { owner: string; log: Logger; maxInflight?: number; writeLock?: WriteLock; pressure?: CpuPressure }): Promise<DeliveryWorker> {
  const maxInflight = options.maxInflight ?? 4000;
  const data: DeliveryThreadData = { config: structuredClone(config) as Config, owner: options.owner, maxInflight, writeLockBuffer: options.writeLock?.buffer ?? null, pressureBuffer: options.pressure?.buffer ?? null };
  const worker = new Worker(new URL('./delivery-thread.ts', import.meta.url), { workerData: data });
  let reserved = 0;
  let stopping = false;
  const send = (m: ToDeliveryThread) => worker.postMessage(m);
  let onStopped: (() => void) | null = null;
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: FromDeliveryThread) => {
      if (m.type === 'ready') resolve();
      else if (m.type === 'failed') reject(new Error(`delivery thread: ${m.message}`));
      else if (m.type === 'settled') reserved -= m.count;
      else if (m.type === 'stopped') onStopped?.();
    });
    worker.once('error', reject);
    worker.on('exit', (code) => {
      if (!stopping) {
        // Without delivery the node would accept mail it never sends: stop, let the supervisor restart.
        options.log.fatal({ code }, 'delivery thread exited; stopping');
        process.exit(70);
      }
    });
  });
  return {
    reserve(count) {
      // The thread's own claims (retries) count against its limit there; here only handoffs.
      if (stopping || reserved + count > maxInflight) return null;
      reserved += count;
      return { owner: options.owner, leaseMs: config.queue.lease };
    },
    deliver(claimed) {
      if (!stopping) send({ type: 'adopt', claimed: [...claimed] });
    },
    release(count) {
      reserved -= count;
    },
    wake() {
      send({ type: 'wake' });
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      const done = new Promise<void>((resolve) => {
        onStopped = resolve;
        worker.once('exit', () => resolve());
      });
      send({ type: 'stop' });
      await done;
      await worker.terminate();
    },
  };
}
