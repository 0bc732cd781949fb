// DSNs are checked by parsers we did not write: Python's `email` package (the reference
// MIME implementation most bounce processors descend from) and postal-mime.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import PostalMime from 'postal-mime';
import { buildDsn, isDsnOrAutoReply, DsnError } from '../../src/delivery/dsn.ts';
import type { DsnInput } from '../../src/delivery/dsn.ts';

// Reads a message on stdin and prints what Python's email package makes of it.
const PY_PARSE = String.raw`
import sys, json, re, email
from email.parser import HeaderParser

def unfold(v):
    return re.sub(r'\r?\n(?=[ \t])', '', str(v))

def fields(m):
    return {k: unfold(v) for k, v in m.items()}

data = sys.stdin.buffer.read()
msg = email.message_from_bytes(data)
out = {
    'is_multipart': msg.is_multipart(),
    'content_type': msg.get_content_type(),
    'report_type': msg.get_param('report-type'),
    'subject': msg['Subject'],
    'auto_submitted': msg['Auto-Submitted'],
    'defects': [type(d).__name__ for p in msg.walk() for d in p.defects],
    'max_line': max(len(l) for l in data.split(b'\r\n')),
    'bare_lf_or_cr': b'\n' in data.replace(b'\r\n', b'') or b'\r' in data.replace(b'\r\n', b''),
}
parts = msg.get_payload() if msg.is_multipart() else []
out['part_types'] = [p.get_content_type() for p in parts]
if len(parts) >= 2:
    out['human'] = parts[0].get_payload(decode=True).decode(parts[0].get_content_charset() or 'ascii')
    ds = parts[1]
    if ds.get_content_type() == 'message/delivery-status':
        blocks = [fields(b) for b in ds.get_payload()]
    else:
        # email has no parser for message/global-delivery-status (RFC 6533): take the
        # part's raw UTF-8 body between the delimiters and parse each block as headers.
        section = data.split(b'--' + msg.get_boundary().encode())[2]
        raw = section.split(b'\r\n\r\n', 1)[1].decode('utf-8')
        blocks = [fields(HeaderParser().parsestr(b)) for b in re.split(r'\r\n\r\n', raw.strip()) if b.strip()]
    out['per_message'] = blocks[0]
    out['recipients'] = blocks[1:]
if len(parts) >= 3:
    ret = parts[2]
    inner = ret.get_payload()
    if isinstance(inner, list):
        out['returned_subject'] = inner[0]['Subject']
        out['returned_body'] = inner[0].get_payload()
    else:
        out['returned_subject'] = HeaderParser().parsestr(ret.get_payload(decode=True).decode('utf-8'))['Subject']
        out['returned_body'] = None
print(json.dumps(out))
`;

interface PyView {
  is_multipart: boolean;
  content_type: string;
  report_type: string | null;
  subject: string;
  auto_submitted: string;
  defects: string[];
  max_line: number;
  bare_lf_or_cr: boolean;
  part_types: string[];
  human: string;
  per_message: Record<string, string>;
  recipients: Record<string, string>[];
  returned_subject?: string;
  returned_body?: string | null;
}

function pythonParse(message: Buffer): Promise<PyView> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', PY_PARSE], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`python3 exited ${code}: ${Buffer.concat(err).toString()}`));
      else resolve(JSON.parse(Buffer.concat(out).toString()) as PyView);
    });
    child.stdin.end(message);
  });
}

const ORIGINAL = Buffer.from(
  'From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Quarterly report\r\nMessage-ID: <orig-1@example.org>\r\n' +
    'Date: Tue, 01 Jul 2025 09:59:00 +0000\r\n\r\nHello Bob,\r\nthe numbers are attached.\r\n',
);
const HEADERS = ORIGINAL.subarray(0, ORIGINAL.indexOf('\r\n\r\n') + 4);

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'mta.postline.test',
    from: 'MAILER-DAEMON@mta.postline.test',
    to: 'alice@example.org',
    envid: 'QQ314159',
    ret: 'FULL',
    arrivalDate: new Date('2025-07-01T10:00:00Z'),
    date: new Date('2025-07-01T10:05:00Z'),
    messageId: '<dsn-1@mta.postline.test>',
    originalHeaders: HEADERS,
    originalMessage: () => ORIGINAL,
    originalSize: ORIGINAL.length,
    recipients: [
      {
        address: 'bob@example.com',
        action: 'failed',
        status: '5.1.1',
        remoteMta: 'mx.example.com',
        diagnostic: '550 5.1.1 No such user',
        lastAttemptAt: new Date('2025-07-01T10:04:00Z'),
      },
    ],
    ...overrides,
  };
}

