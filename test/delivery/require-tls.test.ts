// RFC 8689 end to end (ingress side: test/ingress/require-tls.test.ts): a message submitted
// with REQUIRETLS is honoured on delivery: verified TLS to an MX that advertises REQUIRETLS, which
// then sees REQUIRETLS on MAIL FROM; anything less bounces with 550 5.7.30. And the
// `TLS-Required: No` header field, which waives an MTA-STS `enforce` policy.
// MX hosts: 127.0.0.41 (certificate from a test CA, REQUIRETLS advertised), 127.0.0.43
// (certificate from the test CA, REQUIRETLS hidden), 127.0.0.42 (the sink's self-signed one).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { leaf, testCa, type Pem } from '../helpers/test-ca.ts';
import { startDeliveryRig, type DeliveryRig, type MessageView } from '../queue/delivery-harness.ts';
import { connectSmtp } from '../helpers/smtp-talk.ts';

const POLICY_HOST = '127.0.0.40';
const GOOD_MX = '127.0.0.41';
const SELF_SIGNED_MX = '127.0.0.42';
const NO_REQUIRETLS_MX = '127.0.0.43';

interface Seen { rcptTo: string[]; secure: boolean; requireTls: boolean }

// An MX with a certificate from the test CA; `requireTls: false` hides the extension.
async function startMx(host: string, port: number, cert: Pem, name: string, requireTls: boolean, seen: Seen[]): Promise<SMTPServer> {
  const server = new SMTPServer({
    ...cert, name, logger: false, authOptional: true, disableReverseLookup: true, hideREQUIRETLS: !requireTls,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        seen.push({ rcptTo: session.envelope.rcptTo.map((r) => r.address), secure: session.secure, requireTls: session.envelope.requireTLS === true });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}

let rig: DeliveryRig;
let policyServer: https.Server;
const servers: SMTPServer[] = [];
const goodSeen: Seen[] = [];
const plainSeen: Seen[] = [];

before(async () => {
  const ca = await testCa();
  const dir = mkdtempSync(join(tmpdir(), 'postline-requiretls-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.cert);
  // One leaf for every name (RSA key generation is the slow part of this file's setup).
  const cert = await leaf(ca, ['mta-sts.waiver.test', 'mx.secure.test', 'mx.plain.test']);
  policyServer = https.createServer({ ...cert }, (req, res) => {
    if (req.url !== '/.well-known/mta-sts.txt') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end('version: STSv1\nmode: enforce\nmx: mx.waiver.test\nmax_age: 86400\n');
  });
  await new Promise<void>((resolve) => policyServer.listen(0, POLICY_HOST, resolve));
  rig = await startDeliveryRig({
    sinks: [SELF_SIGNED_MX],
    domains: ['acme.test'],
    env: { POSTLINE_MTA_STS_PORT: String((policyServer.address() as AddressInfo).port), POSTLINE_TLS_POLICY_CA_FILE: caFile },
  });
  servers.push(await startMx(GOOD_MX, rig.port, cert, 'mx.secure.test', true, goodSeen));
  servers.push(await startMx(NO_REQUIRETLS_MX, rig.port, cert, 'mx.plain.test', false, plainSeen));
  const zone: Array<[string, string]> = [['acme.test', SELF_SIGNED_MX], ['secure.test', GOOD_MX], ['plain.test', NO_REQUIRETLS_MX], ['selfsigned.test', SELF_SIGNED_MX], ['waiver.test', SELF_SIGNED_MX]];
  for (const [domain, address] of zone) {
    rig.dns.mx(domain, [`mx.${domain}`]);
    rig.dns.a(`mx.${domain}`, address);
  }
  rig.dns.addRecord('_mta-sts.waiver.test', { type: 'TXT', value: 'v=STSv1; id=20261127T1;' });
  rig.dns.a('mta-sts.waiver.test', POLICY_HOST);
});

after(async () => {
  await rig?.close();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  policyServer?.closeAllConnections();
  await new Promise<void>((resolve) => (policyServer ? policyServer.close(() => resolve()) : resolve()));
});

/** Submits over STARTTLS + AUTH with our wire client; `requireTls` adds the MAIL FROM parameter. */
async function submit(to: string, o: { requireTls?: boolean; headers?: string } = {}): Promise<string> {
  const p = rig.postline;
  const t = await connectSmtp({ host: p.smtp.host, port: p.smtp.port });
  try {
    await t.ehlo();
    await t.startTls();
    await t.ehlo();
    assert.equal((await t.authPlain(p.credential!.username, p.credential!.password)).code, 235);
    const mail = await t.send(`MAIL FROM:<app@acme.test>${o.requireTls ? ' REQUIRETLS' : ''}`);
    assert.equal(mail.code, 250, mail.last);
    assert.equal((await t.send(`RCPT TO:<${to}>`)).code, 250);
    const body = `From: app@acme.test\r\nTo: ${to}\r\nSubject: requiretls\r\nMessage-ID: <${Date.now()}.${Math.random()}@acme.test>\r\n${o.headers ?? ''}\r\nHello over TLS.\r\n`;
    const done = await t.data(body);
    const id = /queued as (\S+)/.exec(done.last)?.[1];
    assert.ok(id, done.last);
    return id;
  } finally {
    await t.send('QUIT').catch(() => undefined);
    t.close();
  }
}

const settled = (view: MessageView) =>
  view.recipients.every((r) => r.state === 'delivered' || r.state === 'bounced') || view.events.some((e) => e.type === 'message.deferred');

describe('RFC 8689 §4.2.1 REQUIRETLS on delivery', () => {
  it('delivers over verified TLS to an MX that advertises REQUIRETLS, which sees REQUIRETLS on MAIL FROM', async () => {
    const id = await submit('ann@secure.test', { requireTls: true });
    const view = await rig.waitFor(id, settled);
    assert.equal(view.recipients[0].state, 'delivered', JSON.stringify(view.events.at(-1)));
    const event = view.events.find((e) => e.type === 'message.delivered')!.data;
    assert.equal(event.tls_outcome, 'starttls-verified');
    const seen = goodSeen.find((m) => m.rcptTo.includes('ann@secure.test'));
    assert.ok(seen, 'the MX got the message');
    assert.equal(seen.secure, true);
    assert.equal(seen.requireTls, true, 'MAIL FROM carried REQUIRETLS');
  });

  it('sends mail without REQUIRETLS there without the parameter', async () => {
    const id = await submit('bo@secure.test');
    await rig.waitFor(id, settled);
    const seen = goodSeen.find((m) => m.rcptTo.includes('bo@secure.test'));
    assert.equal(seen?.requireTls, false);
  });

  it('bounces with 550 5.7.30 when the MX has a valid certificate but does not advertise REQUIRETLS, and the sender gets a DSN', async () => {
    const id = await submit('cy@plain.test', { requireTls: true });
    const view = await rig.waitFor(id, settled);
    assert.equal(view.recipients[0].state, 'bounced', JSON.stringify(view.events.at(-1)));
    const event = view.events.find((e) => e.type === 'message.bounced')!.data;
    assert.equal(event.code, 550);
    assert.equal(event.enhanced, '5.7.30');
    assert.match(event.response, /REQUIRETLS support required/);
    assert.equal(plainSeen.length, 0, 'nothing was sent to the MX');
    // RFC 8689 §5: a non-delivery notification as for other bounces (itself without REQUIRETLS).
    // acme.test's MX is the self-signed sink: the DSN gets there, so it is not REQUIRETLS-flagged.
    const dsns = await rig.sink(SELF_SIGNED_MX).waitFor((all) => all.some((m) => m.mailFrom === '' && m.rcptTo.includes('app@acme.test')), 15_000);
    const dsn = dsns.find((m) => m.mailFrom === '' && m.rcptTo.includes('app@acme.test'))!;
    assert.match(dsn.raw.toString(), /5\.7\.30/);
  });

  it('bounces with 550 5.7.30 when the MX certificate does not verify (self-signed), never falling back to plaintext', async () => {
    const id = await submit('dee@selfsigned.test', { requireTls: true });
    const view = await rig.waitFor(id, settled);
    assert.equal(view.recipients[0].state, 'bounced', JSON.stringify(view.events.at(-1)));
    const event = view.events.find((e) => e.type === 'message.bounced')!.data;
    assert.equal(event.enhanced, '5.7.30');
    assert.match(event.response, /^550 5\.7\.30 REQUIRETLS support required: .*certificate/i);
    assert.ok(!rig.sink(SELF_SIGNED_MX).messages.some((m) => m.rcptTo.includes('dee@selfsigned.test')), 'nothing was sent');
  });
});

describe('RFC 8689 §5 TLS-Required: No', () => {
  it('delivers where MTA-STS enforce would defer (self-signed MX), recording the waiver in mta_sts and tls_outcome', async () => {
    const id = await submit('eve@waiver.test', { headers: 'TLS-Required: No\r\n' });
    const view = await rig.waitFor(id, settled);
    assert.equal(view.recipients[0].state, 'delivered', JSON.stringify(view.events.at(-1)));
    const event = view.events.find((e) => e.type === 'message.delivered')!.data;
    assert.equal(event.mta_sts.result, 'ignored');
    assert.match(event.tls_outcome, /TLS-Required: No/);
  });

  it('still defers without the header field (the policy holds)', async () => {
    const id = await submit('fay@waiver.test');
    const view = await rig.waitFor(id, settled);
    const event = view.events.find((e) => e.type === 'message.deferred')!.data;
    assert.equal(event.enhanced, '4.7.5');
  });
});
