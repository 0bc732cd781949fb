// When to try again: the configured delays (default 1m, 5m, 15m, 30m, 1h, 2h, 4h, then
// every 4h) with ±10% jitter, so recipients deferred together do not return together.

/** Delay before the next attempt after `attempts` failed ones (1-based), in ms. */
export function retryDelayMs(schedule: readonly number[], attempts: number, random: () => number = Math.random): number {
  const base = schedule[Math.min(Math.max(attempts, 1), schedule.length) - 1];
  const jitter = base * 0.1 * (2 * random() - 1);
  return Math.max(0, Math.round(base + jitter));
}

/**
 * The deferred recipient's fate: the next attempt time, or `expired` when that time would
 * fall after the message's maximum lifetime (Postfix's maximal_queue_lifetime).
 */
export function nextAttempt(schedule: readonly number[], attempts: number, now: number, expiresAt: number, random?: () => number): { expired: true } | { expired: false; at: number } {
  if (now >= expiresAt) return { expired: true };
  const at = now + retryDelayMs(schedule, attempts, random);
  // The last try is made at the end of the lifetime rather than skipped.
  return { expired: false, at: Math.min(at, expiresAt) };
}
