// Issue 4, the whole loop on the test DNS server: add a domain → publish its records → verify →
// send through the API and through SMTP → the sink receives mail whose DKIM signatures (RSA and
// Ed25519) verify with Debian's python3-dkim and with mailauth, whose SPF passes for the sending
// IP and whose DMARC aligns; the envelope sender is a VERP return path, so a bounce sent back to
// it is matched, classified and suppresses the address; a forged token is refused and changes
// nothing; a complaint suppresses; an auto-reply is not a bounce; rotation keeps mail verifiable.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { authenticate } from 'mailauth';
import { startDeliveryRig, type DeliveryRig } from '../queue/delivery-harness.ts';
import { connectSmtp, dotStuff } from '../helpers/smtp-talk.ts';
import type { SinkMessage } from '../helpers/smtp-sink.ts';
import { DnsResolver } from '../../src/delivery/dns-resolver.ts';
import { mailauthResolver } from '../../src/bounces/index.ts';
import { queryServerDb } from '../helpers/backend.ts';

const SINK = '127.0.0.2';
const HOST = 'mta.postline.test';
const DOMAIN = 'shop.test';
const WAIT_MS = 20_000;

let rig: DeliveryRig;
let api: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
// mailauth's typings want string results; our adapter answers what dns.promises would.
let resolver: NonNullable<Parameters<typeof authenticate>[1]>['resolver'];
let domainId: string;

function dkimVerifyPython(raw: Buffer): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/python3', [join(import.meta.dirname, '..', 'helpers', 'dkim-verify.py'), String(rig.dns.port)], (err, stdout, stderr) => {
      resolve({ ok: !err, output: `${stdout}${stderr}` });
    });
    child.stdin!.end(raw);
  });
}

function publish(records: Array<{ name: string; type: string; value: string }>): void {
  for (const r of records) rig.dns.addRecord(r.name, { type: r.type as 'TXT' | 'CNAME', value: r.value });
}

