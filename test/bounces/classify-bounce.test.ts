import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyBounce, detailFromText, specificStatus } from '../../src/bounces/classify-bounce.ts';

const cls = (status: string, diagnostic = '', smtpCode: number | null = null) => classifyBounce({ status, smtpCode, diagnostic });

describe('RFC 3463 classes of asynchronous bounces', () => {
  it('X.1.1, X.1.2, X.1.10 (RFC 7505) and X.4.4 are hard', () => {
    for (const s of ['5.1.1', '5.1.2', '5.1.10', '5.4.4']) assert.equal(cls(s), 'hard', s);
  });

  it('X.7.x is a block, whatever the text says', () => {
    assert.equal(cls('5.7.1', '550 5.7.1 user unknown'), 'block');
    assert.equal(cls('5.7.26', '550 5.7.26 DMARC'), 'block');
  });

  it('§3.1: class 4 and class 2 are soft, even with a "blocked" reply (the MTA is still trying)', () => {
    assert.equal(cls('4.7.0', '421 4.7.0 blocked, try again later'), 'soft');
    assert.equal(cls('4.2.2', '452 4.2.2 mailbox full'), 'soft');
    assert.equal(cls('2.0.0'), 'soft');
  });

  it('X.2.2 mailbox full is soft under a 5xx, by common practice', () => {
    assert.equal(cls('5.2.2', '552 5.2.2 Mailbox full'), 'soft');
    assert.equal(cls('5.0.0', '552 Quota exceeded'), 'soft');
  });

  it('X.1.7 / X.1.8: the remote refusing our sender is a block, not the recipient\'s fault', () => {
    assert.equal(cls('5.1.8', '553 5.1.8 Sender address rejected: Domain not found'), 'block');
  });

  it('a vague 5.0.0 is sharpened by the reply text: blocklists → block, unknown user → hard', () => {
    assert.equal(cls('5.0.0', '550 Rejected: 203.0.113.5 listed at zen.spamhaus.org', 550), 'block');
    assert.equal(cls('5.0.0', '550 Requested action not taken: mailbox unavailable', 550), 'hard');
    assert.equal(cls('5.0.0', '550 5.1.1 No such user', 550), 'hard');
  });

  it('a reputation text beats "recipient" wording: a block must not suppress a good address', () => {
    assert.equal(cls('5.0.0', '550 Recipient address rejected: your IP has poor reputation'), 'block');
    // Office 365 directory-based edge blocking says "Access denied" for a recipient that does not exist.
    assert.equal(cls('5.4.1', '550 5.4.1 Recipient address rejected: Access denied'), 'hard');
  });
});

describe('texts that imply a status (used when a bounce gives none)', () => {
  it('maps the common phrasings', () => {
    assert.equal(detailFromText('User unknown in local recipient table'), '1.1');
    assert.equal(detailFromText('sorry, no mailbox here by that name'), '1.1');
    assert.equal(detailFromText('Mailbox is full'), '2.2');
    assert.equal(detailFromText('user is over quota'), '2.2');
    assert.equal(detailFromText('Host or domain name not found'), '1.2');
    assert.equal(detailFromText('domain has null MX'), '1.10');
    assert.equal(detailFromText('message too large'), '3.4');
    assert.equal(detailFromText('all fine here'), undefined);
  });

  it('specificStatus takes the reply\'s code only for an X.0.0 of the same class', () => {
    assert.equal(specificStatus('5.0.0', '550 5.1.1 gone'), '5.1.1');
    assert.equal(specificStatus('5.0.0', '450 4.2.1 later'), '5.0.0');
    assert.equal(specificStatus('5.1.2', '550 5.1.1 gone'), '5.1.2');
  });
});
