import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import PostalMime from 'postal-mime';
import { ComposeError, composeMessage, sendMessageSchema, toCrlf } from '../../src/compose/index.ts';

const OPTIONS = { id: '01TESTID', hostname: 'mta.postline.test', date: new Date('2026-01-02T03:04:05Z'), maxMessageBytes: 100_000, maxRecipients: 10 };

function parse(body: unknown) {
  const r = sendMessageSchema.safeParse(body);
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  return r.data;
}

function bareNewlines(raw: Buffer): number {
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0a && raw[i - 1] !== 0x0d) n++;
    if (raw[i] === 0x0d && raw[i + 1] !== 0x0a) n++;
  }
  return n;
}

describe('composeMessage: JSON → RFC 5322 with MailComposer', () => {
  it('adds Message-ID <id@hostname> and Date (RFC 5322 §3.6.1, §3.6.4) and leaves Bcc out of the header (§3.6.3)', async () => {
    const m = await composeMessage(parse({ from: 'Acme <news@acme.example>', to: 'a@x.example', bcc: ['hidden@y.example'], subject: 'Hi', text: 'hello' }), OPTIONS);
    const head = m.raw.subarray(0, m.headerSize).toString();
    assert.match(head, /^Message-ID: <01TESTID@mta\.postline\.test>\r$/m);
    assert.match(head, /^Date: Fri, 02 Jan 2026 03:04:05 \+0000\r$/m);
    assert.doesNotMatch(head, /^bcc:/im);
    assert.ok(head.endsWith('\r\n\r\n'), 'headerSize ends after the blank line');
    assert.equal(m.messageIdHeader, '<01TESTID@mta.postline.test>');
    assert.deepEqual(m.recipients, ['a@x.example', 'hidden@y.example']);
    assert.equal(m.mailFrom, 'news@acme.example');
  });

  it('writes only CRLF line ends (RFC 5322 §2.3), whatever the text and html use', async () => {
    const m = await composeMessage(parse({ from: 'news@acme.example', to: 'a@x.example', text: 'one\ntwo\rthree\r\nfour', html: '<p>a</p>\n<p>b</p>' }), OPTIONS);
    assert.equal(bareNewlines(m.raw), 0);
    const parsed = await PostalMime.parse(m.raw);
    assert.equal(parsed.text?.replace(/\r\n/g, '\n').trim(), 'one\ntwo\nthree\nfour');
    assert.equal(toCrlf('a\nb'), 'a\r\nb');
  });

  it('lists each envelope recipient once across to, cc and bcc, domains as A-labels (IDNA)', async () => {
    const m = await composeMessage(parse({ from: 'news@acme.example', to: ['a@x.example', 'b@bücher.example'], cc: 'a@x.example', bcc: 'B@BÜCHER.example', text: 'x' }), OPTIONS);
    assert.deepEqual(m.recipients, ['a@x.example', 'b@xn--bcher-kva.example', 'B@xn--bcher-kva.example']);
    assert.equal(m.smtputf8, false);
  });

  it('marks a message with a UTF-8 local part as needing SMTPUTF8 (RFC 6531 §3.3)', async () => {
    const m = await composeMessage(parse({ from: 'news@acme.example', to: 'jörg@x.example', text: 'x' }), OPTIONS);
    assert.equal(m.smtputf8, true);
    assert.deepEqual(m.recipients, ['jörg@x.example']);
  });

  it('builds multipart/related for inline images and multipart/mixed for attachments (RFC 2046 §5.1, RFC 2387)', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const pdf = Buffer.from('%PDF-1.4 test');
    const m = await composeMessage(parse({
      from: 'news@acme.example', to: 'a@x.example', html: '<img src="cid:logo">', text: 'x',
      attachments: [
        { filename: 'logo.png', content: png.toString('base64'), content_type: 'image/png', content_id: 'logo' },
        { filename: 'invoice.pdf', content: pdf.toString('base64'), content_type: 'application/pdf' },
      ],
    }), OPTIONS);
    const head = m.raw.toString();
    assert.match(head, /multipart\/mixed/);
    assert.match(head, /multipart\/related/);
    const parsed = await PostalMime.parse(m.raw);
    const logo = parsed.attachments.find((a) => a.filename === 'logo.png')!;
    assert.equal(logo.contentId, '<logo>');
    assert.equal(logo.disposition, 'inline');
    assert.deepEqual(Buffer.from(logo.content as ArrayBuffer), png);
    const invoice = parsed.attachments.find((a) => a.filename === 'invoice.pdf')!;
    assert.equal(invoice.disposition, 'attachment');
    assert.deepEqual(Buffer.from(invoice.content as ArrayBuffer), pdf);
  });

  it('refuses a message larger than the SMTP size limit as too-large (RFC 1870)', async () => {
    const big = Buffer.alloc(60_000, 1).toString('base64');
    await assert.rejects(composeMessage(parse({ from: 'news@acme.example', to: 'a@x.example', text: 'x', attachments: [{ filename: 'a.bin', content: big }] }), { ...OPTIONS, maxMessageBytes: 50_000 }),
      (err: ComposeError) => err.kind === 'too-large' && err.pointer === '/attachments');
    await assert.rejects(composeMessage(parse({ from: 'news@acme.example', to: 'a@x.example', text: 'x'.repeat(60_000) }), { ...OPTIONS, maxMessageBytes: 50_000 }),
      (err: ComposeError) => err.kind === 'too-large' && err.code === 'MESSAGE_TOO_LARGE');
  });

  it('refuses more recipients than smtp.max_recipients, pointing at /to', async () => {
    const to = Array.from({ length: 11 }, (_, i) => `r${i}@x.example`);
    await assert.rejects(composeMessage(parse({ from: 'news@acme.example', to, text: 'x' }), OPTIONS),
      (err: ComposeError) => err.kind === 'invalid' && err.pointer === '/to' && err.code === 'MESSAGE_TOO_MANY_RECIPIENTS');
  });
});

