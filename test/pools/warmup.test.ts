import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { warmupCap, parseDay } from '../../src/pools/index.ts';

const schedule = { dailyStart: 50, dailyGrowth: 1.4, dailyFull: 100_000, hourlyShare: 1 };

describe('warm-up schedule (ip_pools.warmup)', () => {
  const start = parseDay('2026-01-01');
  it('allows daily_start on day 0 and ×1.4 each day after (UTC days)', () => {
    assert.deepEqual(warmupCap(schedule, start + 5_000, start + 23 * 3_600_000), { day: 0, daily: 50, hourly: null });
    assert.equal(warmupCap(schedule, start, parseDay('2026-01-02')).daily, 70);
    assert.equal(warmupCap(schedule, start, parseDay('2026-01-04')).daily, 137);
  });
  it('lifts the cap once it reaches daily_full', () => {
    assert.deepEqual(warmupCap(schedule, start, parseDay('2026-02-15')), { day: 45, daily: null, hourly: null });
  });
  it('caps an hour at hourly_share of the day', () => {
    assert.equal(warmupCap({ ...schedule, hourlyShare: 0.1 }, start, start).hourly, 5);
  });
});
