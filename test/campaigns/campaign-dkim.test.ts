// Issue 9 with a verified sending domain on the test DNS: a campaign message arrives at the
// sink with DKIM signatures whose h= lists List-Unsubscribe and List-Unsubscribe-Post (RFC
// 8058 §4) and List-Id, and that an independent verifier (Debian's python3-dkim) accepts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { startDeliveryRig, type DeliveryRig } from '../queue/delivery-harness.ts';

const SINK = '127.0.0.2';
const HOST = 'mta.postline.test';
const DOMAIN = 'letters.test';

let rig: DeliveryRig;
let api: (method: string, path: string, body?: unknown, type?: string) => Promise<{ status: number; body: any }>;

function dkimVerifyPython(raw: Buffer): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/python3', [join(import.meta.dirname, '..', 'helpers', 'dkim-verify.py'), String(rig.dns.port)], (err, stdout, stderr) => {
      resolve({ ok: !err, output: `${stdout}${stderr}` });
    });
    child.stdin!.end(raw);
  });
}

before(async () => {
  rig = await startDeliveryRig({
    sinks: [SINK], domains: [],
    env: { POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'true', POSTLINE_DKIM_ED25519: 'true', POSTLINE_API_KEY_RATE: '0', POSTLINE_CAMPAIGNS_TICK_INTERVAL: '100ms' },
  });
  rig.dns.addRecord(`_spf.${HOST}`, { type: 'TXT', value: 'v=spf1 ip4:127.0.0.0/8 -all' });
  rig.dns.a(HOST, '127.0.0.1');
  rig.dns.mx('inbox.test', ['mx.inbox.test']);
  rig.dns.a('mx.inbox.test', SINK);
  const key = await rig.postline.cli('key', 'create', '--tenant', 'acme', '--scopes', 'send,read,manage');
  api = async (method, path, body, type = 'application/json') => {
    const res = await fetch(`http://${rig.postline.http!.host}:${rig.postline.http!.port}${path}`, {
      method, headers: { authorization: `Bearer ${key.key}`, ...(body === undefined ? {} : { 'content-type': type }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
});

after(async () => {
  await rig?.close();
});

describe('Issue 9: campaign messages are DKIM-signed over List-Unsubscribe, List-Unsubscribe-Post and List-Id', () => {
  // Two contacts: the first message is built at expansion, the second stored as what it is
  // made from and made by the delivery thread when sent (campaigns/campaign-body.ts; which
  // one is which is asserted in campaign-body.test.ts).
  it('python3-dkim verifies the signatures and h= covers both List-Unsubscribe fields, for messages built at expansion and made when sent', async () => {
    const created = await api('POST', '/api/v1/domains', { name: DOMAIN });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    for (const r of created.body.records) rig.dns.addRecord(r.name, { type: r.type, value: r.value });
    const verified = await api('POST', `/api/v1/domains/${created.body.id}/verify`);
    assert.equal(verified.body.verified, true, JSON.stringify(verified.body));
    const list = await api('POST', '/api/v1/lists', { name: 'Readers' });
    const imported = await api('POST', `/api/v1/lists/${list.body.id}/import`, 'email,name\r\nreader@inbox.test,Reader\r\nsecond@inbox.test,Second\r\n', 'text/csv');
    assert.equal(imported.body.imported, 2);
    const body = { name: 'Letters', from: `Letters <hello@${DOMAIN}>`, subject: 'Signed letter', html: '<p>Dear {{contact.name}}, <a href="https://letters.test/read">read</a></p>', lists: [list.body.id] };
    // The API's sender cache may still hold the unverified state for a few seconds.
    let c = await api('POST', '/api/v1/campaigns', body);
    for (let i = 0; c.status === 422 && i < 40; i++) {
      await new Promise((r) => setTimeout(r, 250));
      c = await api('POST', '/api/v1/campaigns', body);
    }
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.equal((await api('POST', `/api/v1/campaigns/${c.body.id}/send`)).status, 200);
    const copies = await rig.sink(SINK).waitFor((ms) => ms.filter((m) => m.raw.includes('Subject: Signed letter\r\n')).length === 2, 20_000);
    for (const copy of copies.filter((m) => m.raw.includes('Subject: Signed letter\r\n'))) {
      const raw = copy.raw;
      const text = raw.toString('latin1');
      assert.match(text, /\r\nList-Unsubscribe: <https:\/\/mta\.postline\.test\/u\/[^>]+>,\r\n <mailto:unsubscribe\+[^@]+@pl-bounces\.letters\.test\?subject=unsubscribe>\r\n/);
      const signatures = text.match(/^DKIM-Signature:[^]*?(?=\r\n\S)/gm) ?? [];
      assert.equal(signatures.length, 2);
      for (const s of signatures) {
        const h = /h=([^;]+);/.exec(s.replace(/\r\n\s+/g, ''))![1].toLowerCase().split(':');
        for (const name of ['list-unsubscribe', 'list-unsubscribe-post', 'list-id']) assert.ok(h.includes(name), `h= lacks ${name}: ${h.join(':')}`);
      }
      const python = await dkimVerifyPython(raw);
      assert.ok(python.ok, python.output);
      assert.match(python.output, /rsa-sha256 pass/);
      assert.match(python.output, /ed25519-sha256 pass/);
    }
  });
});
