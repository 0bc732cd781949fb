import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { insideWindow, sendWindowSchema } from '../../src/campaigns/index.ts';

const at = (iso: string) => Date.parse(iso);

describe('campaign sending windows (local time in an IANA zone, ISO weekdays)', () => {
  it('opens at start and closes at end, in the window\'s time zone', () => {
    const w = sendWindowSchema.parse({ start: '09:00', end: '17:00', timezone: 'Europe/Oslo' });
    // 2026-11-27 is a Friday; Oslo is UTC+1 in November.
    assert.equal(insideWindow(w, at('2026-11-27T07:59:00Z')), false);
    assert.equal(insideWindow(w, at('2026-11-27T08:00:00Z')), true);
    assert.equal(insideWindow(w, at('2026-11-27T15:59:00Z')), true);
    assert.equal(insideWindow(w, at('2026-11-27T16:00:00Z')), false);
  });

  it('keeps to the given weekdays, and a window over midnight belongs to the day it starts', () => {
    const weekdays = sendWindowSchema.parse({ start: '09:00', end: '17:00', days: [1, 2, 3, 4, 5] });
    assert.equal(insideWindow(weekdays, at('2026-11-27T10:00:00Z')), true);
    assert.equal(insideWindow(weekdays, at('2026-11-28T10:00:00Z')), false, 'Saturday');
    const night = sendWindowSchema.parse({ start: '22:00', end: '06:00', days: [5] });
    assert.equal(insideWindow(night, at('2026-11-27T23:00:00Z')), true, 'Friday 23:00');
    assert.equal(insideWindow(night, at('2026-11-28T05:00:00Z')), true, 'Saturday 05:00 is Friday night');
    assert.equal(insideWindow(night, at('2026-11-28T23:00:00Z')), false, 'Saturday 23:00');
    assert.equal(insideWindow(night, at('2026-11-27T12:00:00Z')), false);
  });

  it('refuses an unknown time zone and a time that is not HH:MM', () => {
    assert.equal(sendWindowSchema.safeParse({ start: '09:00', end: '17:00', timezone: 'Mars/Olympus' }).success, false);
    assert.equal(sendWindowSchema.safeParse({ start: '9', end: '17:00' }).success, false);
  });
});