async function sendApi(to: string, subject: string): Promise<{ status: number; body: any }> {
  return api('POST', '/api/v1/messages', { from: `Shop <orders@${DOMAIN}>`, to: [to], subject, text: `Hello from ${subject}.\n`, headers: { 'List-Unsubscribe': '<mailto:unsub@shop.test>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } });
}

async function arrived(subject: string): Promise<SinkMessage> {
  const sink = rig.sink(SINK);
  const found = await sink.waitFor((ms) => ms.some((m) => m.raw.includes(`Subject: ${subject}\r\n`)), WAIT_MS);
  return found.find((m) => m.raw.includes(`Subject: ${subject}\r\n`))!;
}

/** Sends `raw` to the MX listener from a remote MTA (null sender) for `rcpt`; answers the RCPT and final replies. */
async function report(rcpt: string, raw: string): Promise<{ rcpt: string; data: string | null }> {
  const talk = await connectSmtp({ host: rig.postline.mx.host, port: rig.postline.mx.port, localAddress: '127.0.0.9' });
  try {
    await talk.ehlo('mx.inbox.test');
    await talk.send('MAIL FROM:<>');
    const r = await talk.send(`RCPT TO:<${rcpt}>`);
    if (r.code !== 250) return { rcpt: r.last, data: null };
    await talk.send('DATA');
    talk.write(dotStuff(raw.replace(/\r?\n/g, '\r\n')));
    talk.write('.\r\n');
    const done = await talk.read();
    return { rcpt: r.last, data: done.last };
  } finally {
    await talk.send('QUIT').catch(() => undefined);
  }
}

function dsn(to: string, finalRecipient: string, status: string, diagnostic: string, action = 'failed'): string {
  return [
    `From: Mail Delivery System <MAILER-DAEMON@mx.inbox.test>`, `To: ${to}`, 'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0', 'Auto-Submitted: auto-replied', 'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain', '', 'Your message could not be delivered.', '',
    '--b1', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.inbox.test', '',
    `Final-Recipient: rfc822; ${finalRecipient}`, `Action: ${action}`, `Status: ${status}`, `Diagnostic-Code: smtp; ${diagnostic}`, '',
    '--b1--', '',
  ].join('\n');
}

before(async () => {
  rig = await startDeliveryRig({
    sinks: [SINK],
    domains: [],
    env: {
      POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'true', POSTLINE_DKIM_ED25519: 'true',
      POSTLINE_FEEDBACK_VERP: 'true', POSTLINE_API_KEY_RATE: '0', POSTLINE_FEEDBACK_FBL_ADDRESSES: `fbl@${HOST}`,
    },
  });
  // The instance's own names: the SPF include, and the return-path target (its MX name).
  rig.dns.addRecord(`_spf.${HOST}`, { type: 'TXT', value: 'v=spf1 ip4:127.0.0.0/8 -all' });
  rig.dns.addRecord(HOST, { type: 'TXT', value: 'v=spf1 ip4:127.0.0.0/8 -all' });
  rig.dns.a(HOST, '127.0.0.1');
  rig.dns.mx('inbox.test', ['mx.inbox.test']);
  rig.dns.a('mx.inbox.test', SINK);
  resolver = mailauthResolver(new DnsResolver({ servers: [rig.dns.address], timeoutMs: 1000, maxCacheTtlMs: 0 })) as typeof resolver;
  const key = await rig.postline.cli('key', 'create', '--tenant', 'acme', '--scopes', 'send,read,manage');
  api = async (method, path, body) => {
    // Read the port each time: a restart moves the listener.
    const base = `http://${rig.postline.http!.host}:${rig.postline.http!.port}`;
    const res = await fetch(`${base}${path}`, {
      method, headers: { authorization: `Bearer ${key.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
});

after(async () => {
  await rig?.close();
});

describe('Issue 4: a sending domain from DNS records to verified, signed, aligned mail', () => {
  let records: Array<{ name: string; type: string; value: string; purpose: string; status: string }>;

  it('answers the records to publish for a new domain, and refuses to send from it until it verifies (422 SENDER_DOMAIN_NOT_VERIFIED)', async () => {
    const created = await api('POST', '/api/v1/domains', { name: DOMAIN });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    domainId = created.body.id;
    records = created.body.records;
    const purposes = records.map((r) => r.purpose).sort();
    assert.deepEqual(purposes, ['dkim', 'dkim', 'dmarc', 'ownership', 'return_path', 'spf']);
    assert.ok(records.every((r) => r.status === 'pending'));
    const refused = await sendApi('early@inbox.test', 'too early');
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, 'API_SENDER_DOMAIN_NOT_VERIFIED');
    assert.match(refused.body.detail, /not verified yet/);
  });

  it('verifies once the records are published (ownership, both DKIM keys, SPF, DMARC, return path: ok)', async () => {
    publish(records);
    const verified = await api('POST', `/api/v1/domains/${domainId}/verify`);
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.equal(verified.body.verified, true, JSON.stringify(verified.body.records));
    for (const r of verified.body.records) assert.equal(r.status, 'ok', `${r.purpose} ${r.name}: ${JSON.stringify(r)}`);
  });

  let apiCopy: SinkMessage;
  it('delivers API mail signed with RSA and Ed25519 that python3-dkim and mailauth verify, with SPF pass and DMARC aligned', async () => {
    // The sender cache of the API holds the unverified state for a few seconds.
    let res = await sendApi('first@inbox.test', 'signed by api');
    for (let i = 0; res.status === 422 && i < 30; i++) {
      await new Promise((r) => setTimeout(r, 250));
      res = await sendApi('first@inbox.test', 'signed by api');
    }
    assert.equal(res.status, 202, JSON.stringify(res.body));
    apiCopy = await arrived('signed by api');
    const signatures = apiCopy.raw.toString('latin1').match(/^DKIM-Signature:[^]*?(?=\r\n\S)/gm) ?? [];
    assert.equal(signatures.length, 2);
    assert.match(signatures[0], /a=rsa-sha256/);
    assert.match(signatures[1], /a=ed25519-sha256/);
    for (const s of signatures) {
      const h = /h=([^;]+);/.exec(s.replace(/\r\n\s+/g, ''))![1].toLowerCase().split(':');
      assert.ok(h.includes('list-unsubscribe') && h.includes('list-unsubscribe-post'), `RFC 8058: ${h.join(':')}`);
      for (const name of ['from', 'to', 'subject', 'date']) assert.equal(h.filter((x) => x === name).length, 2, `${name} over-signed`);
    }
    const python = await dkimVerifyPython(apiCopy.raw);
    assert.ok(python.ok, python.output);
    assert.match(python.output, /ed25519-sha256 pass/);
    // The envelope sender is this recipient's VERP return path at the verified return-path host.
    assert.match(apiCopy.mailFrom, /^pl-bounces\+[0-9a-z]+-[0-9a-f]{16}@pl-bounces\.shop\.test$/);
    const auth = await authenticate(apiCopy.raw, { ip: apiCopy.remoteAddress, helo: HOST, sender: apiCopy.mailFrom, mta: 'mx.inbox.test', resolver });
    assert.equal(auth.spf && (auth.spf as any).status.result, 'pass', JSON.stringify(auth.spf));
    assert.deepEqual(auth.dkim.results.map((r: any) => r.status.result), ['pass', 'pass']);
    assert.equal((auth.dmarc as any).status.result, 'pass', JSON.stringify(auth.dmarc));
  });

  it('signs SMTP submissions the same way', async () => {
    await rig.send({ from: `orders@${DOMAIN}`, to: 'second@inbox.test', subject: 'signed by smtp' });
    const copy = await arrived('signed by smtp');
    const python = await dkimVerifyPython(copy.raw);
    assert.ok(python.ok, python.output);
    const auth = await authenticate(copy.raw, { ip: copy.remoteAddress, helo: HOST, sender: copy.mailFrom, mta: 'mx.inbox.test', resolver });
    assert.equal((auth.dmarc as any).status.result, 'pass');
  });

  it('takes a bounce at the VERP return path: message.bounced (async, hard, 5.1.1, diagnostic kept), recipient bounced, address suppressed', async () => {
    const sent = await sendApi('gone@inbox.test', 'will bounce later');
    assert.equal(sent.status, 202);
    const copy = await arrived('will bounce later');
    const replies = await report(copy.mailFrom, dsn(copy.mailFrom, 'gone@inbox.test', '5.1.1', '550 5.1.1 <gone@inbox.test>: Recipient address rejected: User unknown'));
    assert.match(replies.rcpt, /^250/);
    assert.match(replies.data!, /^250/);
    const events = (await api('GET', `/api/v1/messages/${sent.body.id}`)).body;
    const bounced = (events.events ?? []).find((e: any) => e.type === 'message.bounced');
    assert.ok(bounced, JSON.stringify(events));
    const data = bounced.data ?? bounced.payload;
    assert.equal(data.async, true);
    assert.equal(data.classification, 'hard');
    assert.equal(data.enhanced, '5.1.1');
    assert.match(data.diagnostic, /User unknown/);
    assert.equal(events.recipients[0].status, 'bounced');
    const entry = await api('GET', '/api/v1/suppressions/transactional/gone@inbox.test');
    assert.equal(entry.status, 200);
    assert.equal(entry.body.reason, 'hard_bounce');
    const again = await sendApi('gone@inbox.test', 'after the bounce');
    assert.equal(again.body.recipients[0].status, 'suppressed');
  });

  it('suppresses an address the receiving MX refused with 550 5.1.1 during delivery (hard bounce)', async () => {
    rig.sink(SINK).setRcptRule('nouser@inbox.test', '550 5.1.1 <nouser@inbox.test>: User unknown');
    const sent = await sendApi('nouser@inbox.test', 'refused at rcpt');
    assert.equal(sent.status, 202);
    let entry = await api('GET', '/api/v1/suppressions/transactional/nouser@inbox.test');
    for (let i = 0; entry.status === 404 && i < 80; i++) {
      await new Promise((r) => setTimeout(r, 250));
      entry = await api('GET', '/api/v1/suppressions/transactional/nouser@inbox.test');
    }
    assert.equal(entry.status, 200);
    assert.equal(entry.body.reason, 'hard_bounce');
    assert.equal(entry.body.message_id, sent.body.id);
    assert.match(entry.body.description, /User unknown/);
  });

  it('refuses a bounce whose VERP token is forged (550 5.1.1) and changes nothing', async () => {
    const sent = await sendApi('kept@inbox.test', 'not to be forged');
    const copy = await arrived('not to be forged');
    const [local, host] = copy.mailFrom.split('@');
    const forged = `${local.slice(0, -4)}${local.slice(-4) === 'aaaa' ? 'bbbb' : 'aaaa'}@${host}`;
    const replies = await report(forged, dsn(forged, 'kept@inbox.test', '5.1.1', '550 5.1.1 User unknown'));
    assert.match(replies.rcpt, /^550 5\.1\.1 /);
    assert.equal(replies.data, null);
    assert.equal((await api('GET', '/api/v1/suppressions/transactional/kept@inbox.test')).status, 404);
    const view = (await api('GET', `/api/v1/messages/${sent.body.id}`)).body;
    assert.equal(view.recipients[0].status, 'delivered');
  });

  it('turns an ARF complaint at the return path into message.complained and a complaint suppression; an auto-reply is not a bounce', async () => {
    const sent = await sendApi('angry@inbox.test', 'will be reported');
    const copy = await arrived('will be reported');
    const arf = [
      'From: FBL <fbl@inbox.test>', `To: ${copy.mailFrom}`, 'Subject: FW: report', 'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=feedback-report; boundary="f1"', '',
      '--f1', 'Content-Type: text/plain', '', 'This is an abuse report.', '',
      '--f1', 'Content-Type: message/feedback-report', '', 'Feedback-Type: abuse', 'User-Agent: InboxFBL/1.0', 'Version: 1',
      'Original-Rcpt-To: <angry@inbox.test>', 'Source-IP: 127.0.0.1', '',
      '--f1', 'Content-Type: text/rfc822-headers', '', `From: orders@${DOMAIN}`, 'To: angry@inbox.test', 'Subject: will be reported', '',
      '--f1--', '',
    ].join('\n');
    const replies = await report(copy.mailFrom, arf);
    assert.match(replies.data!, /^250/);
    const view = (await api('GET', `/api/v1/messages/${sent.body.id}`)).body;
    assert.ok((view.events ?? []).some((e: any) => e.type === 'message.complained'), JSON.stringify(view.events));
    assert.equal((await api('GET', '/api/v1/suppressions/transactional/angry@inbox.test')).body.reason, 'complaint');

    const ooo = await sendApi('away@inbox.test', 'out of office');
    const oooCopy = await arrived('out of office');
    const autoReply = [`From: away@inbox.test`, `To: ${oooCopy.mailFrom}`, 'Subject: Automatic reply: out of office', 'Auto-Submitted: auto-replied', '', 'I am away until Monday.', ''].join('\n');
    assert.match((await report(oooCopy.mailFrom, autoReply)).data!, /^250/);
    const oooView = (await api('GET', `/api/v1/messages/${ooo.body.id}`)).body;
    const types = (oooView.events ?? []).map((e: any) => e.type);
    assert.ok(types.includes('message.auto_replied'), types.join(','));
    assert.ok(!types.includes('message.bounced'));
    assert.equal((await api('GET', '/api/v1/suppressions/transactional/away@inbox.test')).status, 404);
  });

  it('takes an ARF report at the feedback-loop address (no VERP token), matched by the original Message-ID, and stores it with Authentication-Results', async () => {
    const sent = await sendApi('fbl-reader@inbox.test', 'reported through the loop');
    const copy = await arrived('reported through the loop');
    const messageId = /^Message-ID: (<[^>]+>)/im.exec(copy.raw.toString('latin1'))![1];
    const arf = [
      'From: FBL <fbl@inbox.test>', `To: fbl@${HOST}`, 'Subject: complaint', 'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=feedback-report; boundary="f2"', '',
      '--f2', 'Content-Type: text/plain', '', 'A complaint.', '',
      '--f2', 'Content-Type: message/feedback-report', '', 'Feedback-Type: abuse', 'User-Agent: InboxFBL/1.0', 'Version: 1', '',
      '--f2', 'Content-Type: text/rfc822-headers', '', `From: orders@${DOMAIN}`, 'To: fbl-reader@inbox.test', `Message-ID: ${messageId}`, 'Subject: reported through the loop', '',
      '--f2--', '',
    ].join('\n');
    assert.match((await report(`fbl@${HOST}`, arf)).data!, /^250/);
    const view = (await api('GET', `/api/v1/messages/${sent.body.id}`)).body;
    const complained = (view.events ?? []).find((e: any) => e.type === 'message.complained');
    assert.ok(complained, JSON.stringify(view.events));
    assert.equal((await api('GET', '/api/v1/suppressions/transactional/fbl-reader@inbox.test')).body.reason, 'complaint');
    // RFC 8601: the report as stored starts with our Authentication-Results (the sender, inbox.test, publishes nothing).
    const reportId = (complained.data ?? complained.payload).report_message_id;
    const [row] = await queryServerDb<{ body: Uint8Array }>(rig.postline, 'select body from messages where id = ?', [reportId]);
    assert.match(Buffer.from(row.body).toString('latin1'), new RegExp(`^Authentication-Results: ${HOST.replace(/\./g, '\\.')};[^]*spf=`));
  });

  it('rotates DKIM: the new selector signs once its record verifies, the old one stays published, mail verifies across the switch', async () => {
    const rotated = await api('POST', `/api/v1/domains/${domainId}/dkim/rotate`);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const pending = rotated.body.records.filter((r: any) => r.purpose === 'dkim' && r.status === 'pending');
    assert.equal(pending.length, 2);
    // Before the new record is published, mail still goes out signed with the old keys.
    await sendApi('before@inbox.test', 'before the switch');
    const before = await arrived('before the switch');
    assert.ok((await dkimVerifyPython(before.raw)).ok);
    publish(pending);
    const verified = await api('POST', `/api/v1/domains/${domainId}/verify`);
    const dkim = verified.body.records.filter((r: any) => r.purpose === 'dkim');
    assert.equal(dkim.length, 4, 'old selectors stay listed (retiring) next to the new ones');
    const state = Object.fromEntries(dkim.map((r: any) => [r.selector, r.key_status]));
    const newSelectors = pending.map((r: any) => r.selector);
    for (const sel of newSelectors) assert.equal(state[sel], 'active', JSON.stringify(state));
    assert.deepEqual(Object.entries(state).filter(([sel]) => !newSelectors.includes(sel)).map(([, st]) => st), ['retiring', 'retiring']);
    assert.ok(dkim.every((r: any) => r.status === 'ok'), 'all four records published and checked');
    // The delivery thread caches signing keys for up to a minute; a restart shows the switch now.
    await rig.postline.restart();
    const after = await sendApi('after@inbox.test', 'after the switch');
    assert.equal(after.status, 202, JSON.stringify(after.body));
    const copy = await arrived('after the switch');
    const selectors = [...copy.raw.toString('latin1').matchAll(/\bs=([^;]+);/g)].map((m) => m[1]).sort();
    assert.deepEqual(selectors, [...newSelectors].sort());
    const python = await dkimVerifyPython(copy.raw);
    assert.ok(python.ok, python.output);
    // Signing keys are cached for up to a minute in the delivery thread; the old message still verifies meanwhile.
    assert.ok((await dkimVerifyPython(before.raw)).ok, 'mail signed with the old key still verifies');
  });
});
