import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { listDkimKeys, listEventsPage } from '../../src/store/index.ts';
import { createDomain, domainView, rotateDkim, verifyDomain, type DomainContext, type DomainView } from '../../src/domains/index.ts';
import { startDomainFixture, type DomainFixture } from './domain-fixture.ts';

let seq = 0;

describe('sending domains: records, verification, rotation (src/domains)', () => {
  let f: DomainFixture;
  before(async () => {
    f = await startDomainFixture();
  });
  after(() => f.close());
  beforeEach(() => {
    f.dns.reset();
    f.clock = Date.parse('2026-11-27T12:00:00Z');
  });

  async function add(ctx: DomainContext = f.ctx, name = `d${++seq}.example`): Promise<DomainView> {
    const { domain } = await createDomain(ctx, f.tenantId, name);
    return domainView(domain, await listDkimKeys(f.store.db, domain.id), ctx.settings);
  }
  async function verify(view: DomainView, ctx: DomainContext = f.ctx): Promise<DomainView> {
    const row = (await f.store.db.selectFrom('domains').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow());
    const result = await verifyDomain(ctx, row);
    return domainView(result.domain, result.keys, ctx.settings);
  }
  const record = (view: DomainView, purpose: string, n = 0) => view.records.filter((r) => r.purpose === purpose)[n];
  async function events(type: string) {
    return listEventsPage(f.store.db, f.tenantId, { types: [type] }, { limit: 1000 });
  }

  it('suggests ownership, DKIM (RSA 2048), SPF include, DMARC p=none and the return-path CNAME with exact values, all pending', async () => {
    const view = await add(f.ctx, 'Records.EXAMPLE');
    assert.equal(view.name, 'records.example');
    assert.equal(view.verified, false);
    assert.deepEqual(view.records.map((r) => [r.purpose, r.type, r.name, r.status]), [
      ['ownership', 'TXT', 'records.example', 'pending'],
      ['dkim', 'TXT', 'pl20261127r._domainkey.records.example', 'pending'],
      ['spf', 'TXT', 'records.example', 'pending'],
      ['dmarc', 'TXT', '_dmarc.records.example', 'pending'],
      ['return_path', 'CNAME', 'pl-bounces.records.example', 'pending'],
    ]);
    assert.match(record(view, 'ownership').value, /^postline-verification=[0-9a-f]{32}$/);
    const dkim = /^v=DKIM1; k=rsa; p=([A-Za-z0-9+/=]+)$/.exec(record(view, 'dkim').value);
    assert.ok(dkim, record(view, 'dkim').value);
    const key = createPublicKey({ key: Buffer.from(dkim[1], 'base64'), format: 'der', type: 'spki' });
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(record(view, 'spf').value, 'v=spf1 include:_spf.mta.postline.test ~all');
    assert.equal(record(view, 'dmarc').value, 'v=DMARC1; p=none; rua=mailto:dmarc-reports@mta.postline.test');
    assert.equal(record(view, 'return_path').value, 'mta.postline.test');
    assert.deepEqual(view.dkim_keys.map((k) => [k.selector, k.algorithm, k.status]), [['pl20261127r', 'rsa-sha256', 'active']]);
    assert.ok(!JSON.stringify(view).includes('PRIVATE'), 'no private key in the view');
  });

  it('adds an Ed25519 selector (RFC 8463 §4.2) and uses ip4:/ip6: mechanisms instead of the include when configured', async () => {
    const ctx = f.withConfig({ 'domains.dkim_ed25519': true, 'domains.spf_ips': ['192.0.2.0/24', 'ip6:2001:DB8::/32'], 'domains.return_path_prefix': 'bounce' });
    const view = await add(ctx);
    assert.match(record(view, 'dkim', 1).value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    assert.equal(record(view, 'dkim', 1).selector, 'pl20261127e');
    assert.equal(record(view, 'spf').value, 'v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all');
    assert.equal(record(view, 'return_path').name, `bounce.${view.name}`);
  });

  it('verifies once every record is published: each ok, verified, return_path_ok, one domain.verified event', async () => {
    const view = await add();
    f.publish(view);
    const checked = await verify(view);
    assert.deepEqual(checked.records.map((r) => r.status), ['ok', 'ok', 'ok', 'ok', 'ok']);
    assert.equal(checked.verified, true);
    assert.equal(checked.return_path_ok, true);
    assert.equal(record(checked, 'dkim').found?.[0], record(view, 'dkim').value);
    await verify(view);
    const verified = (await events('domain.verified')).filter((e) => JSON.parse(e.payload).domain === view.name);
    assert.equal(verified.length, 1);
    assert.equal(verified[0].message_id, null);
  });

  it('does not gate on SPF, DMARC or the return path: ownership + DKIM verify; return_path_ok stays false', async () => {
    const view = await add();
    f.publish(view, (r) => r.purpose === 'ownership' || r.purpose === 'dkim');
    const checked = await verify(view);
    assert.equal(checked.verified, true);
    assert.equal(checked.return_path_ok, false);
    assert.deepEqual(checked.records.map((r) => r.status), ['ok', 'ok', 'missing', 'missing', 'missing']);
  });

  it('reports a missing DKIM record as missing and the domain unverified', async () => {
    const view = await add();
    f.publish(view, (r) => r.purpose !== 'dkim');
    const checked = await verify(view);
    assert.equal(record(checked, 'dkim').status, 'missing');
    assert.deepEqual(record(checked, 'dkim').found, []);
    assert.equal(checked.verified, false);
  });

  it('reports a DKIM record with another key as wrong, with found vs expected and where p= differs', async () => {
    const view = await add();
    const other = await add();
    f.publish(view, (r) => r.purpose !== 'dkim');
    const dkim = record(view, 'dkim');
    f.dns.addRecord(dkim.name, { type: 'TXT', value: record(other, 'dkim').value });
    const checked = await verify(view);
    const r = record(checked, 'dkim');
    assert.equal(r.status, 'wrong');
    assert.deepEqual(r.found, [record(other, 'dkim').value]);
    assert.equal(r.expected ?? r.value, dkim.value);
    assert.match(r.warning!, /the published p= differs from this selector's key from character \d+ on: found p=.+ \(392 characters\), expected p=.+ \(392 characters\)/);
    assert.equal(checked.verified, false);
  });

  it('says when the published DKIM key is cut short (a TXT value split into two records) and when k= is wrong', async () => {
    const view = await add();
    const dkim = record(view, 'dkim');
    f.dns.addRecord(dkim.name, { type: 'TXT', value: dkim.value.slice(0, 255) });
    let r = record(await verify(view), 'dkim');
    assert.equal(r.status, 'wrong');
    assert.match(r.warning!, /cut short: 237 of 392 characters/);
    f.dns.reset();
    f.dns.addRecord(dkim.name, { type: 'TXT', value: dkim.value.replace('k=rsa', 'k=ed25519') });
    r = record(await verify(view), 'dkim');
    assert.match(r.warning!, /k=ed25519 is published, but this selector's key is k=rsa/);
  });

  it('answers an existing SPF record with wrong, the merged record and the lookup count (RFC 7208 §4.6.4)', async () => {
    const view = await add();
    f.publish(view, (r) => r.purpose !== 'spf');
    f.dns.addRecord(view.name, { type: 'TXT', value: 'v=spf1 include:_spf.google.com mx a:out.example.net -all' });
    const r = record(await verify(view), 'spf');
    assert.equal(r.status, 'wrong');
    assert.deepEqual(r.found, ['v=spf1 include:_spf.google.com mx a:out.example.net -all']);
    assert.equal(r.expected, 'v=spf1 include:_spf.google.com mx a:out.example.net include:_spf.mta.postline.test -all');
    assert.match(r.warning!, /only one \(RFC 7208 §4\.5\)/);
    assert.match(r.warning!, /need 3 DNS lookups now and 4 merged, of at most 10/);
    assert.doesNotMatch(r.warning!, /exceed/);
  });

  it('warns that a merge would exceed the 10-lookup limit, and accepts a record that already includes ours', async () => {
    const view = await add();
    const crowded = `v=spf1 ${Array.from({ length: 10 }, (_, i) => `include:s${i}.example.net`).join(' ')} ~all`;
    f.dns.addRecord(view.name, { type: 'TXT', value: crowded });
    let r = record(await verify(view), 'spf');
    assert.match(r.warning!, /10 DNS lookups now and 11 merged/);
    assert.match(r.warning!, /would exceed the 10-lookup limit/);
    f.dns.reset();
    f.dns.addRecord(view.name, { type: 'TXT', value: 'v=spf1 ip4:198.51.100.1 include:_spf.mta.postline.test -all' });
    r = record(await verify(view), 'spf');
    assert.equal(r.status, 'ok');
    assert.equal(r.warning, undefined);
  });

  it('counts any valid DMARC record as ok (p=reject), and a record without a policy as wrong', async () => {
    const view = await add();
    f.dns.addRecord(`_dmarc.${view.name}`, { type: 'TXT', value: 'v=DMARC1; p=reject; adkim=s' });
    assert.equal(record(await verify(view), 'dmarc').status, 'ok');
    f.dns.reset();
    f.dns.addRecord(`_dmarc.${view.name}`, { type: 'TXT', value: 'v=DMARC1; rua=mailto:x@y.example' });
    const r = record(await verify(view), 'dmarc');
    assert.equal(r.status, 'wrong');
    assert.match(r.warning!, /no p= policy/);
  });

  it('reports a return-path CNAME to another host as wrong with the target found', async () => {
    const view = await add();
    f.dns.addRecord(`pl-bounces.${view.name}`, { type: 'CNAME', value: 'elsewhere.example.net' });
    const r = record(await verify(view), 'return_path');
    assert.equal(r.status, 'wrong');
    assert.deepEqual(r.found, ['elsewhere.example.net']);
  });

  it('keeps the last status when DNS fails temporarily (SERVFAIL), and writes no dns_error', async () => {
    const view = await add();
    f.publish(view);
    assert.equal((await verify(view)).verified, true);
    const before = (await events('domain.dns_error')).length;
    f.dns.setFailure(record(view, 'dkim').name, 'SERVFAIL');
    const checked = await verify(view);
    assert.equal(record(checked, 'dkim').status, 'ok');
    assert.equal(checked.verified, true);
    assert.equal((await events('domain.dns_error')).length, before);
  });

  it('rotation: new keys pending until found, then active; the old key retiring, still listed, retired after the overlap', async () => {
    const ctx = f.withConfig({ 'domains.dkim_ed25519': true, 'domains.dkim_rotation_overlap': '7d' });
    const view = await add(ctx);
    f.publish(view);
    assert.equal((await verify(view, ctx)).verified, true);
    const row = await f.store.db.selectFrom('domains').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow();
    f.clock += 60_000;
    const fresh = await rotateDkim(ctx, row);
    assert.deepEqual(fresh.map((k) => [k.selector, k.status]), [['pl20261127r2', 'pending'], ['pl20261127e2', 'pending']]);

    // Not yet published: still pending, the old keys stay active, the domain stays verified.
    let checked = await verify(view, ctx);
    assert.deepEqual(checked.records.filter((r) => r.purpose === 'dkim').map((r) => [r.selector, r.key_status, r.status]), [
      ['pl20261127r', 'active', 'ok'], ['pl20261127e', 'active', 'ok'], ['pl20261127r2', 'pending', 'missing'], ['pl20261127e2', 'pending', 'missing'],
    ]);
    assert.equal(checked.verified, true);

    // Published: the new keys sign, the old ones are retiring for 7 days and still listed.
    f.publish(checked, (r) => r.key_status === 'pending');
    f.clock += 60_000;
    checked = await verify(view, ctx);
    assert.deepEqual(checked.dkim_keys.map((k) => [k.selector, k.status]), [
      ['pl20261127r', 'retiring'], ['pl20261127e', 'retiring'], ['pl20261127r2', 'active'], ['pl20261127e2', 'active'],
    ]);
    assert.equal(checked.dkim_keys[0].retire_at, new Date(f.clock + 7 * 86_400_000).toISOString());
    assert.deepEqual(checked.records.filter((r) => r.purpose === 'dkim').map((r) => r.selector), ['pl20261127r2', 'pl20261127e2', 'pl20261127r', 'pl20261127e']);
    assert.equal(checked.verified, true);

    // After the overlap the old keys are retired and no longer listed.
    f.clock += 7 * 86_400_000;
    checked = await verify(view, ctx);
    assert.deepEqual(checked.dkim_keys.map((k) => k.selector), ['pl20261127r2', 'pl20261127e2']);
    assert.deepEqual(checked.records.filter((r) => r.purpose === 'dkim').map((r) => r.selector), ['pl20261127r2', 'pl20261127e2']);
  });

  it('a second rotation before the first is published replaces its pending keys (never reusing a selector)', async () => {
    const view = await add();
    const row = await f.store.db.selectFrom('domains').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow();
    f.clock += 1000;
    await rotateDkim(f.ctx, row);
    f.clock += 1000;
    const second = await rotateDkim(f.ctx, row);
    assert.deepEqual(second.map((k) => k.selector), ['pl20261127r3']);
    const keys = await listDkimKeys(f.store.db, view.id, { includeRetired: true });
    assert.deepEqual(keys.map((k) => [k.selector, k.status]), [['pl20261127r', 'active'], ['pl20261127r2', 'retired'], ['pl20261127r3', 'pending']]);
  });

  it('seals private keys at rest (secret-box v1, bound to dkim:<domain>:<selector>)', async () => {
    const view = await add();
    const keys = await listDkimKeys(f.store.db, view.id);
    assert.match(keys[0].private_key, /^v1:/);
    assert.ok(!keys[0].private_key.includes('PRIVATE KEY'));
  });
});
