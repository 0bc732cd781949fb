// RFC 8461 MTA-STS, end to end: policies served by a local HTTPS server with a certificate
// from a test CA (tls_policy.ca_file, tls_policy.mta_sts_port), discovered through the test
// DNS, applied to MX hosts on 127.0.0.31 (a certificate from the test CA) and 127.0.0.32 (the
// sinks' self-signed one).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { leaf, testCa } from '../helpers/test-ca.ts';
import { startDeliveryRig, type DeliveryRig } from '../queue/delivery-harness.ts';
import { MtaStsPolicies } from '../../src/delivery/mta-sts.ts';

const POLICY_HOST = '127.0.0.30';
const GOOD_MX = '127.0.0.31';
const SELF_SIGNED_MX = '127.0.0.32';

const POLICIES: Record<string, string> = {
  'good.test': 'version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n',
  'bad.test': 'version: STSv1\nmode: enforce\nmx: *.bad.test\nmax_age: 86400\n',
  'testing.test': 'version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 86400\n',
  'unlisted.test': 'version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 86400\n',
};

let rig: DeliveryRig;
let policyServer: https.Server;
let goodMx: SMTPServer;
const goodMessages: Array<{ rcptTo: string[]; secure: boolean }> = [];

before(async () => {
  const ca = await testCa();
  const dir = mkdtempSync(join(tmpdir(), 'postline-sts-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.cert);
  const policyCert = await leaf(ca, Object.keys(POLICIES).map((d) => `mta-sts.${d}`));
  policyServer = https.createServer({ ...policyCert }, (req, res) => {
    const domain = (req.headers.host ?? '').replace(/^mta-sts\./, '').replace(/:\d+$/, '');
    const body = req.url === '/.well-known/mta-sts.txt' ? POLICIES[domain] : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve) => policyServer.listen(0, POLICY_HOST, resolve));
  rig = await startDeliveryRig({
    sinks: [SELF_SIGNED_MX],
    domains: ['acme.test'],
    env: {
      POSTLINE_MTA_STS_PORT: String((policyServer.address() as AddressInfo).port),
      POSTLINE_TLS_POLICY_CA_FILE: caFile,
    },
  });
  const mxCert = await leaf(ca, ['mx.good.test']);
  goodMx = new SMTPServer({
    ...mxCert, name: 'mx.good.test', logger: false, authOptional: true, disableReverseLookup: true,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        goodMessages.push({ rcptTo: session.envelope.rcptTo.map((r) => r.address), secure: session.secure });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => goodMx.listen(rig.port, GOOD_MX, resolve));
  for (const domain of Object.keys(POLICIES)) {
    rig.dns.addRecord(`_mta-sts.${domain}`, { type: 'TXT', value: 'v=STSv1; id=20260302T1;' });
    rig.dns.a(`mta-sts.${domain}`, POLICY_HOST);
  }
  rig.dns.mx('good.test', ['mx.good.test']);
  rig.dns.a('mx.good.test', GOOD_MX);
  for (const domain of ['bad.test', 'testing.test', 'unlisted.test']) {
    rig.dns.mx(domain, [`mx.${domain}`]);
    rig.dns.a(`mx.${domain}`, SELF_SIGNED_MX);
  }
});

after(async () => {
  await rig?.close();
  await new Promise<void>((resolve) => (goodMx ? goodMx.close(() => resolve()) : resolve()));
  policyServer?.closeAllConnections();
  await new Promise<void>((resolve) => (policyServer ? policyServer.close(() => resolve()) : resolve()));
});

const settled = (view: { recipients: Array<{ state: string }>; events: Array<{ type: string }> }) =>
  view.recipients.every((r) => r.state === 'delivered') || view.events.some((e) => e.type === 'message.deferred');

describe('RFC 8461 MTA-STS mode enforce', () => {
  it('delivers to an MX host with a valid certificate from the trusted test CA, and says so in the event', async () => {
    const id = await rig.send({ from: 'app@acme.test', to: 'ann@good.test' });
    const view = await rig.waitFor(id, settled);
    assert.equal(view.recipients[0].state, 'delivered', JSON.stringify(view.events.at(-1)));
    const event = view.events.find((e) => e.type === 'message.delivered')!.data;
    assert.deepEqual(event.mta_sts, { mode: 'enforce', policy_id: '20260302T1', result: 'verified' });
    assert.equal(event.tls_outcome, 'starttls-verified');
    assert.ok(goodMessages.some((m) => m.rcptTo.includes('ann@good.test') && m.secure));
  });

  it('refuses an MX host whose certificate is not valid: deferred with 4.7.5 and a reason naming the certificate, nothing sent', async () => {
    const before = rig.sink(SELF_SIGNED_MX).messages.length;
    const id = await rig.send({ from: 'app@acme.test', to: 'bob@bad.test' });
    const view = await rig.waitFor(id, settled);
    const event = view.events.find((e) => e.type === 'message.deferred')!.data;
    assert.match(event.response, /MTA-STS/);
    assert.match(event.response, /mx\.bad\.test/);
    assert.match(event.response, /certificate/i);
    assert.equal(event.enhanced, '4.7.5');
    assert.equal(event.mta_sts.result, 'failed');
    assert.equal(rig.sink(SELF_SIGNED_MX).messages.length, before, 'nothing was sent to the refused host');
  });

  it('defers when the policy lists none of the domain\'s MX hosts', async () => {
    const id = await rig.send({ from: 'app@acme.test', to: 'cy@unlisted.test' });
    const view = await rig.waitFor(id, settled);
    const event = view.events.find((e) => e.type === 'message.deferred')!.data;
    assert.match(event.response, /lists none of its MX hosts \(mx\.unlisted\.test\)/);
    assert.equal(event.enhanced, '4.7.5');
  });
});

describe('RFC 8461 MTA-STS mode testing', () => {
  it('delivers to an MX host with an invalid certificate and reports the failure in the event', async () => {
    const id = await rig.send({ from: 'app@acme.test', to: 'dee@testing.test' });
    const view = await rig.waitFor(id, settled);
    assert.equal(view.recipients[0].state, 'delivered');
    const event = view.events.find((e) => e.type === 'message.delivered')!.data;
    assert.equal(event.mta_sts.mode, 'testing');
    assert.equal(event.mta_sts.result, 'failed');
    assert.match(event.mta_sts.failure, /certificate of mx\.testing\.test not valid/);
  });
});

describe('MTA-STS MX matching (mailauth validateMx)', () => {
  const policy = { id: '1', mode: 'enforce' as const, mx: ['mx.example.com', '*.example.net'], maxAge: 1, fetchedAt: 0, expiresAt: 1 };
  it('matches exact names and one left-most label of a wildcard, not deeper ones', () => {
    assert.equal(MtaStsPolicies.allows(policy, 'mx.example.com.'), true);
    assert.equal(MtaStsPolicies.allows(policy, 'mx1.example.net'), true);
    assert.equal(MtaStsPolicies.allows(policy, 'a.b.example.net'), false);
    assert.equal(MtaStsPolicies.allows(policy, 'mx.example.org'), false);
  });
});
