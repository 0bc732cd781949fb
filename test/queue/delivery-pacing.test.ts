// DeliveryPacing: attempts start freely until the accepting thread is short of CPU, then at
// a reduced rate (never below the floor), and speed up again once it is not.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuPressure } from '../../src/concurrency/cpu-pressure.ts';
import { DeliveryPacing } from '../../src/queue/delivery-pacing.ts';

/** Asks for `n` turns; answers a counter of those granted so far and a promise of all. */
function ask(pacing: DeliveryPacing, n: number): { granted: () => number; all: Promise<void> } {
  let granted = 0;
  const all = Promise.all(Array.from({ length: n }, () => pacing.turn().then(() => { granted++; }))).then(() => undefined);
  return { granted: () => granted, all };
}

describe('DeliveryPacing', () => {
  it('holds nothing while the accepting thread has the CPU it wants', async () => {
    const pacing = new DeliveryPacing(new CpuPressure(), 10);
    const turns = ask(pacing, 200);
    await sleep(0);
    assert.equal(turns.granted(), 200);
    assert.equal(pacing.held, 0);
    assert.equal(pacing.rate, Infinity);
  });

  it('under pressure starts attempts at a reduced rate, never below the floor, and lets them all go once it ends', async () => {
    const pressure = new CpuPressure();
    const pacing = new DeliveryPacing(pressure, 20);
    pressure.set(true);
    await sleep(60); // one adjustment period: the rate is cut from what was started (nothing) to the floor
    const turns = ask(pacing, 40);
    await sleep(500);
    assert.equal(pacing.rate, 20);
    // 20 a second for half a second, plus a bucket of one adjustment period.
    assert.ok(turns.granted() >= 5 && turns.granted() <= 14, `granted ${turns.granted()} of 40 in 500 ms at 20/s`);
    pressure.set(false);
    const started = performance.now();
    await turns.all;
    // ×1.25 every 50 ms from 20/s: the 30-odd left go within about a second.
    assert.ok(performance.now() - started < 2000, `the held attempts took ${Math.round(performance.now() - started)} ms after the pressure ended`);
    assert.ok(pacing.held >= 26);
  });

  it('close() lets every held attempt go at once (stopping)', async () => {
    const pressure = new CpuPressure();
    const pacing = new DeliveryPacing(pressure, 1);
    pressure.set(true);
    await sleep(60);
    const turns = ask(pacing, 50);
    await sleep(20);
    assert.ok(turns.granted() < 50);
    pacing.close();
    await turns.all;
    assert.equal(turns.granted(), 50);
  });
});
