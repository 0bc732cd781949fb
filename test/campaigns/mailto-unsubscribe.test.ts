// Issue 9, the mailto half of List-Unsubscribe (RFC 2369 §3.2) end to end: a real Postline
// sends a campaign to the sink, then a mailbox provider (Python's smtplib, an independent
// client) mails the `unsubscribe+<token>@pl-bounces.<domain>` address of one message to the MX
// listener. A valid token unsubscribes that contact (contact.unsubscribed, method mailto) in
// the transaction that stores the mail, before the 250; the next campaign skips the contact. A
// forged token, or one moved onto another contact's message, is refused at RCPT with 550 5.1.1
// and changes nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { useCampaignRig, SINK, RCPT_DOMAIN } from './campaign-rig.ts';
import { MailtoUnsubscribe, mailtoUnsubscribeToken } from '../../src/campaigns/mailto-unsubscribe.ts';
import { VerpCodec } from '../../src/feedback/verp.ts';
import { LinkSigner } from '../../src/campaigns/link-signer.ts';
import { randomBytes } from 'node:crypto';
import { queryServerDb } from '../helpers/backend.ts';

const cr = useCampaignRig();
const { api, listOf, campaign, campaignWhen, forSubject } = cr;

const SMTPLIB = `
import json, smtplib, sys
host, port, sender, rcpt = sys.argv[1:5]
s = smtplib.SMTP(host, int(port), local_hostname='mx.inbox.test', timeout=20)
s.ehlo()
s.mail(sender)
code, msg = s.rcpt(rcpt)
out = {'rcpt': '%d %s' % (code, msg.decode()), 'data': None}
if code == 250:
    code, msg = s.data(sys.stdin.read().encode())
    out['data'] = '%d %s' % (code, msg.decode())
s.quit()
print(json.dumps(out))
`;

