import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSmtpReply, replyClass } from '../../src/delivery/smtp-reply.ts';

describe('RFC 5321 §4.2 reply parsing', () => {
  it('reads code, enhanced code and text of a one-line 550 5.1.1 reply', () => {
    assert.deepEqual(parseSmtpReply('550 5.1.1 No such user'), { code: 550, enhanced: '5.1.1', text: 'No such user' });
  });

  it('joins the lines of a multi-line 550 reply and strips each line prefix', () => {
    const reply = parseSmtpReply('550-5.7.1 Message rejected\n550-5.7.1 see https://example.test/why\n550 5.7.1 bye');
    assert.deepEqual(reply, { code: 550, enhanced: '5.7.1', text: 'Message rejected\nsee https://example.test/why\nbye' });
  });

  it('accepts CRLF line ends and a trailing line break', () => {
    assert.deepEqual(parseSmtpReply('451-4.7.1 Greylisted\r\n451 4.7.1 try later\r\n'), { code: 451, enhanced: '4.7.1', text: 'Greylisted\ntry later' });
  });

  it('gives a null enhanced code when the 250 reply has none', () => {
    assert.deepEqual(parseSmtpReply('250 OK queued as 12345'), { code: 250, enhanced: null, text: 'OK queued as 12345' });
  });

  it('ignores an enhanced code whose class disagrees with the 550 reply (RFC 2034 §4)', () => {
    assert.deepEqual(parseSmtpReply('550 4.2.2 Mailbox full'), { code: 550, enhanced: null, text: '4.2.2 Mailbox full' });
  });

  it('does not take a version number in the text for an enhanced code', () => {
    assert.equal(parseSmtpReply('250 2.0.0').enhanced, '2.0.0');
    assert.equal(parseSmtpReply('250 Postfix 3.7.2 ready').enhanced, null);
    assert.equal(parseSmtpReply('554 5.7.1000 odd').enhanced, null);
  });

  it('normalises leading zeros in the enhanced code (RFC 3463 §2)', () => {
    assert.equal(parseSmtpReply('452 4.02.002 over quota').enhanced, '4.2.2');
  });

  it('reads a bare code and a code followed by a tab', () => {
    assert.deepEqual(parseSmtpReply('421'), { code: 421, enhanced: null, text: '' });
    assert.deepEqual(parseSmtpReply('421\t4.3.2 shutting down'), { code: 421, enhanced: '4.3.2', text: 'shutting down' });
  });

  it('keeps text that is not a reply as it is, with a null code', () => {
    assert.deepEqual(parseSmtpReply('connect ECONNREFUSED 127.0.0.2:25'), { code: null, enhanced: null, text: 'connect ECONNREFUSED 127.0.0.2:25' });
    assert.deepEqual(parseSmtpReply(''), { code: null, enhanced: null, text: '' });
    assert.deepEqual(parseSmtpReply('600 nonsense'), { code: null, enhanced: null, text: '600 nonsense' });
  });

  it('keeps a continuation line that lost its code', () => {
    assert.deepEqual(parseSmtpReply('550-5.1.1 first\nsecond'), { code: 550, enhanced: '5.1.1', text: 'first\nsecond' });
  });

  it('classes 2yz success, 3yz intermediate, 4yz transient, 5yz permanent (RFC 5321 §4.2.1)', () => {
    assert.equal(replyClass(250), 'success');
    assert.equal(replyClass(354), 'intermediate');
    assert.equal(replyClass(451), 'transient');
    assert.equal(replyClass(550), 'permanent');
    assert.equal(replyClass(null), 'unknown');
    assert.equal(replyClass(199), 'unknown');
  });
});
