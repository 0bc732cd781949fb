import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ComposeError, prepareRawMessage } from '../../src/compose/index.ts';

const OPTIONS = {
  id: '01RAWID', hostname: 'mta.postline.test', date: new Date('2026-01-02T03:04:05Z'),
  maxMessageBytes: 10_000, maxHeaderBytes: 2_000, ownsDomains: (ds: readonly string[]) => ds.every((d) => d === 'acme.example'),
};

describe('prepareRawMessage: a ready-made message checked as SMTP submission checks DATA', () => {
  it('adds Message-ID and Date when missing and removes Bcc and X-Postline-* (RFC 6409 §8)', async () => {
    const raw = Buffer.from('From: news@acme.example\r\nTo: a@x.example\r\nBcc: secret@x.example\r\nX-Postline-Stream: broadcast\r\nSubject: Hi\r\n\r\nbody\r\n');
    const m = await prepareRawMessage(raw, OPTIONS);
    const text = m.raw.toString();
    assert.doesNotMatch(text, /secret|X-Postline/i);
    assert.match(text, /^Message-ID: <01RAWID@mta\.postline\.test>\r$/m);
    assert.match(text, /^Date: Fri, 02 Jan 2026 03:04:05 \+0000\r$/m);
    assert.equal(m.raw.subarray(m.headerSize).toString(), 'body\r\n');
    assert.equal(m.subject, 'Hi');
    assert.equal(m.messageIdHeader, '<01RAWID@mta.postline.test>');
  });

  it('keeps a Message-ID and Date the message already has, byte for byte', async () => {
    const raw = Buffer.from('From: news@acme.example\r\nMessage-ID: <own@acme.example>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nbody\r\n');
    const m = await prepareRawMessage(raw, OPTIONS);
    assert.equal(m.raw.toString(), raw.toString());
    assert.equal(m.messageIdHeader, '<own@acme.example>');
  });

  it('refuses a bare LF or CR, as SMTP does (RFC 5321 §2.3.8: no smuggling)', async () => {
    for (const body of ['From: news@acme.example\n\nbody\n', 'From: news@acme.example\r\n\r\nbody\n.\r\n', 'From: news@acme.example\r\n\r\nbo\rdy\r\n']) {
      await assert.rejects(prepareRawMessage(Buffer.from(body), OPTIONS), (err: ComposeError) => err.code === 'RAW_BARE_NEWLINE' && err.pointer === '/data' && err.kind === 'invalid');
    }
  });

  it('refuses a From: outside the tenant\'s domains, and a message without From:', async () => {
    await assert.rejects(prepareRawMessage(Buffer.from('From: ceo@bank.example\r\n\r\nx\r\n'), OPTIONS), (err: ComposeError) => err.code === 'SENDER_DOMAIN_NOT_OWNED' && err.kind === 'unprocessable');
    await assert.rejects(prepareRawMessage(Buffer.from('Subject: x\r\n\r\nx\r\n'), OPTIONS), (err: ComposeError) => err.code === 'RAW_NO_FROM');
  });

  it('refuses a message over the size limit, and a header section over the header limit', async () => {
    const big = Buffer.from(`From: news@acme.example\r\n\r\n${'x'.repeat(78)}\r\n`.repeat(1) + `${'y'.repeat(78)}\r\n`.repeat(200));
    await assert.rejects(prepareRawMessage(big, OPTIONS), (err: ComposeError) => err.kind === 'too-large' && err.code === 'MESSAGE_TOO_LARGE');
    const head = Buffer.from(`From: news@acme.example\r\n${'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(50)}\r\nx\r\n`);
    await assert.rejects(prepareRawMessage(head, OPTIONS), (err: ComposeError) => err.kind === 'too-large' && err.code === 'RAW_HEADER_TOO_LARGE');
  });
});
