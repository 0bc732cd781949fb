import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  createTenant, addSuppressions, suppressedAmong, getSuppression, removeSuppression, listSuppressionsPage,
  purgeExpiredSuppressions, normaliseSuppressionAddress, type NewSuppression, type Store,
} from '../../src/store/index.ts';
import { openTestStore } from '../helpers/backend.ts';

const DAY = 86_400_000;

describe('store: suppression lists (SQLite)', () => {
  let dir: string;
  let store: Store;
  let tenant: string;
  let other: string;
  let seq = 0;
  /** A fresh address per test, so tests do not see each other's entries. */
  const fresh = (label: string) => `${label}-${++seq}@example.test`;
  const add = (entries: NewSuppression[], now = Date.now(), tenantId = tenant) => store.write((trx) => addSuppressions(trx, tenantId, entries, now));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-suppressions-'));
    store = await openTestStore({ dataDir: dir });
    tenant = (await createTenant(store.db, 'acme')).id;
    other = (await createTenant(store.db, 'globex')).id;
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('normalisation: trimmed, lower-cased entirely, domain in A-labels', () => {
    it('stores " Bob.Smith@Bücher.EXAMPLE " as bob.smith@xn--bcher-kva.example', () => {
      assert.equal(normaliseSuppressionAddress(' Bob.Smith@Bücher.EXAMPLE '), 'bob.smith@xn--bcher-kva.example');
    });
    it('refuses what is not a mailbox: no @, IP literal, source route', () => {
      for (const bad of ['bob', 'bob@', 'bob@[127.0.0.1]', '@a.test:bob@b.test', 'a%b@c.test', '']) assert.equal(normaliseSuppressionAddress(bad), undefined, bad);
    });
    it('finds an entry under any case or IDN form of the address', async () => {
      const a = fresh('Mixed');
      await add([{ stream: 'transactional', address: a.toUpperCase(), reason: 'manual' }]);
      const hits = await suppressedAmong(store.db, tenant, 'transactional', [a, ` ${a.toLowerCase()} `, 'nobody@example.test']);
      assert.deepEqual([...hits.keys()].sort(), [` ${a.toLowerCase()} `, a].sort());
      await add([{ stream: 'transactional', address: 'idn@bücher.example', reason: 'manual' }]);
      assert.ok((await suppressedAmong(store.db, tenant, 'transactional', ['IDN@xn--bcher-kva.example'])).has('IDN@xn--bcher-kva.example'));
    });
    it('throws SUPPRESSION_ADDRESS_INVALID naming the entry, and writes nothing', async () => {
      const ok = fresh('ok');
      await assert.rejects(add([{ stream: 'transactional', address: ok, reason: 'manual' }, { stream: 'transactional', address: 'not-an-address', reason: 'manual' }]),
        (err: { code: string; message: string }) => err.code === 'SUPPRESSION_ADDRESS_INVALID' && /entry 1/.test(err.message));
      assert.equal(await getSuppression(store.db, tenant, 'transactional', ok), undefined);
    });
  });

  describe('upsert precedence: complaint > unsubscribe > hard_bounce > manual', () => {
    it('adds a new entry with a sup_ id and counts it as added', async () => {
      const a = fresh('new');
      const r = await add([{ stream: 'transactional', address: a, reason: 'hard_bounce', description: '550 5.1.1 user unknown', messageId: 'msg1' }]);
      assert.deepEqual({ added: r.added, updated: r.updated }, { added: 1, updated: 0 });
      assert.match(r.rows[0].id, /^sup_[0-9A-Z]{26}$/);
      assert.equal(r.rows[0].description, '550 5.1.1 user unknown');
      assert.equal(r.rows[0].message_id, 'msg1');
    });
    it('a weaker reason leaves the stronger reason, its description and its id in place', async () => {
      const a = fresh('weaker');
      const first = await add([{ stream: 'transactional', address: a, reason: 'complaint', description: 'ARF abuse report', messageId: 'm1' }]);
      const again = await add([{ stream: 'transactional', address: a, reason: 'hard_bounce', description: '550 5.1.1', messageId: 'm2' }]);
      assert.deepEqual({ added: again.added, updated: again.updated }, { added: 0, updated: 1 });
      const row = again.rows[0];
      assert.equal(row.id, first.rows[0].id);
      assert.deepEqual([row.reason, row.description, row.message_id], ['complaint', 'ARF abuse report', 'm1']);
    });
    it('a stronger reason replaces reason, description and message id, keeping id and created_at', async () => {
      const a = fresh('stronger');
      const t0 = Date.now() - 1000;
      const first = await add([{ stream: 'transactional', address: a, reason: 'manual', description: 'by hand' }], t0);
      const r = await add([{ stream: 'transactional', address: a, reason: 'unsubscribe', messageId: 'm9' }]);
      const row = r.rows[0];
      assert.deepEqual([row.id, Number(row.created_at), row.reason, row.description, row.message_id], [first.rows[0].id, t0, 'unsubscribe', null, 'm9']);
    });
    it('unsubscribe outranks hard_bounce (consent survives a bulk clean-up of bounces)', async () => {
      const a = fresh('consent');
      await add([{ stream: 'transactional', address: a, reason: 'unsubscribe' }]);
      const r = await add([{ stream: 'transactional', address: a, reason: 'hard_bounce' }]);
      assert.equal(r.rows[0].reason, 'unsubscribe');
    });
    it('an equal reason takes the newer description when one is given, and keeps the old one otherwise', async () => {
      const a = fresh('equal');
      await add([{ stream: 'transactional', address: a, reason: 'hard_bounce', description: 'old' }]);
      assert.equal((await add([{ stream: 'transactional', address: a, reason: 'hard_bounce', description: 'new' }])).rows[0].description, 'new');
      assert.equal((await add([{ stream: 'transactional', address: a, reason: 'hard_bounce' }])).rows[0].description, 'new');
    });
    it('duplicates within one call merge by the same rules and count once', async () => {
      const a = fresh('dup');
      const r = await add([
        { stream: 'transactional', address: a, reason: 'manual' },
        { stream: 'transactional', address: a.toUpperCase(), reason: 'complaint', description: 'fbl' },
        { stream: 'transactional', address: a, reason: 'hard_bounce' },
      ]);
      assert.deepEqual({ added: r.added, updated: r.updated, n: r.rows.length }, { added: 1, updated: 0, n: 1 });
      assert.deepEqual([r.rows[0].reason, r.rows[0].description], ['complaint', 'fbl']);
    });
  });

  describe('expiry', () => {
    it('the later expiry wins; a permanent entry stays permanent; a permanent add makes it permanent', async () => {
      const now = Date.now();
      const a = fresh('later');
      await add([{ stream: 'transactional', address: a, reason: 'manual', expiresAt: now + 2 * DAY }]);
      assert.equal(Number((await add([{ stream: 'transactional', address: a, reason: 'manual', expiresAt: now + DAY }])).rows[0].expires_at), now + 2 * DAY);
      assert.equal(Number((await add([{ stream: 'transactional', address: a, reason: 'manual', expiresAt: now + 3 * DAY }])).rows[0].expires_at), now + 3 * DAY);
      assert.equal((await add([{ stream: 'transactional', address: a, reason: 'manual' }])).rows[0].expires_at, null);
      assert.equal((await add([{ stream: 'transactional', address: a, reason: 'manual', expiresAt: now + 9 * DAY }])).rows[0].expires_at, null);
    });
    it('an expired entry does not count: not suppressed, not listed, not found', async () => {
      const now = Date.now();
      const a = fresh('expired');
      const r = await add([{ stream: 'transactional', address: a, reason: 'hard_bounce', expiresAt: now + 1000 }], now);
      const later = now + 2000;
      assert.equal((await suppressedAmong(store.db, tenant, 'transactional', [a], now)).get(a)?.id, r.rows[0].id);
      assert.equal((await suppressedAmong(store.db, tenant, 'transactional', [a], later)).size, 0);
      assert.equal(await getSuppression(store.db, tenant, 'transactional', a, later), undefined);
      const listed = await listSuppressionsPage(store.db, tenant, { address_contains: a }, { limit: 10 }, later);
      assert.deepEqual(listed, []);
    });
    it('adding over an expired entry replaces it outright: counted as added, new id, new reason even if weaker', async () => {
      const now = Date.now();
      const a = fresh('replace');
      const old = await add([{ stream: 'transactional', address: a, reason: 'complaint', description: 'old', expiresAt: now + 10 }], now);
      const r = await add([{ stream: 'transactional', address: a, reason: 'manual' }], now + 100);
      assert.deepEqual({ added: r.added, updated: r.updated }, { added: 1, updated: 0 });
      assert.notEqual(r.rows[0].id, old.rows[0].id);
      assert.deepEqual([r.rows[0].reason, r.rows[0].description, r.rows[0].expires_at, Number(r.rows[0].created_at)], ['manual', null, null, now + 100]);
    });
    it('purgeExpiredSuppressions deletes expired entries in chunks and leaves live ones', async () => {
      const now = Date.now();
      const gone = [fresh('p'), fresh('p'), fresh('p')];
      const kept = fresh('kept');
      await add([...gone.map((address) => ({ stream: 'broadcast' as const, address, reason: 'manual' as const, expiresAt: now - 1 })),
        { stream: 'broadcast', address: kept, reason: 'manual', expiresAt: now + DAY }]);
      assert.equal(await purgeExpiredSuppressions(store.db, now, 2), 2);
      assert.ok(await purgeExpiredSuppressions(store.db, now, 1000) >= 1);
      assert.equal(await purgeExpiredSuppressions(store.db, now, 1000), 0);
      assert.ok(await getSuppression(store.db, tenant, 'broadcast', kept, now));
    });
  });

  describe('separation', () => {
    it('per stream: a transactional entry does not suppress broadcast mail, and removal is per stream', async () => {
      const a = fresh('stream');
      await add([{ stream: 'transactional', address: a, reason: 'unsubscribe' }]);
      assert.equal((await suppressedAmong(store.db, tenant, 'broadcast', [a])).size, 0);
      await add([{ stream: 'broadcast', address: a, reason: 'manual' }]);
      assert.ok(await removeSuppression(store.db, tenant, 'broadcast', a));
      assert.equal((await suppressedAmong(store.db, tenant, 'transactional', [a])).get(a)?.reason, 'unsubscribe');
    });
    it('per tenant: another tenant neither sees nor removes the entry', async () => {
      const a = fresh('tenant');
      await add([{ stream: 'transactional', address: a, reason: 'complaint' }]);
      assert.equal((await suppressedAmong(store.db, other, 'transactional', [a])).size, 0);
      assert.equal(await getSuppression(store.db, other, 'transactional', a), undefined);
      assert.equal(await removeSuppression(store.db, other, 'transactional', a), undefined);
      assert.deepEqual(await listSuppressionsPage(store.db, other, {}, { limit: 100 }), []);
      assert.ok(await getSuppression(store.db, tenant, 'transactional', a));
    });
    it('removal makes the address sendable again and answers undefined the second time', async () => {
      const a = fresh('remove');
      const r = await add([{ stream: 'transactional', address: a, reason: 'manual' }]);
      assert.equal((await removeSuppression(store.db, tenant, 'transactional', a.toUpperCase()))?.id, r.rows[0].id);
      assert.equal((await suppressedAmong(store.db, tenant, 'transactional', [a])).size, 0);
      assert.equal(await removeSuppression(store.db, tenant, 'transactional', a), undefined);
    });
  });

  it('suppressedAmong over 600 addresses (two statements) finds exactly the 300 suppressed ones', async () => {
    const t = (await createTenant(store.db, 'bulk')).id;
    const addresses = Array.from({ length: 600 }, (_, i) => `user${i}@bulk.test`);
    const suppressed = addresses.filter((_, i) => i % 2 === 0);
    const r = await add(suppressed.map((address) => ({ stream: 'transactional', address, reason: 'hard_bounce' })), Date.now(), t);
    assert.equal(r.added, 300);
    const hits = await suppressedAmong(store.db, t, 'transactional', addresses);
    assert.equal(hits.size, 300);
    assert.ok(suppressed.every((a) => hits.get(a)?.reason === 'hard_bounce'));
    assert.equal((await suppressedAmong(store.db, t, 'transactional', [])).size, 0);
  });

  it('listSuppressionsPage pages in id order, merges streams, and filters by reason, substring and creation time', async () => {
    const t = (await createTenant(store.db, 'lister')).id;
    const base = Date.now() - 10_000;
    for (let i = 0; i < 6; i++) {
      await add([{ stream: i % 2 ? 'broadcast' : 'transactional', address: `l${i}_${i % 3 === 0 ? 'x' : 'y'}@list.test`, reason: i < 3 ? 'manual' : 'complaint' }], base + i * 1000, t);
    }
    const all = await listSuppressionsPage(store.db, t, {}, { limit: 100 });
    assert.deepEqual(all.map((r) => r.address), ['l0_x@list.test', 'l1_y@list.test', 'l2_y@list.test', 'l3_x@list.test', 'l4_y@list.test', 'l5_y@list.test']);
    const first = await listSuppressionsPage(store.db, t, {}, { limit: 4 });
    const second = await listSuppressionsPage(store.db, t, {}, { limit: 4, afterId: first[3].id });
    assert.deepEqual([...first, ...second].map((r) => r.id), all.map((r) => r.id));
    assert.deepEqual((await listSuppressionsPage(store.db, t, { stream: 'broadcast' }, { limit: 100 })).map((r) => r.address), ['l1_y@list.test', 'l3_x@list.test', 'l5_y@list.test']);
    assert.deepEqual((await listSuppressionsPage(store.db, t, { reason: 'complaint' }, { limit: 100 })).length, 3);
    // `_` in the filter is literal, not a LIKE wildcard; matching ignores case.
    assert.deepEqual((await listSuppressionsPage(store.db, t, { address_contains: '_X@' }, { limit: 100 })).map((r) => r.address), ['l0_x@list.test', 'l3_x@list.test']);
    assert.deepEqual((await listSuppressionsPage(store.db, t, { address_contains: 'l_' }, { limit: 100 })), []);
    assert.deepEqual((await listSuppressionsPage(store.db, t, { address_contains: 'l%' }, { limit: 100 })), []);
    const window = await listSuppressionsPage(store.db, t, { created_after: base + 2000, created_before: base + 4000 }, { limit: 100 });
    assert.deepEqual(window.map((r) => r.address), ['l2_y@list.test', 'l3_x@list.test']);
  });
});
