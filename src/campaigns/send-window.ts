// A campaign's optional sending window: messages are queued only between `start` and `end`
// (local wall-clock time in `timezone`, an IANA name) on the given ISO weekdays (1 = Monday).
// A window whose end is before its start spans midnight (22:00-06:00). Outside it the runner
// queues nothing; inside it the usual pacing applies (never faster than the rate).
import { z } from 'zod';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 00:00-23:59');

export const sendWindowSchema = z.strictObject({
  start: hhmm,
  end: hhmm,
  timezone: z.string().max(64).default('UTC').refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'an IANA time zone such as Europe/Oslo'),
  days: z.array(z.number().int().min(1).max(7)).min(1).max(7).default([1, 2, 3, 4, 5, 6, 7]).describe('ISO weekdays, 1 = Monday'),
});

export type SendWindow = z.output<typeof sendWindowSchema>;

const WEEKDAY: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formats = new Map<string, Intl.DateTimeFormat>();

/** True when `at` (ms) falls inside the window. */
export function insideWindow(window: SendWindow, at: number): boolean {
  let f = formats.get(window.timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: window.timezone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formats.set(window.timezone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  const day = WEEKDAY[parts.weekday] ?? 1;
  const toMin = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3));
  const start = toMin(window.start);
  const end = toMin(window.end);
  if (start === end) return window.days.includes(day);
  if (start < end) return window.days.includes(day) && minute >= start && minute < end;
  // Across midnight: the evening part belongs to today, the morning part to the day before.
  if (minute >= start) return window.days.includes(day);
  return minute < end && window.days.includes(day === 1 ? 7 : day - 1);
}
