import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTextBounce, splitOriginal } from '../../src/bounces/text-bounce.ts';

describe('text bounces: recognising the writer', () => {
  it('a text without signature, bounce-like sender, subject or X-Failed-Recipients is not a bounce', () => {
    assert.equal(parseTextBounce({ text: '<a@example.com>: 550 5.1.1 user unknown', subject: 'Re: hello', from: 'Friend <friend@example.com>' }), undefined);
  });

  it('a MAILER-DAEMON sender alone makes the generic reader try, and says the evidence is weak', () => {
    const bounce = parseTextBounce({ text: 'Delivery failed.\n\n<a@example.com>: 550 5.1.1 user unknown\n', from: 'Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>' });
    assert.equal(bounce?.format, 'generic');
    assert.equal(bounce?.recognised, false);
    assert.deepEqual(bounce?.recipients.map((r) => [r.address, r.status]), [['a@example.com', '5.1.1']]);
  });

  it('X-Failed-Recipients supplies recipients the text does not name, sharing its reply', () => {
    const bounce = parseTextBounce({
      text: 'This message was created automatically by mail delivery software.\n\nSMTP error from remote mail server after RCPT TO:<x@example.com>: 550 5.1.1 unknown\n',
      failedRecipients: ['x@example.com', 'y@example.com'],
    });
    assert.deepEqual(bounce?.recipients.map((r) => [r.address, r.status, r.smtpCode]), [['x@example.com', '5.1.1', 550], ['y@example.com', '5.1.1', 550]]);
  });
});

describe('text bounces: inferring RFC 3463 status from the reply code and text', () => {
  const postfix = (reply: string, subject = 'Undelivered Mail Returned to Sender') => parseTextBounce({
    text: `This is the mail system at host mx.example.net.\n\n<u@example.com>: host in.example.com[192.0.2.1] said: ${reply} (in reply to RCPT TO command)\n`,
    subject,
  })?.recipients[0];

  it('"mailbox full" under 452 infers 4.2.2, under 552 infers 5.2.2', () => {
    assert.equal(postfix('452 Mailbox full')?.status, '4.2.2');
    assert.equal(postfix('552 mailbox full')?.status, '5.2.2');
  });

  it('"user unknown" / "no such user" under 550 infers 5.1.1', () => {
    assert.equal(postfix('550 User unknown')?.status, '5.1.1');
    assert.equal(postfix('550 no such user here')?.status, '5.1.1');
  });

  it('an enhanced code in the reply is kept, its class taken from the reply code (RFC 2034 §4)', () => {
    assert.equal(postfix('550 5.7.1 Relaying denied')?.status, '5.7.1');
    assert.equal(postfix('550 4.1.1 odd server')?.status, '5.1.1');
  });

  it('an unrecognised reply gives X.0.0 of the reply class; no code at all gives 5.0.0', () => {
    assert.deepEqual([postfix('554 go away')?.status, postfix('554 go away')?.smtpCode], ['5.0.0', 554]);
    assert.deepEqual([postfix('connection reset')?.status, postfix('connection reset')?.smtpCode], ['5.0.0', null]);
  });

  it('a delay notice makes the recipient delayed and a code-less reply class 4', () => {
    const r = postfix('connection timed out', 'Delayed Mail (still being retried)');
    assert.deepEqual([r?.action, r?.status], ['delayed', '4.4.1']);
  });
});

describe('text bounces: the returned original is not part of the report', () => {
  it('cuts at the Exim, qmail and Exchange markers', () => {
    assert.deepEqual(splitOriginal('report\r\n------ This is a copy of the message, including all the headers. ------\r\n\r\nFrom: a@b\r\n'), { report: 'report\n', original: 'From: a@b\n' });
    assert.equal(splitOriginal('r\n--- Below this line is a copy of the message.\nX: y').original, 'X: y');
    assert.equal(splitOriginal('r\nOriginal message headers:\n\nX: y').original, 'X: y');
    assert.deepEqual(splitOriginal('no marker'), { report: 'no marker' });
  });

  it('an address quoted in the returned original is not reported as a failed recipient', () => {
    const bounce = parseTextBounce({
      text: 'Hi. This is the qmail-send program at mx.example.org.\n\n<a@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n\n<b@example.org>: 550 no such user\n',
    });
    assert.deepEqual(bounce?.recipients.map((r) => r.address), ['a@example.org']);
  });
});
