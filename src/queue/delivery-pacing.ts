// Delivery gives way to acceptance when the CPU is short (concurrency/cpu-pressure.ts). The
// rate at which attempts start is adjusted every 50 ms: while the accepting thread waits for a
// CPU it is cut by a third (not below `floor` a second), and while it does not, it grows by a
// quarter until attempts are no longer held at all. So delivery takes what CPU acceptance
// leaves instead of a fixed share: measured with a fixed 100 attempts/s (then paced for SMTP
// load too), the relay bench (SMTP in, delivery out, 2 cores) relayed 810-920 messages/s
// instead of 1,222, the second core
// idling while SMTP took the first. An attempt under way runs to its end, and nothing holds
// the database's write lock while it waits here: only attempts not yet started wait. At
// shutdown every held attempt is let go, and the scheduler starts none of them.
import type { CpuPressure } from '../concurrency/cpu-pressure.ts';

const TICK_MS = 5;
const ADJUST_MS = 50;
const CUT = 2 / 3;
const GROW = 1.25;
/** Above this rate attempts are no longer held at all. */
const UNPACED = 20_000;

export class DeliveryPacing {
  readonly #pressure: CpuPressure;
  readonly #floor: number;
  readonly #waiting: Array<() => void> = [];
  /** Attempts a second; Infinity: not paced. */
  #rate = Infinity;
  #tokens = 0;
  #last = performance.now();
  #adjustedAt = performance.now();
  /** Attempts started since the last adjustment (the rate to cut from when pressure starts). */
  #started = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #held = 0;

  constructor(pressure: CpuPressure, floor: number) {
    this.#pressure = pressure;
    this.#floor = Math.max(1, floor);
  }

  /** Resolves when an attempt may start. */
  turn(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#refill();
    if (this.#waiting.length === 0 && this.#take()) return Promise.resolve();
    this.#held++;
    return new Promise<void>((resolve) => {
      this.#waiting.push(resolve);
      this.#timer ??= setInterval(() => this.#release(), TICK_MS);
    });
  }

  /** Attempts that had to wait for their turn, since the start. */
  get held(): number {
    return this.#held;
  }

  /** The current limit in attempts a second; Infinity when not paced. */
  get rate(): number {
    return this.#rate;
  }

  /** Lets every waiting attempt go, and any later one at once (stopping). */
  close(): void {
    this.#closed = true;
    this.#rate = Infinity;
    this.#release();
  }

  #take(): boolean {
    if (this.#rate !== Infinity) {
      if (this.#tokens < 1) return false;
      this.#tokens--;
    }
    this.#started++;
    return true;
  }

  #refill(): void {
    const now = performance.now();
    if (now - this.#adjustedAt >= ADJUST_MS) {
      const span = now - this.#adjustedAt;
      if (this.#pressure.pressed) {
        const current = this.#rate === Infinity ? (this.#started * 1000) / span : this.#rate;
        this.#rate = Math.max(this.#floor, current * CUT);
      } else if (this.#rate !== Infinity) {
        // However long since the last look: a quiet spell with nothing to start still counts.
        this.#rate *= GROW ** Math.floor(span / ADJUST_MS);
        if (this.#rate >= UNPACED) this.#rate = Infinity;
      }
      this.#adjustedAt = now;
      this.#started = 0;
    }
    const elapsed = Math.min(1000, now - this.#last);
    this.#last = now;
    if (this.#rate === Infinity) return;
    // A bucket of one adjustment period: the rate holds over any longer window.
    this.#tokens = Math.min(Math.max(1, (this.#rate * ADJUST_MS) / 1000), this.#tokens + (this.#rate * elapsed) / 1000);
  }

  #release(): void {
    if (!this.#closed) this.#refill();
    while (this.#waiting.length > 0 && (this.#closed || this.#take())) this.#waiting.shift()!();
    if (this.#waiting.length === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}