/** Mails `rcpt` on the MX listener as a mailbox provider would; answers the RCPT reply and the final one (null: refused at RCPT). */
function mailTo(rcpt: string): Promise<{ rcpt: string; data: string | null }> {
  const { host, port } = cr.rig.postline.mx;
  const body = `From: <reader@${RCPT_DOMAIN}>\r\nTo: <${rcpt}>\r\nSubject: unsubscribe\r\nMessage-ID: <${Date.now()}.${Math.random()}@${RCPT_DOMAIN}>\r\n\r\nunsubscribe\r\n`;
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', ['-c', SMTPLIB, host, String(port), `reader@${RCPT_DOMAIN}`, rcpt], (err, stdout, stderr) => {
      if (err) reject(new Error(`smtplib: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as { rcpt: string; data: string | null });
    });
    child.stdin!.end(body);
  });
}

const mailtoOf = (raw: Buffer) => /<mailto:(unsubscribe\+[^@>]+@[^?>]+)\?subject=unsubscribe>/.exec(raw.toString('latin1'))![1];

async function contactStatus(email: string): Promise<string> {
  const r = await api('GET', `/api/v1/contacts?q=${encodeURIComponent(email)}`);
  assert.equal(r.status, 200, r.text);
  return r.body.data.find((c: { email: string }) => c.email === email).status;
}

async function unsubscribedEvents(): Promise<any[]> {
  const r = await api('GET', '/api/v1/events?type=contact.unsubscribed&limit=100');
  assert.equal(r.status, 200, r.text);
  return r.body.data;
}

describe('RFC 2369 §3.2 mailto unsubscribe on the MX listener', () => {
  let addresses: Map<string, string>;

  it('writes the mailto address of each message to the return-path host of the sender domain', async () => {
    const list = await listOf('Mailto', 'mt', 3);
    await campaign(list, 6000, 'mailto first');
    await cr.rig.sink(SINK).waitFor((ms) => ms.filter((m) => m.raw.includes('Subject: mailto first\r\n')).length >= 3, 20_000);
    addresses = new Map(forSubject('mailto first').map((m) => [m.rcptTo[0], mailtoOf(m.raw)]));
    assert.equal(addresses.size, 3);
    for (const a of addresses.values()) assert.match(a, /^unsubscribe\+[0-9A-Z]{26}\.[A-Za-z0-9_-]{22}@pl-bounces\.acme\.test$/);
  });

  it('refuses a forged token, and a token moved onto another contact\'s message, at RCPT with 550 5.1.1; nothing changes', async () => {
    const own = addresses.get(`mt1@${RCPT_DOMAIN}`)!;
    const other = addresses.get(`mt0@${RCPT_DOMAIN}`)!;
    const [local, domain] = own.split('@');
    const flipped = `${local.slice(0, -1)}${local.endsWith('A') ? 'B' : 'A'}@${domain}`;
    // mt1's MAC on mt0's message id: the MAC covers the message id, so it names no one.
    const moved = `unsubscribe+${mailtoUnsubscribeToken(other)!.split('.')[0]}.${mailtoUnsubscribeToken(own)!.split('.')[1]}@${domain}`;
    for (const rcpt of [flipped, moved, `unsubscribe+garbage@${domain}`, `unsubscribe+${'0'.repeat(26)}.${'A'.repeat(22)}@${domain}`]) {
      const r = await mailTo(rcpt);
      assert.match(r.rcpt, /^550 5\.1\.1 /, rcpt);
      assert.equal(r.data, null);
    }
    for (const email of addresses.keys()) assert.equal(await contactStatus(email), 'subscribed');
    assert.deepEqual(await unsubscribedEvents(), []);
    const entries = await api('GET', '/api/v1/suppressions');
    assert.deepEqual(entries.body.data, []);
  });

  it('accepts a valid token with 250 and, before that reply, unsubscribes exactly that contact (contact.unsubscribed, method mailto) and stores the mail unrelayed', async () => {
    const own = addresses.get(`mt1@${RCPT_DOMAIN}`)!;
    const r = await mailTo(own);
    assert.match(r.rcpt, /^250 /);
    assert.match(r.data!, /^250 /);
    // Committed before the 250: no waiting here.
    assert.equal(await contactStatus(`mt1@${RCPT_DOMAIN}`), 'unsubscribed');
    assert.equal(await contactStatus(`mt0@${RCPT_DOMAIN}`), 'subscribed');
    assert.equal(await contactStatus(`mt2@${RCPT_DOMAIN}`), 'subscribed');
    const events = await unsubscribedEvents();
    assert.equal(events.length, 1);
    const sent = forSubject('mailto first').find((m) => m.rcptTo[0] === `mt1@${RCPT_DOMAIN}`)!;
    const messageId = mailtoUnsubscribeToken(own)!.split('.')[0];
    assert.ok(sent.raw.includes(messageId), 'the token names the message sent to mt1');
    assert.equal(events[0].data.method, 'mailto');
    assert.equal(events[0].data.scope, 'all');
    assert.equal(events[0].data.email, `mt1@${RCPT_DOMAIN}`);
    assert.equal(events[0].data.message_id, messageId);
    const entry = await api('GET', `/api/v1/suppressions/broadcast/${encodeURIComponent(`mt1@${RCPT_DOMAIN}`)}`);
    assert.equal(entry.status, 200, entry.text);
    assert.equal(entry.body.reason, 'unsubscribe');
    assert.equal(entry.body.description, 'mailto unsubscribe');
    // The mail itself is kept like other feedback mail, not relayed.
    const rows = await queryServerDb<{ status: string; origin: string }>(cr.rig.postline, "select r.status as status, m.origin as origin from recipients r join messages m on m.id = r.message_id where r.rcpt = ?", [own]);
    assert.deepEqual(rows.map((x) => ({ ...x })), [{ status: 'received', origin: 'mx' }]);
  });

  it('takes the same address again with 250 and writes no second event', async () => {
    const r = await mailTo(addresses.get(`mt1@${RCPT_DOMAIN}`)!);
    assert.match(r.data!, /^250 /);
    assert.equal((await unsubscribedEvents()).length, 1);
  });

  it('skips the unsubscribed contact in the next campaign', async () => {
    const list = (await api('GET', '/api/v1/lists')).body.data.find((l: { name: string }) => l.name === 'Mailto').id;
    const second = await campaign(list, 6000, 'mailto second');
    await cr.rig.sink(SINK).waitFor((ms) => ms.filter((m) => m.raw.includes('Subject: mailto second\r\n')).length >= 2, 20_000);
    const c = await campaignWhen(second, 'sent');
    assert.deepEqual(c.counts, { queued: 2, skipped_suppressed: 0, skipped_unsubscribed: 1 });
    assert.deepEqual(forSubject('mailto second').flatMap((m) => m.rcptTo).sort(), [`mt0@${RCPT_DOMAIN}`, `mt2@${RCPT_DOMAIN}`]);
  });
});

describe('VerpCodec: mailto unsubscribe addresses', () => {
  const key = randomBytes(32);
  const verp = new VerpCodec(key, 'pl-bounces');
  const token = new LinkSigner(key, 'https://l.example').unsubscribeToken('01JD0000000000000000000000');

  it('matches a signed token at the return-path host only, with a negative binding (never a recipient row)', () => {
    const m = verp.match(`unsubscribe+${token}@pl-bounces.acme.test`);
    assert.ok(m && m !== 'forged');
    assert.ok(m.recipientId < 0 && Number.isSafeInteger(m.recipientId));
    assert.equal(m.unsubscribeMessageId, '01JD0000000000000000000000');
    assert.equal(verp.match(`UNSUBSCRIBE+${token}@PL-BOUNCES.acme.test`) !== 'forged', true, 'the fixed parts in any case');
    assert.equal(verp.match(`unsubscribe+${token}@acme.test`), null);
    assert.equal(verp.match(`unsubscribe@pl-bounces.acme.test`), null);
  });

  it('calls a token of another instance key, or with its case changed, forged', () => {
    assert.equal(new VerpCodec(randomBytes(32), 'pl-bounces').match(`unsubscribe+${token}@pl-bounces.acme.test`), 'forged');
    assert.equal(verp.match(`unsubscribe+${token.toLowerCase()}@pl-bounces.acme.test`), 'forged');
    assert.equal(new MailtoUnsubscribe(key).match(`unsubscribe+${token}x@pl-bounces.acme.test`, 'pl-bounces'), 'forged');
  });

  it('leaves the VERP tokens of a return-path prefix named `unsubscribe` to VERP', () => {
    const codec = new VerpCodec(key, 'unsubscribe');
    assert.deepEqual(codec.match(codec.address(77, 'acme.test')), { recipientId: 77 });
    assert.ok((codec.match(`unsubscribe+${token}@unsubscribe.acme.test`) as { recipientId: number }).recipientId < 0);
  });
});
