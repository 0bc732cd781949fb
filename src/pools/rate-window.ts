// Messages per minute and per hour as two token buckets: a bucket holds at most the limit
// and refills continuously at limit per period, so a burst of up to the limit goes at once
// and then the rate holds. Times are ms; 0 means no limit.

export class RateWindow {
  readonly #perMinute: number;
  readonly #perHour: number;
  #minuteTokens: number;
  #hourTokens: number;
  #at: number;

  /** `startEmpty`: the first message waits a full interval (used after a back-off starts). */
  constructor(perMinute: number, perHour: number, now: number, startEmpty = false) {
    this.#perMinute = perMinute;
    this.#perHour = perHour;
    this.#minuteTokens = startEmpty ? 0 : capacity(perMinute);
    this.#hourTokens = startEmpty ? 0 : capacity(perHour);
    this.#at = now;
  }

  get limited(): boolean {
    return this.#perMinute > 0 || this.#perHour > 0;
  }

  /** Milliseconds until one message may go (0: now). */
  waitMs(now: number): number {
    this.#refill(now);
    let wait = 0;
    if (this.#perMinute > 0 && this.#minuteTokens < 1) wait = Math.max(wait, ((1 - this.#minuteTokens) * 60_000) / this.#perMinute);
    if (this.#perHour > 0 && this.#hourTokens < 1) wait = Math.max(wait, ((1 - this.#hourTokens) * 3_600_000) / this.#perHour);
    return Math.ceil(wait);
  }

  /** Takes one message's token; call only when waitMs() is 0. */
  take(now: number): void {
    this.#refill(now);
    if (this.#perMinute > 0) this.#minuteTokens -= 1;
    if (this.#perHour > 0) this.#hourTokens -= 1;
  }

  /** Gives a token back (the message was not sent after all). */
  refund(): void {
    if (this.#perMinute > 0) this.#minuteTokens = Math.min(capacity(this.#perMinute), this.#minuteTokens + 1);
    if (this.#perHour > 0) this.#hourTokens = Math.min(capacity(this.#perHour), this.#hourTokens + 1);
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#at);
    this.#at = now;
    if (this.#perMinute > 0) this.#minuteTokens = Math.min(capacity(this.#perMinute), this.#minuteTokens + (elapsed * this.#perMinute) / 60_000);
    if (this.#perHour > 0) this.#hourTokens = Math.min(capacity(this.#perHour), this.#hourTokens + (elapsed * this.#perHour) / 3_600_000);
  }
}

// A fractional limit (0.5 a minute) still lets one message through when its token is whole.
function capacity(limit: number): number {
  return Math.max(1, limit);
}
