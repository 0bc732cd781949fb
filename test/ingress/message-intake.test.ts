// MessageIntake and the header policy without a server: what is stored for a DATA stream,
// and that the verdict does not depend on how TCP cut the stream into chunks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MessageIntake, type IntakeOptions, type IntakeProblem } from '../../src/ingress/message-intake.ts';
import { rewriteHeaders, receivedHeader, type HeaderFacts, type ReceivedInfo } from '../../src/ingress/header-policy.ts';
import type { SessionUser } from '../../src/ingress/session-policy.ts';
import { SmtpError } from '../../src/smtp/index.ts';

const DATE = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
const QUEUE_ID = '01JTESTQUEUEID0000000000AA';
const USER: SessionUser = { tenant: { id: 't1', name: 'acme', sandbox: false }, username: 'acme-user', viaRelayNetwork: false };

function info(kind: 'submission' | 'mx', extra: Partial<ReceivedInfo> = {}): ReceivedInfo {
  return {
    kind, hostname: 'mta.postline.test', queueId: QUEUE_ID, heloName: 'client.example', clientHostname: '',
    clientAddress: '127.0.0.1', secure: kind === 'submission', authenticated: kind === 'submission',
    tlsProtocol: kind === 'submission' ? 'TLSv1.3' : null, tlsCipher: kind === 'submission' ? 'TLS_AES_256_GCM_SHA384' : null,
    singleRecipient: null, date: DATE, ...extra,
  };
}

function freshFacts(): HeaderFacts {
  return { messageId: null, subject: null, from: null, stream: 'transactional', isBounce: false };
}

interface Outcome {
  problem: IntakeProblem | null;
  error: unknown;
  out: string;
  facts: HeaderFacts;
}

/** Feeds `chunks` through a MessageIntake set up as the listener of `kind` would set it up. */
async function run(chunks: Array<string | Buffer>, kind: 'submission' | 'mx' = 'submission', limits: Partial<IntakeOptions> = {}): Promise<Outcome> {
  const facts = freshFacts();
  const owned = new Set(['acme.test']);
  const intake = new MessageIntake({
    maxMessageBytes: 1 << 20,
    maxHeaderBytes: 64 * 1024,
    rewriteHeaders: (headers) => rewriteHeaders(headers, info(kind), kind === 'submission' ? USER : undefined, (ds) => ds.every((d) => owned.has(d)), facts),
    ...limits,
  });
  const out: Buffer[] = [];
  intake.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    intake.on('end', resolve);
    intake.on('error', reject);
  });
  for (const c of chunks) intake.write(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  intake.end();
  await ended;
  return { problem: intake.problem, error: intake.problemError, out: Buffer.concat(out).toString('latin1'), facts };
}

const RECEIVED_SUBMISSION = receivedHeader(info('submission'));
const RECEIVED_MX = receivedHeader(info('mx'));

describe('RFC 5321 §4.4 Received and RFC 3848 protocol keywords', () => {
  it('names the host, the queue id, TLS protocol and cipher, and "with ESMTPSA" for authenticated TLS', () => {
    assert.equal(RECEIVED_SUBMISSION, 'Received: from client.example ([127.0.0.1])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n' +
      `\tby mta.postline.test (Postline) with ESMTPSA id ${QUEUE_ID};\r\n\tFri, 02 Jan 2026 03:04:05 +0000\r\n`);
  });

  it('says "with ESMTP" for plain unauthenticated MX sessions and names a single recipient', () => {
    const h = receivedHeader(info('mx', { singleRecipient: 'inbox@hosted.test', heloName: 'bad\r\nname' }));
    assert.equal(h, `Received: from badname ([127.0.0.1])\r\n\tby mta.postline.test (Postline) with ESMTP id ${QUEUE_ID}\r\n\tfor <inbox@hosted.test>;\r\n\tFri, 02 Jan 2026 03:04:05 +0000\r\n`);
  });
});

