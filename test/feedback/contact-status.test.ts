// Issue 9: a contact's status follows the suppression list at once, in the transaction that
// changes the list, whoever changes it: an asynchronous hard bounce or an ARF complaint at a
// campaign message's VERP return path (over SMTP to the MX listener of a real Postline), the
// API (JSON and CSV) and the CLI. Removing a bounce or complaint entry (the operator clearing
// it) gives the contact back the status of what is left on the list, or `subscribed`; an
// unsubscribed contact stays unsubscribed whatever is added or removed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryRig, type DeliveryRig } from '../queue/delivery-harness.ts';
import { connectSmtp, dotStuff } from '../helpers/smtp-talk.ts';
import { apiCall } from '../helpers/api-call.ts';

const SINK = '127.0.0.2';
const HOST = 'mta.postline.test';
const DOMAIN = 'acme.test';
const RCPT_DOMAIN = 'rcpt.test';

let rig: DeliveryRig;
let key: string;

const api = (method: string, path: string, body?: unknown, contentType?: string) =>
  apiCall(`http://${rig.postline.http!.host}:${rig.postline.http!.port}`, key, method, path, body, contentType);

async function status(local: string): Promise<string> {
  const email = `${local}@${RCPT_DOMAIN}`;
  const r = await api('GET', `/api/v1/contacts?q=${encodeURIComponent(email)}`);
  assert.equal(r.status, 200, r.text);
  return r.body.data.find((c: { email: string }) => c.email === email).status;
}

async function suppress(stream: string, local: string, reason: string): Promise<void> {
  const r = await api('POST', '/api/v1/suppressions', { stream, entries: [{ address: `${local}@${RCPT_DOMAIN}`, reason }] });
  assert.equal(r.status, 200, r.text);
}

async function unsuppress(stream: string, local: string): Promise<void> {
  const r = await api('DELETE', `/api/v1/suppressions/${stream}/${encodeURIComponent(`${local}@${RCPT_DOMAIN}`)}`);
  assert.equal(r.status, 204, r.text);
}

/** Mails `raw` from a remote MTA (null sender) to `rcpt` on the MX listener; answers the final reply. */
async function report(rcpt: string, raw: string): Promise<string> {
  const talk = await connectSmtp({ host: rig.postline.mx.host, port: rig.postline.mx.port, localAddress: '127.0.0.9' });
  try {
    await talk.ehlo('mx.rcpt.test');
    await talk.send('MAIL FROM:<>');
    const r = await talk.send(`RCPT TO:<${rcpt}>`);
    assert.equal(r.code, 250, r.last);
    await talk.send('DATA');
    talk.write(dotStuff(raw.replace(/\r?\n/g, '\r\n')));
    talk.write('.\r\n');
    return (await talk.read()).last;
  } finally {
    await talk.send('QUIT').catch(() => undefined);
  }
}

function dsn(to: string, rcpt: string): string {
  return [
    'From: Mail Delivery System <MAILER-DAEMON@mx.rcpt.test>', `To: ${to}`, 'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0', 'Auto-Submitted: auto-replied', 'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain', '', 'Your message could not be delivered.', '',
    '--b1', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.rcpt.test', '',
    `Final-Recipient: rfc822; ${rcpt}`, 'Action: failed', 'Status: 5.1.1', `Diagnostic-Code: smtp; 550 5.1.1 <${rcpt}>: User unknown`, '',
    '--b1--', '',
  ].join('\n');
}

function arf(to: string, rcpt: string): string {
  return [
    'From: FBL <fbl@rcpt.test>', `To: ${to}`, 'Subject: FW: report', 'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="f1"', '',
    '--f1', 'Content-Type: text/plain', '', 'This is an abuse report.', '',
    '--f1', 'Content-Type: message/feedback-report', '', 'Feedback-Type: abuse', 'User-Agent: InboxFBL/1.0', 'Version: 1',
    `Original-Rcpt-To: <${rcpt}>`, 'Source-IP: 127.0.0.1', '',
    '--f1', 'Content-Type: text/rfc822-headers', '', `From: news@${DOMAIN}`, `To: ${rcpt}`, 'Subject: status news', '',
    '--f1--', '',
  ].join('\n');
}

before(async () => {
  rig = await startDeliveryRig({
    sinks: [SINK], domains: [DOMAIN],
    env: { POSTLINE_API_KEY_RATE: '0', POSTLINE_CAMPAIGNS_TICK_INTERVAL: '100ms', POSTLINE_CAMPAIGNS_PUBLIC_URL: 'http://links.acme.test', POSTLINE_FEEDBACK_VERP: 'true', POSTLINE_LOG_LEVEL: 'warn' },
  });
  rig.dns.mx(RCPT_DOMAIN, ['mx.rcpt.test']);
  rig.dns.a('mx.rcpt.test', SINK);
  rig.dns.a(HOST, '127.0.0.1');
  key = (await rig.postline.cli('key', 'create', '--tenant', 'acme', '--scopes', 'send,read,manage')).key;
  // VERP return paths need the domain's return-path host verified: publish its records.
  const domain = (await api('GET', '/api/v1/domains')).body.data.find((d: { name: string }) => d.name === DOMAIN);
  const shown = await api('GET', `/api/v1/domains/${domain.id}`);
  for (const r of shown.body.records as Array<{ name: string; type: string; value: string }>) rig.dns.addRecord(r.name, { type: r.type as 'TXT' | 'CNAME', value: r.value });
  const verified = await api('POST', `/api/v1/domains/${domain.id}/verify`);
  assert.equal(verified.status, 200, verified.text);
  const rp = verified.body.records.find((r: { purpose: string }) => r.purpose === 'return_path');
  assert.equal(rp.status, 'ok', JSON.stringify(verified.body.records));
  // The contacts: cs0 … cs7, on one list.
  const l = await api('POST', '/api/v1/lists', { name: 'Status' });
  assert.equal(l.status, 201, l.text);
  let csv = 'email,name\n';
  for (let i = 0; i < 8; i++) csv += `cs${i}@${RCPT_DOMAIN},P${i}\n`;
  const imported = await api('POST', `/api/v1/lists/${l.body.id}/import`, csv, 'text/csv');
  assert.equal(imported.status, 200, imported.text);
  assert.equal(imported.body.imported, 8);
});

