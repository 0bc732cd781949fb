import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { MessageIntake } from '../../src/ingress/message-intake.ts';
import { rewriteHeaders, type HeaderFacts } from '../../src/ingress/header-policy.ts';
import { SmtpError } from '../../src/smtp/index.ts';

async function intake(message: string) {
  const facts: HeaderFacts = { messageId: null, subject: null, from: null, stream: 'transactional', isBounce: false };
  const t = new MessageIntake({
    maxMessageBytes: 1 << 20,
    maxHeaderBytes: 1 << 16,
    rewriteHeaders: (h) => rewriteHeaders(h, {
      kind: 'mx', hostname: 'mta.test', queueId: 'Q1', heloName: 'client.test', clientHostname: '', clientAddress: '127.0.0.9',
      secure: false, authenticated: false, tlsProtocol: null, tlsCipher: null, singleRecipient: null, date: new Date(0),
    }, undefined, () => true, facts),
  });
  const out: Buffer[] = [];
  await pipeline(Readable.from([Buffer.from(message)]), t, new Writable({ write(c, _e, cb) { out.push(c); cb(); } }));
  return { intake: t, out: Buffer.concat(out).toString() };
}

describe('RFC 5321 §6.3 loop detection', () => {
  it('refuses a message with 50 Received headers with 554 5.4.6', async () => {
    const { intake: t } = await intake(`${'Received: from a by b; Thu, 1 Jan 1970 00:00:00 +0000\r\n'.repeat(50)}Subject: loop\r\n\r\nbody\r\n`);
    assert.equal(t.problem, 'rejected');
    assert.ok(t.problemError instanceof SmtpError);
    assert.equal((t.problemError as SmtpError).code, 554);
    assert.equal((t.problemError as SmtpError).enhanced, '5.4.6');
  });

  it('accepts 49 and prepends its own Received header', async () => {
    const { intake: t, out } = await intake(`${'Received: from a by b; Thu, 1 Jan 1970 00:00:00 +0000\r\n'.repeat(49)}Subject: ok\r\n\r\nbody\r\n`);
    assert.equal(t.problem, null);
    assert.match(out, /^Received: from client\.test \(\[127\.0\.0\.9\]\)\r\n\tby mta\.test \(Postline\) with ESMTP id Q1;/);
    assert.ok(out.endsWith('\r\n\r\nbody\r\n'));
  });
});
