import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi } from '../api-test-app.ts';
import { startDnsServer, type TestDnsServer } from '../../helpers/dns-server.ts';

describe('domains: /api/v1/domains', () => {
  let api: TestApi;
  let dns: TestDnsServer;
  before(async () => {
    dns = await startDnsServer();
    api = await startTestApi({ env: { POSTLINE_DNS_SERVERS: dns.address, POSTLINE_HOSTNAME: 'mta.postline.test' } });
  });
  after(async () => {
    await api.close();
    await dns.close();
  });
  const publish = (records: Array<{ name: string; type: 'TXT' | 'CNAME'; value: string }>) => {
    for (const r of records) dns.addRecord(r.name, { type: r.type, value: r.value });
  };

  it('adds a domain (201) in lower-case A-label form; adding it again is 200 with the same object', async () => {
    const t = await api.tenant();
    const res = await t.client.request('POST', '/api/v1/domains', { name: 'Bücher.Example' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.name, 'xn--bcher-kva.example');
    assert.equal(res.body.verified, false);
    const again = await t.client.request('POST', '/api/v1/domains', { name: 'xn--bcher-kva.example.' });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, res.body.id);
    assert.deepEqual((await t.client.request('GET', '/api/v1/domains')).body.data.map((d: { id: string }) => d.id), [res.body.id]);
  });

  it("answers 409 for another tenant's domain and 422 for an IP literal", async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    assert.equal((await a.client.request('POST', '/api/v1/domains', { name: 'taken.example' })).status, 201);
    const res = await b.client.request('POST', '/api/v1/domains', { name: 'taken.example' });
    assert.ok(isProblem(res, 409));
    assert.equal(res.body.errors[0].pointer, '/name');
    assert.ok(isProblem(await b.client.request('POST', '/api/v1/domains', { name: '127.0.0.1' }), 422));
  });

  it('removes a domain (204); again is 404', async () => {
    const t = await api.tenant();
    const d = (await t.client.request('POST', '/api/v1/domains', { name: 'gone.example' })).body;
    assert.equal((await t.client.request('DELETE', `/api/v1/domains/${d.id}`)).status, 204);
    assert.ok(isProblem(await t.client.request('DELETE', `/api/v1/domains/${d.id}`), 404));
    assert.deepEqual((await t.client.request('GET', '/api/v1/domains')).body.data, []);
    assert.deepEqual(await api.store.db.selectFrom('dkim_keys').select('id').where('domain_id', '=', d.id).execute(), [], 'its DKIM keys go with it');
  });

  it('answers the records to publish: FQDNs without the final dot, exact values, status pending, no private key', async () => {
    const t = await api.tenant();
    const res = await t.client.request('POST', '/api/v1/domains', { name: 'records.example' });
    assert.equal(res.status, 201, res.text);
    const selector = res.body.dkim_keys[0].selector;
    assert.match(selector, /^pl\d{8}r$/);
    assert.deepEqual(res.body.records.map((r: any) => [r.purpose, r.type, r.name, r.status]), [
      ['ownership', 'TXT', 'records.example', 'pending'],
      ['dkim', 'TXT', `${selector}._domainkey.records.example`, 'pending'],
      ['spf', 'TXT', 'records.example', 'pending'],
      ['dmarc', 'TXT', '_dmarc.records.example', 'pending'],
      ['return_path', 'CNAME', 'pl-bounces.records.example', 'pending'],
    ]);
    assert.equal(res.body.records[2].value, 'v=spf1 include:_spf.mta.postline.test ~all');
    assert.equal(res.body.records[4].value, 'mta.postline.test');
    assert.ok(!/PRIVATE|private_key/.test(res.text));
    const one = await t.client.request('GET', `/api/v1/domains/${res.body.id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, res.body);
    const list = await t.client.request('GET', '/api/v1/domains');
    assert.deepEqual(list.body.data, [res.body]);
  });

  it('POST /verify: published records are ok and the domain verified (audited domain.verified); a wrong DKIM key is reported precisely', async () => {
    const t = await api.tenant();
    const d = (await t.client.request('POST', '/api/v1/domains', { name: 'verify.example' })).body;
    const other = (await t.client.request('POST', '/api/v1/domains', { name: 'other-key.example' })).body;
    const dkim = d.records[1];
    publish(d.records.filter((r: any) => r.purpose !== 'dkim'));
    dns.addRecord(dkim.name, { type: 'TXT', value: other.records[1].value });
    let res = await t.client.request('POST', `/api/v1/domains/${d.id}/verify`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.verified, false);
    assert.equal(res.body.records[1].status, 'wrong');
    assert.deepEqual(res.body.records[1].found, [other.records[1].value]);
    assert.match(res.body.records[1].warning, /the published p= differs from this selector's key/);
    assert.deepEqual(res.body.records.map((r: any) => r.status), ['ok', 'wrong', 'ok', 'ok', 'ok']);

    dns.removeName(dkim.name);
    publish([dkim]);
    res = await t.client.request('POST', `/api/v1/domains/${d.id}/verify`);
    assert.equal(res.body.verified, true);
    assert.equal(res.body.return_path_ok, true);
    assert.deepEqual(res.body.records.map((r: any) => r.status), ['ok', 'ok', 'ok', 'ok', 'ok']);
    const log = await api.admin.request('GET', `/api/v1/audit-log?tenant_id=${t.id}&action=domain.verified`);
    assert.deepEqual(log.body.data.map((e: any) => [e.target, e.actor.key_id]), [[d.id, t.keyId]]);
    const events = await t.client.request('GET', '/api/v1/events?type=domain.verified');
    assert.deepEqual(events.body.data.map((e: any) => [e.data.domain, e.message_id]), [['verify.example', null]]);
  });

  it('POST /dkim/rotate adds a pending DKIM record; once it verifies it signs and the old one is retiring, still listed', async () => {
    const t = await api.tenant();
    const d = (await t.client.request('POST', '/api/v1/domains', { name: 'rotate.example' })).body;
    publish(d.records);
    assert.equal((await t.client.request('POST', `/api/v1/domains/${d.id}/verify`)).body.verified, true);
    const rotated = await t.client.request('POST', `/api/v1/domains/${d.id}/dkim/rotate`);
    assert.equal(rotated.status, 200, rotated.text);
    const dkim = rotated.body.records.filter((r: any) => r.purpose === 'dkim');
    assert.deepEqual(dkim.map((r: any) => [r.key_status, r.status]), [['active', 'ok'], ['pending', 'pending']]);
    assert.match(dkim[1].selector, /^pl\d{8}r2$/);
    publish([dkim[1]]);
    const after = await t.client.request('POST', `/api/v1/domains/${d.id}/verify`);
    assert.deepEqual(after.body.records.filter((r: any) => r.purpose === 'dkim').map((r: any) => [r.selector, r.key_status, r.status]),
      [[dkim[1].selector, 'active', 'ok'], [dkim[0].selector, 'retiring', 'ok']]);
    const retiring = after.body.dkim_keys.find((k: any) => k.status === 'retiring');
    assert.equal(Date.parse(retiring.retire_at) - Date.parse(after.body.checked_at), 7 * 86_400_000);
    const log = await api.admin.request('GET', `/api/v1/audit-log?tenant_id=${t.id}&action=domain.dkim_rotated`);
    assert.equal(log.body.data.length, 1);
  });

  it('needs the manage scope to verify or rotate (403 with a read key) and answers 404 for an unknown id', async () => {
    const owner = await api.tenant();
    const d = (await owner.client.request('POST', '/api/v1/domains', { name: 'scoped.example' })).body;
    const reader = api.client((await owner.client.request('POST', '/api/v1/keys', { name: 'r', scopes: ['read'] })).body.key);
    assert.equal((await reader.request('GET', `/api/v1/domains/${d.id}`)).status, 200);
    assert.ok(isProblem(await reader.request('POST', `/api/v1/domains/${d.id}/verify`), 403));
    assert.ok(isProblem(await reader.request('POST', `/api/v1/domains/${d.id}/dkim/rotate`), 403));
    assert.ok(isProblem(await owner.client.request('POST', '/api/v1/domains/dom_nope/verify'), 404));
  });
});
