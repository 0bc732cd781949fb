// When a deferred recipient is tried again (src/queue/retry-schedule.ts): the configured
// delays in order, the last one repeating, ±10% jitter, and a final try at the end of the
// lifetime rather than none. `random` is injected, so no clock or sleep is involved.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelayMs, nextAttempt } from '../../src/queue/retry-schedule.ts';

const MIN = 60_000;
const SCHEDULE = [1 * MIN, 5 * MIN, 15 * MIN, 30 * MIN];
const noJitter = () => 0.5;

describe('retryDelayMs: the schedule after n failed attempts', () => {
  it('uses the n-th delay after the n-th failure', () => {
    assert.deepEqual([1, 2, 3, 4].map((n) => retryDelayMs(SCHEDULE, n, noJitter)), SCHEDULE);
  });

  it('repeats the last delay once the schedule is used up', () => {
    assert.equal(retryDelayMs(SCHEDULE, 5, noJitter), 30 * MIN);
    assert.equal(retryDelayMs(SCHEDULE, 500, noJitter), 30 * MIN);
  });

  it('treats 0 (or less) failed attempts as the first', () => {
    assert.equal(retryDelayMs(SCHEDULE, 0, noJitter), 1 * MIN);
    assert.equal(retryDelayMs(SCHEDULE, -3, noJitter), 1 * MIN);
  });

  it('adds jitter of at most ±10%, so recipients deferred together do not return together', () => {
    assert.equal(retryDelayMs(SCHEDULE, 2, () => 0), 4.5 * MIN);
    assert.equal(retryDelayMs(SCHEDULE, 2, () => 0.999999), Math.round(5 * MIN * (1 + 0.1 * (2 * 0.999999 - 1))));
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const d = retryDelayMs(SCHEDULE, 2);
      assert.ok(d >= 4.5 * MIN && d <= 5.5 * MIN, `${d} within ±10% of 5 min`);
      seen.add(d);
    }
    assert.ok(seen.size > 100, 'the delays are spread out');
  });

  it('returns whole milliseconds and never a negative delay', () => {
    assert.equal(retryDelayMs([1_001], 1, () => 0.123), Math.round(1_001 + 1_001 * 0.1 * (2 * 0.123 - 1)));
    assert.equal(retryDelayMs([0], 1, () => 0), 0);
  });
});

describe('nextAttempt: retry or expire (RFC 5321 §4.5.4.1 give-up time)', () => {
  const now = 1_700_000_000_000;

  it('schedules the next attempt after the delay while the lifetime lasts', () => {
    assert.deepEqual(nextAttempt(SCHEDULE, 1, now, now + 5 * 24 * 60 * MIN, noJitter), { expired: false, at: now + MIN });
    assert.deepEqual(nextAttempt(SCHEDULE, 3, now, now + 5 * 24 * 60 * MIN, noJitter), { expired: false, at: now + 15 * MIN });
  });

  it('makes the last try at the end of the lifetime rather than skip it', () => {
    assert.deepEqual(nextAttempt(SCHEDULE, 4, now, now + 10 * MIN, noJitter), { expired: false, at: now + 10 * MIN });
  });

  it('expires once the lifetime is over, exactly at the deadline too', () => {
    assert.deepEqual(nextAttempt(SCHEDULE, 4, now, now, noJitter), { expired: true });
    assert.deepEqual(nextAttempt(SCHEDULE, 4, now + 1, now, noJitter), { expired: true });
  });

  it('a 3 s lifetime with 1 s retries gives attempts at about 0, 1, 2 and 3 s, then expiry', () => {
    const start = 0;
    const expiresAt = start + 3_000;
    const times = [start];
    let result = nextAttempt([1_000], 1, start, expiresAt, noJitter);
    while (!result.expired) {
      times.push(result.at);
      result = nextAttempt([1_000], times.length, result.at, expiresAt, noJitter);
    }
    assert.deepEqual(times, [0, 1_000, 2_000, 3_000]);
  });
});