describe('RFC 6409 §8 submission header rewriting', () => {
  it('prepends Received, adds Message-ID and Date when missing, and removes Bcc (folded lines too)', async () => {
    const r = await run(['From: Sender <sender@acme.test>\r\nTo: a@example.net\r\nBcc: hidden@example.org,\r\n  other@example.org\r\nSubject: hi\r\n\r\nbody\r\n']);
    assert.equal(r.problem, null);
    assert.equal(r.out, `${RECEIVED_SUBMISSION}From: Sender <sender@acme.test>\r\nTo: a@example.net\r\nSubject: hi\r\n` +
      `Message-ID: <${QUEUE_ID}@mta.postline.test>\r\nDate: Fri, 02 Jan 2026 03:04:05 +0000\r\n\r\nbody\r\n`);
    assert.equal(r.facts.messageId, `<${QUEUE_ID}@mta.postline.test>`);
    assert.equal(r.facts.subject, 'hi');
  });

  it('keeps a Message-ID and Date that are present, byte for byte', async () => {
    const head = 'Date: Thu, 1 Jan 2026 00:00:00 -0500\r\nMessage-ID: <abc@client.example>\r\nFrom: sender@acme.test\r\n';
    const r = await run([`${head}\r\nbody\r\n`]);
    assert.equal(r.out, `${RECEIVED_SUBMISSION}${head}\r\nbody\r\n`);
    assert.equal(r.facts.messageId, '<abc@client.example>');
  });

  it('strips X-Postline-* control headers and reads X-Postline-Stream', async () => {
    const r = await run(['From: sender@acme.test\r\nX-Postline-Stream: broadcast\r\nx-postline-secret: 1\r\nDate: x\r\nMessage-ID: <m@x>\r\n\r\nb\r\n']);
    assert.equal(r.out, `${RECEIVED_SUBMISSION}From: sender@acme.test\r\nDate: x\r\nMessage-ID: <m@x>\r\n\r\nb\r\n`);
    assert.equal(r.facts.stream, 'broadcast');
    const bad = await run(['From: sender@acme.test\r\nX-Postline-Stream: bulk\r\n\r\nb\r\n']);
    assert.equal(bad.problem, 'rejected');
    assert.equal((bad.error as SmtpError).replyText, '5.6.0 X-Postline-Stream must be "transactional" or "broadcast", not "bulk"');
  });

  it('refuses a From: outside the tenant\'s domains with 550 5.7.1 and a missing From: with 550 5.6.0', async () => {
    const foreign = await run(['From: a@acme.test, ceo@bank.example\r\n\r\nb\r\n']);
    assert.equal(foreign.problem, 'rejected');
    assert.ok(foreign.error instanceof SmtpError);
    assert.equal(foreign.error.code, 550);
    assert.equal(foreign.error.enhanced, '5.7.1');
    const missing = await run(['Subject: no from\r\n\r\nb\r\n']);
    assert.equal((missing.error as SmtpError).replyText, '5.6.0 The message has no From: header (RFC 5322 §3.6 requires one)');
  });

  it('leaves every header on the MX listener (Bcc included) and only prepends Received', async () => {
    const msg = 'From: x@remote.example\r\nBcc: b@hosted.test\r\nX-Postline-Stream: broadcast\r\n\r\nbody\r\n';
    const r = await run([msg], 'mx');
    assert.equal(r.problem, null);
    assert.equal(r.out, RECEIVED_MX + msg);
  });

  it('passes a body through untouched: dots, 8-bit bytes, a long line, header-like lines', async () => {
    const body = Buffer.concat([
      Buffer.from('.leading dot\r\n..two\r\nFrom: not a header\r\n\r\n\r\n'),
      Buffer.from('grüße ✓\r\n'),
      Buffer.from(`${'y'.repeat(5000)}\r\n`),
    ]);
    const head = 'From: sender@acme.test\r\nDate: d\r\nMessage-ID: <m@x>\r\n\r\n';
    const r = await run([Buffer.concat([Buffer.from(head), body])]);
    assert.equal(r.out, RECEIVED_SUBMISSION + head + body.toString('latin1'));
  });
});

describe('RFC 5322 §3.5 messages without a body or without headers', () => {
  it('stores a header-only message (no blank line) with the blank line added', async () => {
    const r = await run(['From: sender@acme.test\r\nSubject: only headers\r\nDate: d\r\nMessage-ID: <m@x>\r\n']);
    assert.equal(r.problem, null);
    assert.equal(r.out, `${RECEIVED_SUBMISSION}From: sender@acme.test\r\nSubject: only headers\r\nDate: d\r\nMessage-ID: <m@x>\r\n\r\n`);
  });

  it('stores a message with an empty header section as Received + the original bytes', async () => {
    const msg = '\r\nFrom: this is body text\r\n\r\nmore\r\n';
    for (const chunks of [[msg], ['\r', '\n', msg.slice(2)]]) {
      const r = await run(chunks, 'mx');
      assert.equal(r.problem, null);
      assert.equal(r.out, RECEIVED_MX + msg);
      assert.equal(r.facts.from, null, 'a From: line in the body is not a header');
    }
  });

  it('stores an empty MX message as Received and a blank line', async () => {
    const r = await run([], 'mx');
    assert.equal(r.problem, null);
    assert.equal(r.out, `${RECEIVED_MX}\r\n`);
  });
});

