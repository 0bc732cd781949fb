import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.ts';
import { nextWebhookAttemptAt, scheduleSpanMs } from '../../src/events/index.ts';

describe('webhook retry schedule', () => {
  const schedule = loadConfig({ env: {} }).webhooks.retry_schedule;

  it('defaults to 5s, 5m, 30m, 2h, 5h, 10h, 10h: 8 attempts over more than 24 hours', () => {
    assert.deepEqual(schedule, [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    assert.ok(scheduleSpanMs(schedule) >= 24 * 3_600_000);
  });

  it('waits the n-th delay after n failed attempts, within ±10 % jitter', () => {
    const now = 1_000_000;
    assert.equal(nextWebhookAttemptAt(schedule, 1, now, () => 0.5), now + 5_000);
    assert.equal(nextWebhookAttemptAt(schedule, 2, now, () => 0), now + 270_000);
    assert.equal(nextWebhookAttemptAt(schedule, 7, now, () => 1), now + 39_600_000);
  });

  it('gives up (null) once the schedule is used up, so the delivery fails', () => {
    assert.equal(nextWebhookAttemptAt(schedule, 8, 0), null);
    assert.equal(nextWebhookAttemptAt([1000], 2, 0), null);
  });
});