after(async () => {
  await rig?.close();
});

describe('Issue 9: contact status in step with the suppression list', () => {
  it('a hard bounce and an ARF complaint at a campaign message\'s VERP return path make the contact bounced / complained before the 250; removing the entry makes it subscribed again', async () => {
    const list = (await api('GET', '/api/v1/lists')).body.data.find((x: { name: string }) => x.name === 'Status').id;
    const c = await api('POST', '/api/v1/campaigns', { name: 'status news', from: `News <news@${DOMAIN}>`, subject: 'status news', text: 'Hello {{contact.name}}', lists: [list], rate_per_minute: 6000 });
    assert.equal(c.status, 201, c.text);
    assert.equal((await api('POST', `/api/v1/campaigns/${c.body.id}/send`)).status, 200);
    const got = await rig.sink(SINK).waitFor((ms) => ms.filter((m) => m.raw.includes('Subject: status news\r\n')).length >= 8, 20_000);
    const returnPath = (local: string) => got.find((m) => m.rcptTo[0] === `${local}@${RCPT_DOMAIN}`)!.mailFrom;
    assert.match(returnPath('cs0'), /^pl-bounces\+[0-9a-z]+-[0-9a-f]{16}@pl-bounces\.acme\.test$/);

    assert.match(await report(returnPath('cs0'), dsn(returnPath('cs0'), `cs0@${RCPT_DOMAIN}`)), /^250 /);
    assert.equal(await status('cs0'), 'bounced');
    assert.equal((await api('GET', `/api/v1/suppressions/broadcast/cs0%40${RCPT_DOMAIN}`)).body.reason, 'hard_bounce');
    assert.match(await report(returnPath('cs1'), arf(returnPath('cs1'), `cs1@${RCPT_DOMAIN}`)), /^250 /);
    assert.equal(await status('cs1'), 'complained');
    assert.equal(await status('cs2'), 'subscribed');

    await unsuppress('broadcast', 'cs0');
    assert.equal(await status('cs0'), 'subscribed');
    await unsuppress('broadcast', 'cs1');
    assert.equal(await status('cs1'), 'subscribed');
  });

  it('entries added through the API take the status of their reason (the stronger one when merged); a manual entry is no status', async () => {
    await suppress('broadcast', 'cs2', 'hard_bounce');
    assert.equal(await status('cs2'), 'bounced');
    await suppress('broadcast', 'cs2', 'complaint');
    assert.equal(await status('cs2'), 'complained');
    await suppress('broadcast', 'cs2', 'hard_bounce');
    assert.equal(await status('cs2'), 'complained', 'the merged entry stays a complaint');
    await suppress('transactional', 'cs3', 'manual');
    assert.equal(await status('cs3'), 'subscribed');
    await suppress('broadcast', 'cs4', 'unsubscribe');
    assert.equal(await status('cs4'), 'unsubscribed');
    await unsuppress('broadcast', 'cs2');
    assert.equal(await status('cs2'), 'subscribed');
  });

  it('removing one stream\'s entry leaves the status of the other stream\'s entry', async () => {
    await suppress('transactional', 'cs5', 'hard_bounce');
    await suppress('broadcast', 'cs5', 'complaint');
    assert.equal(await status('cs5'), 'complained');
    await unsuppress('broadcast', 'cs5');
    assert.equal(await status('cs5'), 'bounced');
    await unsuppress('transactional', 'cs5');
    assert.equal(await status('cs5'), 'subscribed');
  });

  it('an unsubscribed contact stays unsubscribed: a later bounce or complaint and its removal, or removing the unsubscribe entry, never subscribe it again', async () => {
    await unsuppress('broadcast', 'cs4');
    assert.equal(await status('cs4'), 'unsubscribed', 'only the contact itself (PATCH) subscribes it again');
    await suppress('broadcast', 'cs4', 'complaint');
    assert.equal(await status('cs4'), 'unsubscribed');
    await unsuppress('broadcast', 'cs4');
    assert.equal(await status('cs4'), 'unsubscribed');
  });

  it('CSV import and the CLI keep contacts in step too', async () => {
    const r = await api('POST', '/api/v1/suppressions/import?stream=broadcast', `address,reason\ncs6@${RCPT_DOMAIN},hard_bounce\ncs7@${RCPT_DOMAIN},complaint\n`, 'text/csv');
    assert.equal(r.status, 200, r.text);
    assert.equal(await status('cs6'), 'bounced');
    assert.equal(await status('cs7'), 'complained');
    await rig.postline.cli('suppression', 'remove', `cs6@${RCPT_DOMAIN}`, '--tenant', 'acme', '--stream', 'broadcast');
    assert.equal(await status('cs6'), 'subscribed');
    await rig.postline.cli('suppression', 'add', `cs3@${RCPT_DOMAIN}`, '--tenant', 'acme', '--stream', 'broadcast', '--reason', 'hard_bounce');
    assert.equal(await status('cs3'), 'bounced');
  });
});
