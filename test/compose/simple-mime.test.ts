import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import MailComposer from 'nodemailer/lib/mail-composer';
import PostalMime from 'postal-mime';
import { composeMessage, toCrlf } from '../../src/compose/index.ts';
import { encodedWords, isSimpleContent, simpleMime, type SimpleContent, type SimpleMailbox } from '../../src/compose/simple-mime.ts';

const box = (address: string, name: string | null = null): SimpleMailbox => ({ address, name, utf8: false });
const date = new Date('2026-01-02T03:04:05Z');

async function viaMailComposer(c: SimpleContent): Promise<Buffer> {
  const addr = (m: SimpleMailbox) => ({ name: m.name ?? '', address: m.address });
  return new MailComposer({
    from: addr(c.from), to: c.to?.map(addr), cc: c.cc?.map(addr), replyTo: c.reply_to?.map(addr),
    subject: c.subject ?? undefined, text: c.text ?? undefined, html: c.html ?? undefined,
    messageId: '<m1@h.example>', date,
  }).compile().build();
}

async function parsed(raw: Buffer) {
  const e = await PostalMime.parse(raw);
  const list = (l: typeof e.to) => (l ?? []).map((a) => ('address' in a ? { address: a.address, name: a.name } : a));
  return {
    subject: e.subject, from: e.from, to: list(e.to), cc: list(e.cc), replyTo: list(e.replyTo),
    text: e.text?.replace(/(\r?\n)+$/, ''), html: e.html?.replace(/(\r?\n)+$/, ''), messageId: e.messageId, date: e.date,
    attachments: e.attachments.length,
  };
}

const longName = 'Zoë Ångström-Þórsdóttir, Head of Customer Happiness (EMEA) at Example Corporation';
const cases: Array<[string, SimpleContent]> = [
  ['ASCII text only', { from: box('a@ex.example', 'Bench'), to: [box('b@ex.example')], subject: 'Hello', text: 'Hi\r\nthere\r\n' }],
  ['text and html, UTF-8 subject and names', {
    from: box('a@ex.example', 'Zoë'), to: [box('b@ex.example', 'Bé Q'), box('c@ex.example')], cc: [box('d@ex.example', 'Dee "D" Smith')],
    reply_to: [box('r@ex.example', 'a.b, c')], subject: 'Héllo wörld — ✓ 日本語', text: 'Grüße\r\n', html: '<p>Grüße ✓</p>',
  }],
  ['html only, long ASCII subject and long lines', {
    from: box('a@ex.example'), to: Array.from({ length: 12 }, (_, i) => box(`user${i}@a-rather-long-domain-name.example`, `User Number ${i}`)),
    subject: 'A subject that is considerably longer than seventy-eight characters so that it must be folded somewhere',
    html: `<p>${'x'.repeat(2000)}</p>`,
  }],
  ['long UTF-8 display name, subject that looks like an encoded word, empty text', {
    from: box('a@ex.example', longName), to: [box('b@ex.example', 'Support')], subject: 'Re: =?x?= literal', text: '', html: '<p>hi</p>',
  }],
  ['UTF-8 body lines over 76 characters, text and html', {
    from: box('a@ex.example'), to: [box('b@ex.example')], subject: 'ü', text: `${'é'.repeat(300)}\r\n.\r\nend`, html: `<b>${'ü'.repeat(500)}</b>`,
  }],
];

describe('simpleMime builds what MailComposer builds, as postal-mime reads both', () => {
  for (const [name, content] of cases) {
    it(`${name}: same subject, from, to, cc, reply-to, text and html`, async () => {
      const ours = simpleMime(content, '<m1@h.example>', date);
      assert.deepEqual(await parsed(ours), await parsed(await viaMailComposer(content)));
      // RFC 5322 §2.1.1: no line over 998 octets, CRLF only.
      for (const line of ours.toString('latin1').split('\r\n')) assert.ok(line.length <= 998 && !/[\r\n]/.test(line));
      const head = ours.subarray(0, ours.indexOf('\r\n\r\n')).toString('latin1');
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(head, /[^\x09\x0a\x0d\x20-\x7e]/, 'header section is ASCII');
    });
  }

  it('keeps a display name that looks like an encoded word literal (RFC 2047 §5: only we encode)', async () => {
    const raw = simpleMime({ from: box('a@ex.example'), to: [box('b@ex.example', '=?UTF-8?B?SGk=?=')], text: 'x' }, '<m1@h.example>', date);
    assert.deepEqual((await PostalMime.parse(raw)).to, [{ address: 'b@ex.example', name: '=?UTF-8?B?SGk=?=' }]);
  });

  it('encodes words of at most 75 characters on code point boundaries (RFC 2047 §2)', () => {
    const words = encodedWords('✓'.repeat(40) + 'é'.repeat(40));
    for (const w of words) {
      assert.ok(w.length <= 75, w);
      assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(w.slice(10, -2), 'base64')));
    }
  });

  it('is used only without attachments, custom headers or UTF-8 local parts', () => {
    const base = { from: box('a@ex.example'), to: [box('b@ex.example')], text: 'x' };
    assert.equal(isSimpleContent(base), true);
    assert.equal(isSimpleContent({ ...base, headers: { 'X-A': 'b' } }), false);
    assert.equal(isSimpleContent({ ...base, attachments: [{}] }), false);
    assert.equal(isSimpleContent({ ...base, to: [{ address: 'ü@ex.example', name: null, utf8: true }] }), false);
    assert.equal(isSimpleContent({ ...base, text: undefined }), false);
    assert.equal(isSimpleContent({ ...base, text: '' }), false);
  });

  it('composeMessage keeps Bcc out of the header and in the envelope on the simple path', async () => {
    const composed = await composeMessage(
      { from: box('a@ex.example'), to: [box('b@ex.example')], bcc: [box('secret@ex.example')], subject: 's', text: toCrlf('hi\n') },
      { id: 'm1', hostname: 'h.example', date, maxMessageBytes: 1e6, maxRecipients: 10 },
    );
    assert.doesNotMatch(composed.raw.toString(), /secret/);
    assert.deepEqual(composed.recipients, ['b@ex.example', 'secret@ex.example']);
    assert.equal(composed.raw.subarray(composed.headerSize - 4, composed.headerSize).toString(), '\r\n\r\n');
  });
});
