import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { listDkimKeys, listEventsPage } from '../../src/store/index.ts';
import { createDomain, domainView, recheckAllDomains, startDomainRecheck, verifyDomain } from '../../src/domains/index.ts';
import { startDomainFixture, type DomainFixture } from './domain-fixture.ts';

describe('periodic domain re-check (domains.recheck_interval)', () => {
  let f: DomainFixture;
  before(async () => {
    f = await startDomainFixture();
  });
  after(() => f.close());

  async function dnsErrors() {
    return listEventsPage(f.store.db, f.tenantId, { types: ['domain.dns_error'] }, { limit: 100 });
  }

  it('writes domain.dns_error (tenant set, message null) when a DKIM record that was ok disappears, and unverifies the domain', async () => {
    const { domain } = await createDomain(f.ctx, f.tenantId, 'recheck.example');
    const view = domainView(domain, await listDkimKeys(f.store.db, domain.id), f.ctx.settings);
    f.publish(view);
    assert.equal((await verifyDomain(f.ctx, domain)).domain.verified, 1);
    const dkim = view.records.find((r) => r.purpose === 'dkim')!;
    f.dns.removeName(dkim.name);

    const stop = startDomainRecheck({ config: loadConfig({ env: {} }), store: f.store, log: pino({ level: 'silent' }), intervalMs: 50, firstRunDelayMs: 0, context: f.ctx });
    try {
      const deadline = Date.now() + 5000;
      while ((await dnsErrors()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await stop();
    }
    const events = await dnsErrors();
    assert.equal(events.length, 1, 'one event, not one per run');
    const event = events[0];
    assert.equal(event.tenant_id, f.tenantId);
    assert.equal(event.message_id, null);
    const data = JSON.parse(event.payload);
    assert.equal(data.domain, 'recheck.example');
    assert.deepEqual(data.record, { name: dkim.name, type: 'TXT', value: dkim.value, purpose: 'dkim', status: 'missing', selector: dkim.selector });
    assert.deepEqual(data.found, []);
    assert.equal(data.expected, dkim.value);
    const row = await f.store.db.selectFrom('domains').selectAll().where('id', '=', domain.id).executeTakeFirstOrThrow();
    assert.equal(row.verified, 0);
  });

  it('verifies a domain whose records appeared, without anyone asking', async () => {
    const { domain } = await createDomain(f.ctx, f.tenantId, 'later.example');
    f.publish(domainView(domain, await listDkimKeys(f.store.db, domain.id), f.ctx.settings));
    const result = await recheckAllDomains(f.ctx);
    assert.equal(result.failed, 0);
    assert.ok(result.checked >= 2);
    const row = await f.store.db.selectFrom('domains').selectAll().where('id', '=', domain.id).executeTakeFirstOrThrow();
    assert.equal(row.verified, 1);
    const verified = await listEventsPage(f.store.db, f.tenantId, { types: ['domain.verified'] }, { limit: 100 });
    assert.ok(verified.some((e) => JSON.parse(e.payload).domain === 'later.example'));
  });

  it('does not start with an interval of 0', async () => {
    const stop = startDomainRecheck({ config: loadConfig({ env: { POSTLINE_DOMAINS_RECHECK_INTERVAL: '0s' } }), store: f.store, log: pino({ level: 'silent' }) });
    await stop();
  });
});