describe('sendMessageSchema: header injection and field rules', () => {
  const base = { from: 'news@acme.example', to: 'a@x.example', text: 'x' };
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['subject', { subject: 'Hi\r\nBcc: victim@x.example' }, '/subject'],
    ['the subject (a bare LF)', { subject: 'Hi\nX: y' }, '/subject'],
    ['a display name', { from: { email: 'news@acme.example', name: 'A\r\nBcc: v@x.example' } }, '/from/name'],
    ['an address string', { to: ['a@x.example', 'b@x.example\r\nBcc: v@x.example'] }, '/to/1'],
    ['a header value', { headers: { 'X-Campaign': 'a\r\nBcc: v@x.example' } }, '/headers/X-Campaign'],
    ['a header name', { headers: { 'X-A\r\nBcc': 'v' } }, '/headers/X-A\r\nBcc'],
    ['an attachment file name', { attachments: [{ filename: 'a\r\n.txt', content: 'eA==' }] }, '/attachments/0/filename'],
    ['a content id', { attachments: [{ filename: 'a.png', content: 'eA==', content_id: 'x\r\ny' }] }, '/attachments/0/content_id'],
    ['a tag', { tags: ['ok', 'bad\nline'] }, '/tags/1'],
  ];
  for (const [what, patch, pointer] of cases) {
    it(`refuses CR or LF in ${what} (RFC 5322 §2.2), at ${JSON.stringify(pointer)}`, () => {
      const r = sendMessageSchema.safeParse({ ...base, ...patch });
      assert.equal(r.success, false);
      const paths = r.error!.issues.map((i) => `/${i.path.join('/')}`);
      assert.ok(paths.includes(pointer), JSON.stringify(r.error!.issues));
    });
  }

  it('refuses structural headers in "headers" (From, Content-Type, X-Postline-*)', () => {
    for (const name of ['From', 'content-type', 'X-Postline-Stream', 'Bcc', 'Message-ID']) {
      const r = sendMessageSchema.safeParse({ ...base, headers: { [name]: 'x' } });
      assert.equal(r.success, false, name);
    }
    assert.equal(sendMessageSchema.safeParse({ ...base, headers: { 'In-Reply-To': '<a@b>', 'List-Unsubscribe': '<mailto:u@x.example>' } }).success, true);
  });

  it('takes either a template or subject/html/text, and data only with a template', () => {
    assert.equal(sendMessageSchema.safeParse({ from: base.from, to: base.to, template: 'welcome', data: { a: 1 } }).success, true);
    assert.equal(sendMessageSchema.safeParse({ ...base, template: 'welcome' }).success, false);
    assert.equal(sendMessageSchema.safeParse({ ...base, data: { a: 1 } }).success, false);
    assert.equal(sendMessageSchema.safeParse({ from: base.from, to: base.to }).success, false);
  });
});
