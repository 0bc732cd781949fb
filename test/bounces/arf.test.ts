import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFeedbackReport } from '../../src/bounces/arf.ts';

describe('RFC 5965 message/feedback-report', () => {
  it('§3.1/§3.2: reads the required and optional fields, repeated Original-Rcpt-To included', () => {
    const report = parseFeedbackReport([
      'Feedback-Type: Fraud',
      'User-Agent: SomeGenerator/1.0',
      'Version: 1',
      'Original-Mail-From: <bounce@rp.acme.test>',
      'Original-Rcpt-To: <a@example.com>',
      'Original-Rcpt-To: b@EXAMPLE.com',
      'Original-Rcpt-To: <a@example.com>',
      'Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT',
      'Source-IP: 192.0.2.1',
      'Reported-Domain: Acme.Test',
      '',
    ].join('\r\n'));
    assert.deepEqual(report, {
      feedbackType: 'fraud',
      userAgent: 'SomeGenerator/1.0',
      version: '1',
      originalMailFrom: 'bounce@rp.acme.test',
      originalRcptTo: ['a@example.com', 'b@example.com'],
      arrivalDate: 'Thu, 8 Mar 2005 14:00:00 EDT',
      sourceIp: '192.0.2.1',
      reportedDomain: 'acme.test',
    });
  });

  it('§7.3: a report without Feedback-Type is "other"; blank lines between fields are tolerated', () => {
    const report = parseFeedbackReport('User-Agent: x\n\nSource-IP: [2001:db8::1]\n');
    assert.equal(report.feedbackType, 'other');
    assert.equal(report.sourceIp, '2001:db8::1');
    assert.deepEqual(report.originalRcptTo, []);
  });
});
