import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statusForOutcome } from '../../src/delivery/dsn-status.ts';

describe('RFC 3463 status for a remote reply', () => {
  it('keeps the remote enhanced code: 550 5.1.1 → failed 5.1.1', () => {
    assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode: 550, enhanced: '5.1.1' }), { action: 'failed', status: '5.1.1' });
  });

  it('gives 5.0.0 (failed) to a 550 without an enhanced code', () => {
    assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode: 550, enhanced: null }), { action: 'failed', status: '5.0.0' });
  });

  it('gives 4.0.0 (delayed) to a 4xx without an enhanced code', () => {
    for (const smtpCode of [421, 450, 451, 452]) {
      assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode }), { action: 'delayed', status: '4.0.0' });
    }
  });

  it('gives 2.0.0 (delivered) to a 250 without an enhanced code', () => {
    assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode: 250 }), { action: 'delivered', status: '2.0.0' });
  });

  it('ignores a malformed enhanced code: 554 "5.7" → 5.0.0', () => {
    assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode: 554, enhanced: '5.7' }), { action: 'failed', status: '5.0.0' });
    assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode: 554, enhanced: '5.1234.1' }), { action: 'failed', status: '5.0.0' });
  });

  it('lets the reply code decide the class (RFC 2034 §4): 550 with 4.2.2 → failed 5.2.2', () => {
    assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode: 550, enhanced: '4.2.2' }), { action: 'failed', status: '5.2.2' });
  });

  it('strips leading zeros: 552 5.02.002 → 5.2.2', () => {
    assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode: 552, enhanced: '5.02.002' }), { action: 'failed', status: '5.2.2' });
  });

  it('defers a reply it cannot classify (missing, 354) as 4.0.0, never bouncing', () => {
    assert.deepEqual(statusForOutcome({ kind: 'reply' }), { action: 'delayed', status: '4.0.0' });
    assert.deepEqual(statusForOutcome({ kind: 'reply', smtpCode: 354 }), { action: 'delayed', status: '4.0.0' });
  });
});

describe('RFC 3463 status for outcomes without a reply', () => {
  it('reports null MX as failed 5.1.10 (RFC 7505 §4.2)', () => {
    assert.deepEqual(statusForOutcome({ kind: 'null-mx' }), { action: 'failed', status: '5.1.10' });
  });

  it('reports NXDOMAIN as failed 5.1.2', () => {
    assert.deepEqual(statusForOutcome({ kind: 'nxdomain' }), { action: 'failed', status: '5.1.2' });
  });

  it('reports an expired message as failed 4.4.7, whatever the last reply was', () => {
    assert.deepEqual(statusForOutcome({ kind: 'expired', smtpCode: 451, enhanced: '4.3.0' }), { action: 'failed', status: '4.4.7' });
  });

  it('reports transient network and DNS trouble as delayed', () => {
    assert.deepEqual(statusForOutcome({ kind: 'dns-temporary' }), { action: 'delayed', status: '4.4.3' });
    assert.deepEqual(statusForOutcome({ kind: 'no-answer' }), { action: 'delayed', status: '4.4.1' });
    assert.deepEqual(statusForOutcome({ kind: 'connection-lost' }), { action: 'delayed', status: '4.4.2' });
    assert.deepEqual(statusForOutcome({ kind: 'tls-unavailable' }), { action: 'delayed', status: '4.7.4' });
    assert.deepEqual(statusForOutcome({ kind: 'tls-failed' }), { action: 'delayed', status: '4.7.5' });
    assert.deepEqual(statusForOutcome({ kind: 'local' }), { action: 'delayed', status: '4.3.0' });
  });

  it('reports unroutable, too big and looping mail as failed', () => {
    assert.deepEqual(statusForOutcome({ kind: 'no-route' }), { action: 'failed', status: '5.4.4' });
    assert.deepEqual(statusForOutcome({ kind: 'too-big' }), { action: 'failed', status: '5.3.4' });
    assert.deepEqual(statusForOutcome({ kind: 'loop' }), { action: 'failed', status: '5.4.6' });
  });

  it('reports relaying to a non-DSN host as relayed 2.0.0', () => {
    assert.deepEqual(statusForOutcome({ kind: 'relayed' }), { action: 'relayed', status: '2.0.0' });
  });
});
