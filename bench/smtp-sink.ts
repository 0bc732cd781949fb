// Postfix's smtp-sink as the final destination: it accepts and discards, and with -c prints
// "sess=N quit=N mesg=N" each time a session ends or a message's "." arrives, separated by
// carriage returns. The last mesg= value is the number of messages received so far.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { HOST, freePort, waitForPort } from './net.ts';
import { BenchSetupError } from './tools.ts';

export interface Sink {
  readonly port: number;
  /** Messages received since the sink started. */
  received(): number;
  /** Resolves with the time the count reached `count`, or null at the deadline (epoch ms). */
  waitFor(count: number, deadline: number): Promise<number | null>;
  stop(): Promise<void>;
  /** Synchronous kill for a process 'exit' handler. */
  stopNow(): void;
}

/** Feeds the text of a counter-printing tool and reports the last `name=N` it saw. */
export function counterReader(name: string, onValue: (value: number) => void): (chunk: Buffer) => void {
  const pattern = new RegExp(`(?:^|\\s)${name}=(\\d+)`);
  let partial = '';
  return (chunk) => {
    const parts = (partial + chunk.toString('latin1')).split(/[\r\n]/);
    partial = parts.pop() ?? '';
    for (const part of parts) {
      const match = pattern.exec(part);
      if (match) onValue(Number(match[1]));
    }
  };
}

export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts smtp-sink on a free loopback port. Throws BenchSetupError if it does not listen. */
export async function startSink(bin: string): Promise<Sink> {
  const port = await freePort();
  // As root, smtp-sink insists on dropping privileges (-u); "nobody" exists everywhere.
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  // -c counters; -m: more simultaneous sessions than any relay opens; backlog 1024.
  const child = spawn(bin, [...user, '-c', '-m', '1024', `${HOST}:${port}`, '1024'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let received = 0;
  let stderr = '';
  const waiters = new Set<{ count: number; resolve: (at: number) => void }>();
  child.stdout.on('data', counterReader('mesg', (value) => {
    received = value;
    for (const waiter of waiters) {
      if (received >= waiter.count) {
        waiters.delete(waiter);
        waiter.resolve(Date.now());
      }
    }
  }));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    if (!(await waitForExit(child, 3000))) child.kill('SIGKILL');
  };
  if (!(await waitForPort(port, 5000))) {
    await stop();
    throw new BenchSetupError('BENCH_SINK_START', `smtp-sink did not listen on ${HOST}:${port}: ${stderr.trim()}`);
  }
  return {
    port,
    received: () => received,
    async waitFor(count, deadline) {
      if (received >= count) return Date.now();
      let entry: { count: number; resolve: (at: number) => void } | undefined;
      const reached = new Promise<number>((resolve) => {
        entry = { count, resolve };
        waiters.add(entry);
      });
      const ac = new AbortController();
      const expired = sleep(Math.max(0, deadline - Date.now()), null, { signal: ac.signal }).catch(() => null);
      const at = await Promise.race([reached, expired]);
      ac.abort();
      if (entry) waiters.delete(entry);
      return at;
    },
    stop,
    stopNow: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
