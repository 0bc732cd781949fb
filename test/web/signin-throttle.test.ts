import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SigninThrottle } from '../../src/web/index.ts';

describe('sign-in throttle: failures per IP and per account within a window', () => {
  const options = { maxFailuresPerIp: 3, maxFailuresPerAccount: 2, windowMs: 60_000 };

  it('refuses an account after its limit of failures, from any IP, with the seconds left in the window', () => {
    const t = new SigninThrottle(options);
    t.fail('192.0.2.1', 'ann', 1000);
    assert.equal(t.check('192.0.2.2', 'ann', 1000), null);
    t.fail('192.0.2.2', 'ann', 2000);
    assert.deepEqual(t.check('192.0.2.3', 'ann', 31_000), { limit: 'account', retryAfterSeconds: 30 });
    assert.equal(t.check('192.0.2.3', 'bob', 31_000), null, 'other accounts are unaffected');
    assert.equal(t.check('192.0.2.3', 'ann', 61_000), null, 'the window ends 60 s after the first failure');
  });

  it('refuses an IP after its limit, whatever the account; a success clears both counts', () => {
    const t = new SigninThrottle(options);
    for (const a of ['a', 'b', 'c']) t.fail('198.51.100.1', a, 0);
    assert.deepEqual(t.check('198.51.100.1', 'd', 10), { limit: 'ip', retryAfterSeconds: 60 });
    t.succeed('198.51.100.1', 'd');
    assert.equal(t.check('198.51.100.1', 'd', 10), null);
  });

  it('keeps at most maxTracked entries (memory bound under a spray of addresses)', () => {
    const t = new SigninThrottle({ ...options, maxTracked: 100 });
    for (let i = 0; i < 1000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`, `user${i}`, i);
    t.fail('10.9.9.9', 'late', 2000);
    assert.equal(t.check('10.9.9.9', 'late', 2001), null);
  });
});
