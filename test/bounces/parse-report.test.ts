import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseInboundReport } from '../../src/bounces/index.ts';
import type { BouncedRecipient, InboundReport } from '../../src/bounces/index.ts';
import { buildDsn } from '../../src/delivery/dsn.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url);

async function fixture(name: string, lineEnd: '\n' | '\r\n' = '\n'): Promise<Buffer> {
  const text = await readFile(new URL(name, FIXTURES), 'utf8');
  return Buffer.from(lineEnd === '\n' ? text : text.replace(/\r?\n/g, '\r\n'));
}

type Expected = Omit<BouncedRecipient, 'diagnostic' | 'remoteMta'> & { diagnostic: RegExp; remoteMta?: string };

interface BounceCase {
  rule: string;
  file: string;
  recipients: Expected[];
  reportingMta?: string;
  originalMessageId?: string;
  postlineId?: string;
}

const BOUNCES: BounceCase[] = [
  {
    rule: 'RFC 3464 §2.3.4: a Postfix DSN with Status 5.1.1 is a hard bounce',
    file: 'rfc3464-hard-5.1.1.eml',
    recipients: [{ address: 'nobody@example.com', status: '5.1.1', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /^550 5\.1\.1 <nobody@example\.com>: Recipient address rejected: User unknown in virtual mailbox table$/, remoteMta: 'mail.example.com' }],
    reportingMta: 'mx1.example.net',
    originalMessageId: '<0190e6f2-6c1e-7a4b-9d7e-3f1f5b2a9c11@acme.test>',
    postlineId: 'msg_01HZX3K9Q4W8E2R7T6Y5U4I3O2',
  },
  {
    rule: 'RFC 3464 §2.3.3: action delayed with 4.2.2 mailbox full is a soft warning',
    file: 'rfc3464-soft-4.2.2-delayed.eml',
    recipients: [{ address: 'full.box@example.org', status: '4.2.2', action: 'delayed', smtpCode: 452, class: 'soft', diagnostic: /^452 4\.2\.2 Mailbox full/, remoteMta: 'imap.example.org' }],
    reportingMta: 'relay.example.org',
    originalMessageId: '<news-2024-06-0001@acme.test>',
    postlineId: 'msg_01HZZ0DELAY0000000000000001',
  },
  {
    rule: 'RFC 3464 §2.3.3: action failed with a persistent 4.2.2 after retries stays soft',
    file: 'rfc3464-soft-4.2.2-failed.eml',
    recipients: [{ address: 'full.box@example.org', status: '4.2.2', action: 'failed', smtpCode: 452, class: 'soft', diagnostic: /Mailbox full/ }],
    originalMessageId: '<news-2024-06-0001@acme.test>',
  },
  {
    rule: 'RFC 7505 §3.3: 5.1.10 null MX is a hard bounce, address domain lower-cased',
    file: 'rfc3464-null-mx-5.1.10.eml',
    recipients: [{ address: 'nomail@null.example', status: '5.1.10', action: 'failed', smtpCode: 556, class: 'hard', diagnostic: /^556 5\.1\.10 Recipient address has null MX$/ }],
    reportingMta: 'smarthost.example.net',
    postlineId: 'msg_01J00NULLMX000000000000001',
  },
  {
    rule: 'RFC 3463 X.7.1: a Spamhaus listing is a block, folded diagnostic kept whole',
    file: 'rfc3464-policy-block-5.7.1.eml',
    recipients: [{ address: 'alice@example.com', status: '5.7.1', action: 'failed', smtpCode: 554, class: 'block', diagnostic: /^554 5\.7\.1 Service unavailable; Client host \[203\.0\.113\.5\] blocked using zen\.spamhaus\.org; https:\/\/www\.spamhaus\.org\/query\/ip\/203\.0\.113\.5$/ }],
    originalMessageId: '<receipt-1@acme.test>',
  },
  {
    rule: 'RFC 3464 §2.3: one report, five recipients of different classes, the missing diagnostic taken from the human part',
    file: 'rfc3464-multi-recipient.eml',
    recipients: [
      { address: 'unknown.user@example.info', status: '5.1.1', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /User unknown$/, remoteMta: 'in1.example.info' },
      { address: 'blocked.rcpt@example.info', status: '5.7.1', action: 'failed', smtpCode: 550, class: 'block', diagnostic: /^550 5\.7\.1 Rejected due to DMARC policy$/, remoteMta: 'in1.example.info' },
      { address: 'later@example.info', status: '4.4.1', action: 'delayed', smtpCode: null, class: 'soft', diagnostic: /^Connection timed out with in2\.example\.info\.$/ },
      { address: 'vague@example.info', status: '5.0.0', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /mailbox unavailable$/, remoteMta: 'in1.example.info' },
      { address: 'quota@example.info', status: '5.2.2', action: 'failed', smtpCode: 552, class: 'soft', diagnostic: /Quota exceeded \(mailbox for user is full\)$/, remoteMta: 'in1.example.info' },
    ],
    reportingMta: 'mail.example.info',
    postlineId: 'msg_01J0MULTI00000000000000001',
  },
  {
    rule: 'RFC 6533 §3: message/global-delivery-status with UTF-8 and \\x{} escaped addresses',
    file: 'rfc6533-global-delivery-status.eml',
    recipients: [
      { address: 'δοκιμή@xn--hxajbheg2az3al.test', status: '5.1.1', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /^550 5\.1\.1 Άγνωστος παραλήπτης$/, remoteMta: 'mx.παράδειγμα.test' },
      { address: 'jörg@example.de', status: '5.2.2', action: 'failed', smtpCode: 552, class: 'soft', diagnostic: /Postfach voll$/ },
    ],
    originalMessageId: '<global-1@acme.test>',
    postlineId: 'msg_01J0GLOBAL0000000000000001',
  },
  {
    rule: 'Office 365 text NDR: "Remote Server returned \'550 5.1.10 …\'" is hard, original headers from the text',
    file: 'exchange-o365-text.eml',
    recipients: [{ address: 'ghost@contoso.example', status: '5.1.10', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /^550 5\.1\.10 RESOLVER\.ADR\.RecipientNotFound; Recipient ghost@contoso\.example not found by SMTP address lookup$/ }],
    reportingMta: 'AM0PR01MB5678.eurprd01.prod.exchangelabs.com',
    originalMessageId: '<inv-2024-118@acme.test>',
    postlineId: 'msg_01J0EXCHANGE00000000000001',
  },
  {
    rule: 'Exchange 2010 text NDR: "#550 5.1.1 … ##" and "#554 5.4.4 … ##" are hard',
    file: 'exchange-2010-text.eml',
    recipients: [
      { address: 'jane.doe@corp.example', status: '5.1.1', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /^550 5\.1\.1 RESOLVER\.ADR\.RecipNotFound; not found$/ },
      { address: 'nobody@nonexistent.example', status: '5.4.4', action: 'failed', smtpCode: 554, class: 'hard', diagnostic: /NonExistentDomain; nonexistent domain$/ },
    ],
    postlineId: 'msg_01J0EXCH2010000000000000001',
  },
  {
    rule: 'Gmail "Address not found": the reply under "The response from the remote server was:" is hard',
    file: 'gmail-address-not-found.eml',
    recipients: [{ address: 'no.such.person@example.com', status: '5.1.1', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /^550 5\.1\.1 The email account that you tried to reach does not exist\./ }],
    originalMessageId: '<reset-3141@acme.test>',
    postlineId: 'msg_01J0GMAIL0000000000000000001',
  },
  {
    rule: 'Gmail "Message blocked" in HTML only: 5.7.26 DMARC is a block',
    file: 'gmail-message-blocked-html.eml',
    recipients: [{ address: 'ceo@example.com', status: '5.7.26', action: 'failed', smtpCode: 550, class: 'block', diagnostic: /^550 5\.7\.26 Unauthenticated email from acme\.test is not accepted due to domain's DMARC policy\./ }],
  },
  {
    rule: 'Yahoo "554: delivery error: dd This user doesn\'t have … account" infers 5.1.1, hard',
    file: 'yahoo-no-account.eml',
    recipients: [{ address: 'gone.user@yahoo.example', status: '5.1.1', action: 'failed', smtpCode: 554, class: 'hard', diagnostic: /^554: delivery error: dd This user doesn't have a yahoo\.example account/ }],
    postlineId: 'msg_01J0YAHOO0000000000000000001',
  },
  {
    rule: 'Postfix text: "said: 550 … User unknown" infers 5.1.1; "Host or domain name not found" infers 5.1.2',
    file: 'postfix-text.eml',
    recipients: [
      { address: 'bob@example.net', status: '5.1.1', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /^550 <bob@example\.net>: Recipient address rejected: User unknown in local recipient table \(in reply to RCPT TO command\)$/, remoteMta: 'mx.example.net' },
      { address: 'carol@gone.example', status: '5.1.2', action: 'failed', smtpCode: null, class: 'hard', diagnostic: /^Host or domain name not found\. Name service error for name=gone\.example type=A: Host not found$/ },
    ],
    reportingMta: 'mail.example.net',
  },
  {
    rule: 'Exim: "SMTP error from remote mail server after RCPT TO:<…>: 550 5.1.1" is hard',
    file: 'exim-text.eml',
    recipients: [{ address: 'ghost@example.co.uk', status: '5.1.1', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /^550 5\.1\.1 <ghost@example\.co\.uk>: Recipient address rejected: User unknown$/, remoteMta: 'mx.example.co.uk' }],
    originalMessageId: '<digest-24-24@acme.test>',
    postlineId: 'msg_01J0EXIM00000000000000000001',
  },
  {
    rule: 'Exim delay warning: "has not yet been delivered" with 451 4.3.0 is delayed, soft',
    file: 'exim-delay-warning.eml',
    recipients: [{ address: 'slow@example.co.uk', status: '4.3.0', action: 'delayed', smtpCode: 451, class: 'soft', diagnostic: /^451 4\.3\.0 Temporary local problem - please try later$/, remoteMta: 'mx2.example.co.uk' }],
  },
  {
    rule: 'qmail: "552 sorry, mailbox … is over quota" infers 5.2.2 (soft); "(#5.1.1)" is hard',
    file: 'qmail-text.eml',
    recipients: [
      { address: 'stuffed@example.org', status: '5.2.2', action: 'failed', smtpCode: 552, class: 'soft', diagnostic: /^552 sorry, mailbox stuffed@example\.org is over quota$/ },
      { address: 'left.company@example.org', status: '5.1.1', action: 'failed', smtpCode: null, class: 'hard', diagnostic: /^Sorry, no mailbox here by that name\. \(#5\.1\.1\)$/ },
    ],
    reportingMta: 'mail.example.org',
    originalMessageId: '<spring-sale-1@acme.test>',
    postlineId: 'msg_01J0QMAIL0000000000000000001',
  },
];

function assertBounce(report: InboundReport, c: BounceCase): void {
  assert.equal(report.kind, 'bounce', `expected a bounce, got ${JSON.stringify(report)}`);
  if (report.kind !== 'bounce') return;
  assert.deepEqual(report.recipients.map((r) => r.address), c.recipients.map((r) => r.address));
  c.recipients.forEach((want, i) => {
    const got = report.recipients[i];
    const { diagnostic, remoteMta, ...facts } = want;
    assert.deepEqual({ address: got.address, status: got.status, action: got.action, smtpCode: got.smtpCode, class: got.class }, facts);
    assert.match(got.diagnostic, diagnostic, `diagnostic of ${got.address}`);
    if (remoteMta) assert.equal(got.remoteMta, remoteMta);
  });
  if (c.reportingMta) assert.equal(report.reportingMta, c.reportingMta);
  if (c.originalMessageId) assert.equal(report.originalMessageId, c.originalMessageId);
  if (c.postlineId) assert.equal(report.originalHeaders?.['x-postline-message-id'], c.postlineId);
}

describe('parseInboundReport: bounces (RFC 3464, RFC 6533 and text NDRs)', () => {
  for (const c of BOUNCES) {
    it(`${c.rule} (${c.file})`, async () => {
      assertBounce(await parseInboundReport(await fixture(c.file)), c);
      // The same message with CRLF line ends, as it arrives over SMTP.
      assertBounce(await parseInboundReport(await fixture(c.file, '\r\n')), c);
    });
  }

  it('RFC 3464: a report Postline itself wrote (delivery/dsn.ts) parses back to the same facts', async () => {
    const raw = await buildDsn({
      reportingMta: 'mta.postline.test',
      from: 'MAILER-DAEMON@mta.postline.test',
      to: 'app@acme.test',
      arrivalDate: new Date('2024-06-04T10:00:00Z'),
      messageId: '<dsn-roundtrip@mta.postline.test>',
      originalHeaders: Buffer.from('From: app@acme.test\r\nTo: gone@example.com\r\nMessage-ID: <rt-1@acme.test>\r\nX-Postline-Message-Id: msg_ROUNDTRIP\r\n\r\n'),
      recipients: [
        { address: 'gone@example.com', action: 'failed', status: '5.1.1', remoteMta: 'mx.example.com', diagnostic: '550 5.1.1 No such user' },
        { address: 'busy@example.com', action: 'delayed', status: '4.4.1', diagnostic: '421 4.4.1 Try again later', willRetryUntil: new Date('2024-06-09T10:00:00Z') },
      ],
    });
    const report = await parseInboundReport(raw);
    assertBounce(report, {
      rule: 'round trip',
      file: '',
      reportingMta: 'mta.postline.test',
      originalMessageId: '<rt-1@acme.test>',
      postlineId: 'msg_ROUNDTRIP',
      recipients: [
        { address: 'gone@example.com', status: '5.1.1', action: 'failed', smtpCode: 550, class: 'hard', diagnostic: /^550 5\.1\.1 No such user$/, remoteMta: 'mx.example.com' },
        { address: 'busy@example.com', status: '4.4.1', action: 'delayed', smtpCode: 421, class: 'soft', diagnostic: /^421 4\.4\.1 Try again later$/ },
      ],
    });
  });

  it('RFC 3463 §3.1: Status 5.0.0 beside a "550 5.1.1" diagnostic reports 5.1.1, hard', async () => {
    const raw = await fixture('rfc3464-hard-5.1.1.eml');
    const vague = Buffer.from(raw.toString('utf8').replace('Status: 5.1.1', 'Status: 5.0.0'));
    const report = await parseInboundReport(vague);
    assert.equal(report.kind, 'bounce');
    if (report.kind === 'bounce') assert.deepEqual([report.recipients[0].status, report.recipients[0].class], ['5.1.1', 'hard']);
  });

  it('keeps the report when the returned original makes the message far larger than the parse cap', async () => {
    const raw = (await fixture('rfc3464-hard-5.1.1.eml')).toString('utf8');
    const huge = raw.replace('Hello, your order 1042 is on its way.', `${'x'.repeat(76)}\n`.repeat(60_000));
    const started = performance.now();
    const report = await parseInboundReport(Buffer.from(huge));
    assert.ok(performance.now() - started < 2000);
    assert.equal(report.kind, 'bounce');
    if (report.kind === 'bounce') assert.equal(report.recipients[0].class, 'hard');
  });
});

describe('parseInboundReport: which kind wins (RFC 3834 §5 vs RFC 3464)', () => {
  it('a multipart/report delivery-status carrying Auto-Submitted: auto-replied is a bounce, not an auto-reply', async () => {
    const raw = await fixture('rfc3464-hard-5.1.1.eml');
    assert.match(raw.toString(), /^Auto-Submitted: auto-replied$/m);
    const withVacationHeaders = Buffer.from(raw.toString().replace('Auto-Submitted: auto-replied', 'Auto-Submitted: auto-replied\nX-Autoreply: yes\nPrecedence: auto_reply'));
    assert.equal((await parseInboundReport(raw)).kind, 'bounce');
    assert.equal((await parseInboundReport(withVacationHeaders)).kind, 'bounce');
  });

  it('an Exim text bounce with Auto-Submitted: auto-replied is a bounce', async () => {
    const raw = await fixture('exim-text.eml');
    assert.match(raw.toString(), /^Auto-Submitted: auto-replied$/m);
    assert.equal((await parseInboundReport(raw)).kind, 'bounce');
  });

  it('an Exchange NDR with X-Auto-Response-Suppress: All is a bounce', async () => {
    assert.equal((await parseInboundReport(await fixture('exchange-2010-text.eml'))).kind, 'bounce');
  });

  it('an explicit auto-reply header outranks a bounce guessed from a subject alone', async () => {
    const raw = Buffer.from([
      'From: Reader <reader@example.com>',
      'To: bounces+a1b2c3d4@rp.acme.test',
      'Subject: Re: Returned mail?',
      'X-Autorespond: yes',
      '',
      'I am away. About your question: <bob@example.com> got 550 5.1.1 from their server.',
      '',
    ].join('\r\n'));
    assert.deepEqual(await parseInboundReport(raw), { kind: 'auto_reply', reason: 'x-autorespond' });
  });

  it('RFC 8098: a read receipt (message/disposition-notification) is an automatic reply, not a bounce', async () => {
    const raw = Buffer.from([
      'From: reader@example.com',
      'To: bounces+a1b2c3d4@rp.acme.test',
      'Subject: Read: Your order has shipped',
      'Content-Type: multipart/report; report-type=disposition-notification; boundary="mdn"',
      '',
      '--mdn',
      'Content-Type: text/plain',
      '',
      'Your message was displayed.',
      '--mdn',
      'Content-Type: message/disposition-notification',
      '',
      'Final-Recipient: rfc822; reader@example.com',
      'Disposition: manual-action/MDN-sent-manually; displayed',
      '--mdn--',
      '',
    ].join('\r\n'));
    assert.deepEqual(await parseInboundReport(raw), { kind: 'auto_reply', reason: 'disposition-notification' });
  });
});

describe('parseInboundReport: auto-replies (RFC 3834)', () => {
  it('RFC 3834 §5: Auto-Submitted: auto-replied (with a comment) is an auto-reply', async () => {
    assert.deepEqual(await parseInboundReport(await fixture('auto-reply-rfc3834.eml')), { kind: 'auto_reply', reason: 'auto-submitted: auto-replied' });
  });

  it('a vacation subject alone ("Abwesenheitsnotiz: …") is an auto-reply', async () => {
    const report = await parseInboundReport(await fixture('auto-reply-vacation-subject.eml'));
    assert.equal(report.kind, 'auto_reply');
    if (report.kind === 'auto_reply') assert.match(report.reason, /^subject: /);
  });

  it('Exchange: X-MS-Exchange-Inbox-Rules-Loop marks a rule reply whatever the subject language', async () => {
    assert.deepEqual(await parseInboundReport(await fixture('auto-reply-exchange.eml')), { kind: 'auto_reply', reason: 'x-ms-exchange-inbox-rules-loop' });
  });
});

describe('parseInboundReport: complaints (RFC 5965 ARF)', () => {
  it('RFC 5965 §3.2: Feedback-Type abuse with Original-Rcpt-To, Feedback-ID and ids of the original', async () => {
    const report = await parseInboundReport(await fixture('arf-abuse.eml'));
    assert.equal(report.kind, 'complaint');
    if (report.kind !== 'complaint') return;
    assert.deepEqual(
      { feedbackType: report.feedbackType, recipients: report.recipients, userAgent: report.userAgent, sourceIp: report.sourceIp, arrivalDate: report.arrivalDate, feedbackId: report.feedbackId, originalMessageId: report.originalMessageId, originalMailFrom: report.originalMailFrom, reportedDomain: report.reportedDomain },
      {
        feedbackType: 'abuse',
        recipients: ['Reader@yahoo.example'],
        userAgent: 'Yahoo!-Mail-Feedback/2.0',
        sourceIp: '203.0.113.5',
        arrivalDate: 'Tue, 04 Jun 2024 10:15:00 +0000',
        feedbackId: 'orders:transactional:acme:postline',
        originalMessageId: '<0190e6f2-6c1e-7a4b-9d7e-3f1f5b2a9c11@acme.test>',
        originalMailFrom: 'bounces+a1b2c3d4@rp.acme.test',
        reportedDomain: 'acme.test',
      },
    );
    assert.equal(report.originalHeaders?.['x-postline-message-id'], 'msg_01HZX3K9Q4W8E2R7T6Y5U4I3O2');
  });

  it('RFC 5965 §3.2: without Original-Rcpt-To the recipient is the To of the original', async () => {
    const report = await parseInboundReport(await fixture('arf-no-original-rcpt-to.eml', '\r\n'));
    assert.equal(report.kind, 'complaint');
    if (report.kind !== 'complaint') return;
    assert.deepEqual(report.recipients, ['reader.two@outlook.example']);
    assert.equal(report.feedbackType, 'abuse');
    assert.equal(report.sourceIp, '203.0.113.5');
    assert.equal(report.arrivalDate, 'Sat, 08 Jun 2024 09:00:00 -0700 (PDT)');
    assert.equal(report.originalMessageId, '<team-update-10@acme.test>');
    assert.equal(report.feedbackId, undefined);
  });
});

describe('parseInboundReport: anything else is unknown and never throws', () => {
  it('a person replying to the return path is unknown, even mentioning "550"', async () => {
    assert.deepEqual(await parseInboundReport(await fixture('human-reply.eml')), { kind: 'unknown' });
  });

  for (const [label, bytes] of [
    ['an empty buffer', Buffer.alloc(0)],
    ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256))],
    ['a header with no body', Buffer.from('Subject: x\r\n')],
    ['a report with a delivery-status part that names no recipient', Buffer.from('Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n--b--\r\n')],
    ['MIME nested deeper than the parser allows', Buffer.from(`${Array.from({ length: 300 }, (_, i) => `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`).join('')}\r\n`)],
  ] as const) {
    it(`${label} gives { kind: 'unknown' }`, async () => {
      assert.deepEqual(await parseInboundReport(bytes), { kind: 'unknown' });
    });
  }
});
