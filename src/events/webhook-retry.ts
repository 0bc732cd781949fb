// When a failed webhook delivery is tried again. Unlike the mail queue's schedule, the last
// delay does not repeat: when the schedule runs out the delivery has failed, and a person
// (or a program) replays it through the API.

/**
 * The time of the next attempt after `failedAttempts` failed attempts counted since the
 * schedule (re)started, or null when the schedule is used up. Jitter of ±10 % spreads
 * retries of a burst that failed together (an endpoint that was down).
 */
export function nextWebhookAttemptAt(schedule: readonly number[], failedAttempts: number, now: number, random: () => number = Math.random): number | null {
  if (failedAttempts < 1 || failedAttempts > schedule.length) return null;
  const base = schedule[failedAttempts - 1];
  return now + Math.round(base * (0.9 + 0.2 * random()));
}

/** Total time the schedule covers, for docs and logs. */
export function scheduleSpanMs(schedule: readonly number[]): number {
  return schedule.reduce((a, b) => a + b, 0);
}
