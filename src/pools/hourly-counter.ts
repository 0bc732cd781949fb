// Counts per key (a source address, a tenant) and UTC hour, kept in memory for the current
// day and written to the store in batches (src/pools/outbound-pools.ts flushes the pending
// deltas). Reloading from the store adds the deltas not yet written, so other nodes' counts
// and ours both show.
import { HOUR_MS, dayStart, hourStart } from './warmup.ts';

export interface HourlyCount {
  readonly key: string;
  readonly hour: number;
  readonly n: number;
}

export class HourlyCounter {
  readonly #hours = new Map<string, Map<number, number>>();
  readonly #pending = new Map<string, Map<number, number>>();

  /** Adds `n` (negative to give back) to the key's count for the hour of `now`. */
  add(key: string, n: number, now: number): void {
    if (n === 0) return;
    const hour = hourStart(now);
    bump(this.#hours, key, hour, n);
    bump(this.#pending, key, hour, n);
  }

  hour(key: string, now: number): number {
    return this.#hours.get(key)?.get(hourStart(now)) ?? 0;
  }

  /** Since the start of the UTC day of `now`. */
  day(key: string, now: number): number {
    const hours = this.#hours.get(key);
    if (!hours) return 0;
    const from = dayStart(now);
    let total = 0;
    for (const [hour, n] of hours) if (hour >= from) total += n;
    return total;
  }

  /** Replaces every count with the stored ones (from the start of today), plus what is not written yet. */
  load(rows: readonly HourlyCount[]): void {
    this.#hours.clear();
    for (const r of rows) bump(this.#hours, r.key, r.hour, r.n);
    for (const [key, hours] of this.#pending) for (const [hour, n] of hours) bump(this.#hours, key, hour, n);
  }

  /** The deltas not written yet; they count as written from now on. */
  drain(): HourlyCount[] {
    const out: HourlyCount[] = [];
    for (const [key, hours] of this.#pending) for (const [hour, n] of hours) if (n !== 0) out.push({ key, hour, n });
    this.#pending.clear();
    return out;
  }

  /** Puts deltas back after a failed write. */
  restore(deltas: readonly HourlyCount[]): void {
    for (const d of deltas) bump(this.#pending, d.key, d.hour, d.n);
  }

  /** Forgets hours before today (they no longer count against anything). */
  prune(now: number): void {
    const from = dayStart(now) - HOUR_MS;
    for (const [key, hours] of this.#hours) {
      for (const hour of hours.keys()) if (hour < from) hours.delete(hour);
      if (hours.size === 0) this.#hours.delete(key);
    }
  }
}

function bump(map: Map<string, Map<number, number>>, key: string, hour: number, n: number): void {
  let hours = map.get(key);
  if (!hours) map.set(key, (hours = new Map()));
  hours.set(hour, (hours.get(hour) ?? 0) + n);
}