function postal(message: Buffer) {
  return PostalMime.parse(message, { attachmentEncoding: 'utf8' });
}

describe('RFC 3464 §2 DSN as RFC 6522 multipart/report', () => {
  it('reports one failed recipient with RET=FULL and returns the whole message as message/rfc822', async () => {
    const dsn = await buildDsn(input());
    const py = await pythonParse(dsn);
    assert.equal(py.is_multipart, true);
    assert.equal(py.content_type, 'multipart/report');
    assert.equal(py.report_type, 'delivery-status');
    assert.equal(py.subject, 'Undelivered Mail Returned to Sender');
    assert.equal(py.auto_submitted, 'auto-replied');
    assert.deepEqual(py.defects, []);
    assert.deepEqual(py.part_types, ['text/plain', 'message/delivery-status', 'message/rfc822']);
    assert.equal(py.per_message['Reporting-MTA'], 'dns; mta.postline.test');
    assert.equal(py.per_message['Original-Envelope-Id'], 'QQ314159');
    assert.equal(py.per_message['Arrival-Date'], 'Tue, 01 Jul 2025 10:00:00 +0000');
    assert.equal(py.recipients.length, 1);
    assert.deepEqual(py.recipients[0], {
      'Final-Recipient': 'rfc822; bob@example.com',
      Action: 'failed',
      Status: '5.1.1',
      'Remote-MTA': 'dns; mx.example.com',
      'Diagnostic-Code': 'smtp; 550 5.1.1 No such user',
      'Last-Attempt-Date': 'Tue, 01 Jul 2025 10:04:00 +0000',
    });
    assert.equal(py.returned_subject, 'Quarterly report');
    assert.equal(py.returned_body, 'Hello Bob,\r\nthe numbers are attached.\r\n');
    assert.match(py.human, /<bob@example\.com>: failed \(5\.1\.1\)/);
    assert.match(py.human, /mx\.example\.com said: 550 5\.1\.1 No such user/);

    const text = dsn.toString();
    assert.match(text, /^From: Mail Delivery System <MAILER-DAEMON@mta\.postline\.test>\r\n/);
    assert.match(text, /\r\nTo: <alice@example\.org>\r\n/);
    assert.match(text, /\r\nDate: Tue, 01 Jul 2025 10:05:00 \+0000\r\n/);
    assert.match(text, /\r\nMessage-ID: <dsn-1@mta\.postline\.test>\r\n/);
    assert.match(text, /\r\nMIME-Version: 1\.0\r\n/);

    const p = await postal(dsn);
    assert.equal(p.subject, 'Undelivered Mail Returned to Sender');
    assert.deepEqual(p.attachments.map((a) => a.mimeType), ['message/delivery-status', 'message/rfc822']);
    assert.match(String(p.attachments[0].content), /\nFinal-Recipient: rfc822; bob@example\.com\r?\nAction: failed\r?\nStatus: 5\.1\.1\r?\n/);
    assert.match(String(p.attachments[1].content), /^From: Alice <alice@example\.org>\r?\n[\s\S]*Subject: Quarterly report/);
    assert.match(p.text ?? '', /No such user/);
  });

  it('writes one block per recipient, Original-Recipient only where ORCPT was given', async () => {
    const dsn = await buildDsn(
      input({
        recipients: [
          { address: 'bob@example.com', orcpt: 'rfc822;Bob@Example.COM', action: 'failed', status: '5.1.1', remoteMta: 'dns; mx.example.com', diagnostic: '550 5.1.1 No such user' },
          { address: 'carol@example.net', action: 'failed', status: '5.2.2', remoteMta: 'mx1.example.net', diagnostic: '552 5.2.2 Mailbox full' },
        ],
      }),
    );
    const py = await pythonParse(dsn);
    assert.deepEqual(py.defects, []);
    assert.equal(py.recipients.length, 2);
    assert.equal(py.recipients[0]['Original-Recipient'], 'rfc822; Bob@Example.COM');
    assert.equal(py.recipients[0]['Final-Recipient'], 'rfc822; bob@example.com');
    assert.equal(py.recipients[0]['Remote-MTA'], 'dns; mx.example.com');
    assert.equal(py.recipients[1]['Original-Recipient'], undefined);
    assert.equal(py.recipients[1]['Final-Recipient'], 'rfc822; carol@example.net');
    assert.equal(py.recipients[1].Status, '5.2.2');
    assert.equal(py.recipients[1]['Diagnostic-Code'], 'smtp; 552 5.2.2 Mailbox full');
    assert.match(py.human, /<carol@example\.net>: failed \(5\.2\.2\)/);

    const p = await postal(dsn);
    assert.equal((String(p.attachments[0].content).match(/Final-Recipient:/g) ?? []).length, 2);
  });

  it('returns only the headers as text/rfc822-headers for RET=HDRS (RFC 3461 §4.3)', async () => {
    let opened = false;
    const dsn = await buildDsn(input({ ret: 'HDRS', originalMessage: () => ((opened = true), ORIGINAL) }));
    assert.equal(opened, false);
    const py = await pythonParse(dsn);
    assert.deepEqual(py.part_types, ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
    assert.equal(py.returned_subject, 'Quarterly report');
    assert.equal(dsn.includes('the numbers are attached'), false);
    const p = await postal(dsn);
    assert.equal(p.attachments[1].mimeType, 'text/rfc822-headers');
    assert.match(String(p.attachments[1].content), /Subject: Quarterly report/);
  });

  it('returns the full original for a failure when RET was not given', async () => {
    const py = await pythonParse(await buildDsn(input({ ret: null })));
    assert.equal(py.part_types[2], 'message/rfc822');
    assert.equal(py.returned_subject, 'Quarterly report');
  });

  it('returns headers only when the original is above maxReturnBytes, without opening it', async () => {
    let opened = false;
    const dsn = await buildDsn(input({ maxReturnBytes: 64, originalMessage: () => ((opened = true), ORIGINAL) }));
    assert.equal(opened, false);
    const py = await pythonParse(dsn);
    assert.equal(py.part_types[2], 'text/rfc822-headers');
    assert.match(py.human, /too large to return/);
  });

  it('stops reading a 25 MB stream of unknown size at maxReturnBytes and returns headers only', async () => {
    let produced = 0;
    let destroyed = false;
    const stream = Readable.from(
      (async function* () {
        try {
          yield HEADERS;
          const line = Buffer.from(`${'z'.repeat(998)}\r\n`);
          while (produced < 25 * 1024 * 1024) {
            produced += line.length * 64;
            yield Buffer.concat(Array.from({ length: 64 }, () => line));
          }
        } finally {
          destroyed = true;
        }
      })(),
    );
    const dsn = await buildDsn(input({ originalSize: undefined, originalMessage: () => stream }));
    assert.ok(produced < 4 * 1024 * 1024, `read ${produced} of 25 MB`);
    assert.equal(destroyed, true);
    const py = await pythonParse(dsn);
    assert.equal(py.part_types[2], 'text/rfc822-headers');
    assert.ok(dsn.length < 10_000);
  });

  it('returns a streamed original under the cap, with bare LF rewritten as CRLF', async () => {
    const lf = Buffer.from(ORIGINAL.toString().replace(/\r\n/g, '\n'));
    const dsn = await buildDsn(input({ originalSize: undefined, originalMessage: () => Readable.from([lf.subarray(0, 50), lf.subarray(50)]) }));
    const py = await pythonParse(dsn);
    assert.equal(py.bare_lf_or_cr, false);
    assert.equal(py.returned_subject, 'Quarterly report');
    assert.equal(py.returned_body, 'Hello Bob,\r\nthe numbers are attached.\r\n');
  });

  it('keeps the structure when the remote reply carries CR, LF, a fake boundary and 5,000-octet lines', async () => {
    const evil =
      '550-5.1.1 first line\r\n550-5.1.1 \r\n\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n--fake\r\nContent-Type: text/html\r\n\r\n<b>x</b>\n\r' +
      'y'.repeat(5000) +
      ' ' +
      'w '.repeat(2000) +
      '\x00\x1b[31m end';
    const dsn = await buildDsn(
      input({
        envid: 'ENV\r\nX-Injected: 1',
        recipients: [
          { address: 'bob@example.com', action: 'failed', status: '5.1.1', remoteMta: 'mx.example.com\r\nStatus: 2.0.0', diagnostic: evil },
          { address: 'carol@example.net', action: 'failed', status: '5.0.0', diagnostic: 'z'.repeat(3000) },
        ],
      }),
    );
    const py = await pythonParse(dsn);
    assert.deepEqual(py.defects, []);
    assert.ok(py.max_line <= 998, `longest line ${py.max_line}`);
    assert.equal(py.bare_lf_or_cr, false);
    assert.deepEqual(py.part_types, ['text/plain', 'message/delivery-status', 'message/rfc822']);
    assert.equal(py.recipients.length, 2);
    assert.equal(py.recipients[0].Action, 'failed');
    assert.equal(py.recipients[0].Status, '5.1.1');
    assert.match(py.recipients[0]['Diagnostic-Code'], /^smtp; 550-5\.1\.1 first line 550-5\.1\.1 Action: delivered/);
    assert.match(py.recipients[0]['Remote-MTA'], /^dns; mx\.example\.com Status: 2\.0\.0$/);
    assert.equal(py.per_message['X-Injected'], undefined);
    assert.equal(py.recipients[1].Status, '5.0.0');
    assert.equal(py.returned_subject, 'Quarterly report');
    assert.equal(dsn.includes(0), false);

    const p = await postal(dsn);
    assert.deepEqual(p.attachments.map((a) => a.mimeType), ['message/delivery-status', 'message/rfc822']);
    assert.equal(p.html, undefined);
  });

  it('sends a delay DSN with Will-Retry-Until and the headers only', async () => {
    const dsn = await buildDsn(
      input({
        recipients: [
          {
            address: 'bob@example.com',
            action: 'delayed',
            status: '4.4.1',
            remoteMta: 'mx.example.com',
            willRetryUntil: new Date('2025-07-06T10:00:00Z'),
            lastAttemptAt: new Date('2025-07-01T10:04:00Z'),
          },
        ],
      }),
    );
    const py = await pythonParse(dsn);
    assert.equal(py.subject, 'Delivery Status Notification (Delay)');
    assert.equal(py.recipients[0].Action, 'delayed');
    assert.equal(py.recipients[0]['Will-Retry-Until'], 'Sun, 06 Jul 2025 10:00:00 +0000');
    assert.equal(py.part_types[2], 'text/rfc822-headers');
  });

  it('titles a success DSN "(Success)" and omits Will-Retry-Until', async () => {
    const dsn = await buildDsn(input({ recipients: [{ address: 'bob@example.com', action: 'delivered', status: '2.0.0', willRetryUntil: new Date() }] }));
    const py = await pythonParse(dsn);
    assert.equal(py.subject, 'Delivery Status Notification (Success)');
    assert.equal(py.recipients[0]['Will-Retry-Until'], undefined);
  });

  // RFC 6533 §3, §6.2: UTF-8 addresses use the utf-8 address type in a global report.
  it('reports a UTF-8 recipient as utf-8 type in message/global-delivery-status', async () => {
    const dsn = await buildDsn(
      input({
        recipients: [{ address: 'jöran@bücher.example', orcpt: 'utf-8;j\\x{F6}ran@b\\x{FC}cher.example', action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 unknown' }],
      }),
    );
    const py = await pythonParse(dsn);
    assert.equal(py.report_type, 'global-delivery-status');
    assert.equal(py.part_types[1], 'message/global-delivery-status');
    assert.equal(py.recipients[0]['Final-Recipient'], 'utf-8; jöran@bücher.example');
    assert.equal(py.recipients[0]['Original-Recipient'], 'utf-8; jöran@bücher.example');
    assert.match(py.human, /<jöran@bücher\.example>: failed/);
  });

  it('returns headers only, saying why, when the original stream fails mid-read', async () => {
    const broken = new Readable({ read() { this.destroy(Object.assign(new Error('spool gone'), { code: 'ENOENT' })); } });
    const py = await pythonParse(await buildDsn(input({ originalSize: undefined, originalMessage: () => broken })));
    assert.equal(py.part_types[2], 'text/rfc822-headers');
    assert.match(py.human, /could not be read/);
  });

  it('marks an 8-bit original with Content-Transfer-Encoding: 8bit (RFC 2046 §5.2.1)', async () => {
    const original = Buffer.concat([HEADERS, Buffer.from('Grüße\r\n')]);
    const dsn = await buildDsn(input({ originalMessage: () => original, originalSize: original.length }));
    const py = await pythonParse(dsn);
    assert.deepEqual(py.defects, []);
    assert.equal(py.part_types[2], 'message/rfc822');
    assert.match(dsn.toString(), /\r\nContent-Transfer-Encoding: 8bit\r\n\r\nThis is a MIME/);
    assert.match(dsn.toString(), /Content-Type: message\/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n/);
  });

  it('refuses a null sender, no recipients, or a malformed action or status with a DsnError code', async () => {
    const code = (c: string) => (e: unknown) => e instanceof DsnError && e.code === c;
    await assert.rejects(buildDsn(input({ to: '<>' })), code('DSN_NULL_SENDER'));
    await assert.rejects(buildDsn(input({ recipients: [] })), code('DSN_NO_RECIPIENTS'));
    await assert.rejects(buildDsn(input({ recipients: [{ address: 'b@example.com', action: 'failed', status: '550' }] })), code('DSN_BAD_STATUS'));
    const action = 'failed\r\nX: y' as 'failed';
    await assert.rejects(buildDsn(input({ recipients: [{ address: 'b@example.com', action, status: '5.0.0' }] })), code('DSN_BAD_ACTION'));
  });
});

describe('RFC 3461 §6.2 / RFC 3834 §2: no DSN about a DSN or an automatic message', () => {
  it('recognises a DSN built by buildDsn', async () => {
    assert.equal(isDsnOrAutoReply(await buildDsn(input())), true);
  });

  it('recognises a folded multipart/report with a quoted report-type', () => {
    assert.equal(isDsnOrAutoReply('From: x@example.com\r\nContent-Type: multipart/report;\r\n\treport-type="delivery-status"; boundary=abc\r\n\r\n'), true);
  });

  it('recognises Auto-Submitted: auto-replied and auto-generated', () => {
    assert.equal(isDsnOrAutoReply('From: x@example.com\r\nAuto-Submitted: auto-replied\r\n\r\nbody'), true);
    assert.equal(isDsnOrAutoReply(Buffer.from('auto-submitted: Auto-Generated (cron)\n\n')), true);
  });

  it('does not flag a normal message, Auto-Submitted: no, or a body that mentions the fields', () => {
    assert.equal(isDsnOrAutoReply(HEADERS), false);
    assert.equal(isDsnOrAutoReply('From: x@example.com\r\nAuto-Submitted: no\r\n\r\n'), false);
    assert.equal(isDsnOrAutoReply('Subject: hi\r\n\r\nAuto-Submitted: auto-replied\r\nContent-Type: multipart/report; report-type=delivery-status\r\n'), false);
  });

  it('does not flag other multipart/report types (an MDN, report-type=disposition-notification)', () => {
    assert.equal(isDsnOrAutoReply('Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n'), false);
  });
});
