// watchCpuPressure: the thread that calls it is "pressed" while it is busy and waits for a
// CPU (Linux schedstat), measured for real: spinning threads take every core.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuPressure, watchCpuPressure } from '../../src/concurrency/cpu-pressure.ts';

const schedstat = existsSync('/proc/thread-self/schedstat');

/** Spins `ms` on this thread, yielding to the event loop every few ms (a busy server's loop). */
async function busy(ms: number, pressure: CpuPressure): Promise<boolean> {
  let seen = false;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const slice = performance.now() + 4;
    while (performance.now() < slice);
    await new Promise((resolve) => setImmediate(resolve));
    seen ||= pressure.pressed;
  }
  return seen;
}

/** Threads that spin on every core until terminated. */
function hogs(): Worker[] {
  return Array.from({ length: availableParallelism() + 1 }, () => new Worker('for (;;);', { eval: true }));
}

describe('watchCpuPressure', { skip: !schedstat && 'needs /proc/thread-self/schedstat (Linux)' }, () => {
  it('is pressed while the thread is busy and every core is taken, and clears once it is not', async () => {
    const pressure = new CpuPressure();
    const stop = watchCpuPressure(pressure);
    assert.ok(stop, 'schedstat is readable here');
    const workers = hogs();
    try {
      assert.equal(await busy(1500, pressure), true, 'pressed at some point while competing for the CPU');
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
    await sleep(400);
    assert.equal(pressure.pressed, false, 'cleared once the CPU is free again');
    stop();
  });

  it('is never pressed without demand (no HTTP request came in), however short the CPU', async () => {
    const idle = new CpuPressure();
    const stopIdle = watchCpuPressure(idle, { demand: () => false });
    const workers = hogs();
    try {
      assert.equal(await busy(1000, idle), false, 'no work whose latency matters: never pressed');
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
    stopIdle?.();
  });
});
