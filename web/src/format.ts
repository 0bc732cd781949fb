// Formatting for people: times in the viewer's own time zone (the API answers UTC), sizes
// and rates.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const shortTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** RFC 3339 → local date and time, e.g. "27 Nov 2026, 14:05:31". */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

export function formatShortTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return shortTime.format(new Date(iso));
}

/** The viewer's time zone name, shown where times are listed. */
export const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatRate(r: number | null | undefined): string {
  return r === null || r === undefined ? '—' : `${(r * 100).toFixed(1)} %`;
}

/** `<input type="datetime-local">` value (local time) → RFC 3339 UTC, or undefined. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