describe('limits: RFC 1870 size and the header section cap', () => {
  it('reports too-big past maxMessageBytes', async () => {
    const r = await run([`From: sender@acme.test\r\n\r\n${'z'.repeat(200)}\r\n`], 'submission', { maxMessageBytes: 100 });
    assert.equal(r.problem, 'too-big');
  });

  it('reports header-too-big past maxHeaderBytes, in one chunk or many', async () => {
    const msg = `From: sender@acme.test\r\nX-Pad: ${'p'.repeat(300)}\r\n\r\nbody\r\n`;
    assert.equal((await run([msg], 'submission', { maxHeaderBytes: 200 })).problem, 'header-too-big');
    assert.equal((await run(msg.match(/[\s\S]{1,16}/g)!, 'submission', { maxHeaderBytes: 200 })).problem, 'header-too-big');
    assert.equal((await run([msg], 'submission', { maxHeaderBytes: 400 })).problem, null);
  });
});

describe('RFC 5321 §2.3.8 bare CR and LF', () => {
  for (const [name, text] of [
    ['a bare LF in the body', 'From: a@acme.test\r\n\r\nline\nnext\r\n'],
    ['a bare CR in the body', 'From: a@acme.test\r\n\r\nline\rnext\r\n'],
    ['a bare LF in the header', 'From: a@acme.test\nSubject: x\r\n\r\nb\r\n'],
    ['<LF>.<LF>', 'From: a@acme.test\r\n\r\nx\n.\nMAIL FROM:<a@acme.test>\r\n'],
    ['a CR that ends the stream', 'From: a@acme.test\r\n\r\nx\r'],
  ] as const) {
    it(`refuses ${name}, whether or not the chunk boundary falls inside it`, async () => {
      assert.equal((await run([text])).problem, 'bare-newline');
      for (let cut = 1; cut < text.length; cut++) {
        assert.equal((await run([text.slice(0, cut), text.slice(cut)])).problem, 'bare-newline', `cut at ${cut}`);
      }
    });
  }

  it('accepts CRLF split between two chunks', async () => {
    const r = await run(['From: a@acme.test\r', '\n\r', '\nbody\r', '\n']);
    assert.equal(r.problem, null);
  });
});

describe('property: the verdict and the stored bytes do not depend on chunking', () => {
  const EOLS = ['\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r'];
  const line = fc.tuple(fc.string({ unit: fc.constantFrom('a', 'b', ' ', '.', ':', 'é', 'From: a@acme.test', 'x'.repeat(40)), maxLength: 6 }), fc.constantFrom(...EOLS))
    .map(([text, eol]) => text + eol);
  const message = fc.tuple(fc.array(line, { maxLength: 12 }), fc.boolean(), fc.array(line, { maxLength: 12 }))
    .map(([head, blank, body]) => Buffer.from(['From: a@acme.test\r\n', ...head, blank ? '\r\n' : '', ...body].join(''), 'utf8'));

  function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
    const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    let prev = 0;
    for (const p of points) {
      chunks.push(buf.subarray(prev, p));
      prev = p;
    }
    chunks.push(buf.subarray(prev));
    return chunks.filter((c) => c.length > 0);
  }

  it('gives the same problem and output for any split, and flags exactly the messages with a bare CR or LF', async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom('submission' as const, 'mx' as const), async (msg, cuts, kind) => {
        const limits = { maxMessageBytes: 400, maxHeaderBytes: 160 };
        const whole = await run([msg], kind, limits);
        const split = await run(splitAt(msg, cuts), kind, limits);
        assert.equal(split.problem, whole.problem);
        if (whole.problem === null) assert.equal(split.out, whole.out);
        const bare = /\r(?!\n)|(?<!\r)\n/.test(msg.toString('latin1'));
        assert.equal(whole.problem === 'bare-newline', bare);
      }),
      { numRuns: 1000, seed: Number(process.env.FC_SEED ?? 20260102) },
    );
  });
});
