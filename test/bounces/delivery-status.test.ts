import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeliveryStatus, parseFields, reportAddress, splitTyped } from '../../src/bounces/delivery-status.ts';

describe('RFC 3464 §2.1 message/delivery-status fields', () => {
  it('unfolds continuation lines (RFC 5322 §2.2.3) and lower-cases names', () => {
    assert.deepEqual(parseFields('Diagnostic-Code: smtp; 550 5.1.1 No\r\n  such\r\n\tuser\r\nX-Other:  a  b '), [
      { name: 'diagnostic-code', value: 'smtp; 550 5.1.1 No such user' },
      { name: 'x-other', value: 'a b' },
    ]);
  });

  it('skips lines that are not fields and continuation lines with no field above', () => {
    assert.deepEqual(parseFields('  orphan\nnot a field\n: empty name\nA: 1'), [{ name: 'a', value: '1' }]);
  });

  it('§2.1.2: splits "type; value" only when the type is an atom', () => {
    assert.deepEqual(splitTyped('rfc822; a@b.example'), { type: 'rfc822', value: 'a@b.example' });
    assert.deepEqual(splitTyped('SMTP;550 x'), { type: 'smtp', value: '550 x' });
    assert.deepEqual(splitTyped('"a;b"@x.example'), { type: undefined, value: '"a;b"@x.example' });
  });

  it('§2.3.2: normalises rfc822 addresses (brackets, comments, domain case) and decodes RFC 6533 \\x{} escapes', () => {
    assert.equal(reportAddress('rfc822; <User@Example.COM>'), 'User@example.com');
    assert.equal(reportAddress('RFC822; user@example.com (Joe)'), 'user@example.com');
    assert.equal(reportAddress('utf-8; j\\x{F6}rg@example.de'), 'jörg@example.de');
    assert.equal(reportAddress('x400; /G=John/S=Doe/'), '/G=John/S=Doe/');
  });
});

describe('RFC 3464 §2.2 / §2.3 per-message and per-recipient groups', () => {
  const body = [
    'Reporting-MTA: dns; mx.example.net',
    'Received-From-MTA: dns; client.example.org',
    'Arrival-Date: Tue, 4 Jun 2024 10:15:00 +0000',
    'Original-Envelope-Id: ENV-1',
    '',
    '',
    'Final-Recipient: rfc822; a@example.com',
    'Original-Recipient: rfc822;A@Example.com',
    'Action: Failed',
    'Status: 5.1.1 (bad mailbox)',
    'Remote-MTA: dns; mx.example.com',
    'Diagnostic-Code: smtp; 550 5.1.1 <a@example.com>:',
    '    user unknown',
    'Last-Attempt-Date: Tue, 4 Jun 2024 10:15:01 +0000',
    '   ',
    'Final-Recipient: rfc822; b@example.com',
    'Action: delayed',
    'Status: 4.4.7',
    'Will-Retry-Until: Sun, 9 Jun 2024 10:15:00 +0000',
    '',
  ].join('\r\n');

  it('reads per-message fields and two recipients separated by a white-space-only line', () => {
    assert.deepEqual(parseDeliveryStatus(body), {
      reportingMta: 'mx.example.net',
      receivedFromMta: 'client.example.org',
      arrivalDate: 'Tue, 4 Jun 2024 10:15:00 +0000',
      originalEnvelopeId: 'ENV-1',
      recipients: [
        {
          address: 'a@example.com',
          originalRecipient: 'A@example.com',
          action: 'failed',
          status: '5.1.1',
          diagnostic: '550 5.1.1 <a@example.com>: user unknown',
          diagnosticType: 'smtp',
          remoteMta: 'mx.example.com',
          lastAttemptDate: 'Tue, 4 Jun 2024 10:15:01 +0000',
        },
        { address: 'b@example.com', action: 'delayed', status: '4.4.7', diagnostic: '', willRetryUntil: 'Sun, 9 Jun 2024 10:15:00 +0000' },
      ],
    });
  });

  it('§2.3.4: a missing Status comes from the diagnostic, then the reply code, then the action', () => {
    const parse = (fields: string) => parseDeliveryStatus(`Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@example.com\n${fields}`).recipients[0];
    assert.equal(parse('Action: failed\nDiagnostic-Code: smtp; 550 5.2.2 full').status, '5.2.2');
    assert.equal(parse('Action: failed\nDiagnostic-Code: smtp; 550 nope').status, '5.0.0');
    assert.equal(parse('Action: delayed').status, '4.0.0');
    assert.equal(parse('Status: 5.1.10').status, '5.1.10');
  });

  it('§2.3.3: an unknown action is derived from the status class', () => {
    const r = parseDeliveryStatus('Final-Recipient: rfc822; a@example.com\nAction: bounced\nStatus: 5.0.0').recipients[0];
    assert.equal(r.action, 'failed');
    const d = parseDeliveryStatus('Final-Recipient: rfc822; a@example.com\nStatus: 4.2.2').recipients[0];
    assert.equal(d.action, 'delayed');
  });

  it('drops recipient groups without an address and survives an empty body', () => {
    assert.deepEqual(parseDeliveryStatus('Final-Recipient:\nAction: failed').recipients, []);
    assert.deepEqual(parseDeliveryStatus(''), { recipients: [] });
  });

  it('reads a report with bare CR-less LF and no per-message group (seen in the wild)', () => {
    const r = parseDeliveryStatus('Final-Recipient: RFC822; x@example.org\nAction: failed\nStatus: 5.7.1\n');
    assert.deepEqual(r.recipients.map((x) => [x.address, x.status]), [['x@example.org', '5.7.1']]);
    assert.equal(r.reportingMta, undefined);
  });
});
