// Warm-up of a new sending IP: mailbox providers judge an address by its history, so a new
// one starts with a small daily volume that grows by a factor each day (the usual ×1.3–×1.5)
// until it reaches full volume. Days and hours are UTC; day 0 is the day the IP was added.

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export interface WarmupSchedule {
  /** Recipients on day 0. */
  readonly dailyStart: number;
  readonly dailyGrowth: number;
  /** From the first day whose cap reaches this, no cap. */
  readonly dailyFull: number;
  /** Share of the day's cap allowed in one hour (1: no hourly cap). */
  readonly hourlyShare: number;
}

export interface WarmupCap {
  /** Days since day 0 (0 on the first day). */
  readonly day: number;
  /** Recipients allowed today; null once warm. */
  readonly daily: number | null;
  /** Recipients allowed this hour; null without an hourly cap. */
  readonly hourly: number | null;
}

export function hourStart(now: number): number {
  return now - (now % HOUR_MS);
}

export function dayStart(now: number): number {
  return now - (now % DAY_MS);
}

/** The caps of an IP whose warm-up started at `startedAt`, on the day of `now`. */
export function warmupCap(schedule: WarmupSchedule, startedAt: number, now: number): WarmupCap {
  const day = Math.max(0, Math.round((dayStart(now) - dayStart(startedAt)) / DAY_MS));
  const raw = schedule.dailyStart * schedule.dailyGrowth ** day;
  if (raw >= schedule.dailyFull || !Number.isFinite(raw)) return { day, daily: null, hourly: null };
  const daily = Math.floor(raw);
  return { day, daily, hourly: schedule.hourlyShare < 1 ? Math.max(1, Math.ceil(daily * schedule.hourlyShare)) : null };
}

/** `YYYY-MM-DD` (UTC) to ms. */
export function parseDay(text: string): number {
  return Date.parse(`${text}T00:00:00Z`);
}
