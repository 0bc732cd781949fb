// Whether the accepting thread (SMTP and HTTP) is short of CPU, shared with the delivery
// thread. The accepting thread reads how long it waited to be run (Linux schedstat: time
// runnable but not on a CPU) every 20 ms; a tenth of the interval or more means
// every core is busy, and each millisecond another thread takes is one a request waits.
// The server counts only intervals with HTTP requests (`demand`, server.ts): a 202 is what
// an application waits for inside its own request; SMTP clients queue and retry. Measured on the 2-core API bench (50 clients), the API thread waited 25-30 % of
// the time while delivery ran beside it at nice 5; with delivery held back while it waits
// (queue/delivery-pacing.ts), 5-8 %. A lower nice alone could not do this: delivery at nice 19
// was preempted while holding the database's write lock, and the API thread waited for it
// (one p99 of 170 ms).
import { readFileSync } from 'node:fs';

export class CpuPressure {
  readonly #cell: Int32Array;

  /** Pass the same buffer to both threads. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.#cell = new Int32Array(buffer);
  }

  get buffer(): SharedArrayBuffer {
    return this.#cell.buffer as SharedArrayBuffer;
  }

  /** True while the accepting thread waits for a CPU (as last measured). */
  get pressed(): boolean {
    return Atomics.load(this.#cell, 0) !== 0;
  }

  set(pressed: boolean): void {
    Atomics.store(this.#cell, 0, pressed ? 1 : 0);
  }
}

/** Nanoseconds the calling thread has run and waited on a run queue, or null where unknown. */
function schedStat(): { ran: number; waited: number } | null {
  try {
    // "time spent on the cpu, time spent waiting on a runqueue, timeslices" (ns; Documentation/scheduler/sched-stats.rst).
    const [ran, waited] = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ').map(Number);
    return Number.isFinite(ran) && Number.isFinite(waited) ? { ran, waited } : null;
  } catch {
    return null;
  }
}

/** How often the thread looks (ms). */
const INTERVAL_MS = 20;
/** Waited this share of the interval or more: short of CPU. */
const THRESHOLD = 0.1;
/**
 * And only while the thread has work (running or runnable for this share of the interval): a
 * thread that wakes for a moment now and then also waits for a CPU when delivery has both,
 * but then little is waiting for it, and holding delivery back would only slow delivery.
 */
const BUSY = 0.5;
/** Pressure ends only after this long without waiting (one quiet interval says little). */
const HOLD_MS = 100;

/**
 * Measures the calling thread into `pressure` until the returned function is called; null
 * (and nothing started) where schedstat cannot be read: not Linux, or a kernel without it.
 * With `demand`, only intervals for which it answers true count (work whose latency matters
 * was there).
 */
export function watchCpuPressure(pressure: CpuPressure, options: { demand?: () => boolean } = {}): (() => void) | null {
  let last = schedStat();
  if (last === null) return null;
  let at = performance.now();
  let pressedAt = -Infinity;
  const timer = setInterval(() => {
    const now = performance.now();
    const stat = schedStat();
    if (stat === null || last === null) {
      // Unreadable for now (no file descriptor left, say): what was seen still ends on time.
      pressure.set(now - pressedAt < HOLD_MS);
      last = stat;
      at = now;
      return;
    }
    const span = now - at;
    const waited = (stat.waited - last.waited) / 1e6;
    const waiting = waited >= THRESHOLD * span && (stat.ran - last.ran) / 1e6 + waited >= BUSY * span;
    if ((options.demand?.() ?? true) && waiting) pressedAt = now;
    pressure.set(now - pressedAt < HOLD_MS);
    last = stat;
    at = now;
  }, INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    pressure.set(false);
  };
}
