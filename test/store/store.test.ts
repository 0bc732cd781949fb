import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createTenant, insertMessage, claimDue, recordOutcomes, releaseLeases, listRecipients, listEventsForMessage,
  retryNow, cancelMessage, newId, type Store,
} from '../../src/store/index.ts';
import { openTestStore, TEST_BACKEND } from '../helpers/backend.ts';

const inline = (text: string) => ({ size: Buffer.byteLength(text), inline: Buffer.from(text), path: null });

describe(`store (${TEST_BACKEND})`, () => {
  let dir: string;
  let store: Store;
  let tenantId: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-store-'));
    store = await openTestStore({ dataDir: dir, inlineBodyLimitBytes: 1024 });
    tenantId = (await createTenant(store.db, 'acme')).id;
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function queue(rcpts: string[], now = Date.now()): Promise<string> {
    const id = newId();
    await store.write((trx) => insertMessage(trx, {
      id, tenantId, origin: 'smtp', mailFrom: 'a@acme.test', body: inline('Subject: x\r\n\r\nhi\r\n'), headerSize: 13,
      messageIdHeader: null, subject: 'x', fromHeader: 'a@acme.test', recipients: rcpts.map((rcpt) => ({ rcpt })),
    }, { now, lifetimeMs: 60_000 }));
    return id;
  }

  it('commits concurrent writes in shared transactions (group commit)', async () => {
    const before = store.writeStats();
    await Promise.all(Array.from({ length: 200 }, (_, i) => queue([`r${i}@dest.test`])));
    const after = store.writeStats();
    assert.equal(after.writes - before.writes, 200);
    assert.ok(after.batches - before.batches < 50, `200 writes took ${after.batches - before.batches} commits`);
  });

  it('writes message.queued in the same transaction as the message', async () => {
    const id = await queue(['x@dest.test', 'y@dest.test']);
    const events = await listEventsForMessage(store.db, id);
    assert.deepEqual(events.map((e) => e.type), ['message.queued']);
    assert.deepEqual(events[0].data.recipients, ['x@dest.test', 'y@dest.test']);
    const rows = await listRecipients(store.db, id);
    assert.deepEqual(rows.map((r) => [r.rcpt, r.domain, r.status]), [['x@dest.test', 'dest.test', 'queued'], ['y@dest.test', 'dest.test', 'queued']]);
  });

  it('claims due work once, counts the attempt before delivery, and lets an expired lease be taken over', async () => {
    await store.write((trx) => claimDue(trx, { owner: 'drain', now: Date.now(), leaseMs: 3_600_000, limit: 100_000 }));
    const id = await queue(['lease@dest.test']);
    const a = await store.write((trx) => claimDue(trx, { owner: 'a', now: Date.now(), leaseMs: 1000, limit: 10 }));
    assert.deepEqual(a.map((r) => [r.messageId, r.attempts]), [[id, 1]]);
    const b = await store.write((trx) => claimDue(trx, { owner: 'b', now: Date.now(), leaseMs: 1000, limit: 10 }));
    assert.equal(b.length, 0, 'a leased recipient is not claimed twice');
    const c = await store.write((trx) => claimDue(trx, { owner: 'c', now: Date.now() + 1001, leaseMs: 1000, limit: 10 }));
    assert.deepEqual(c.map((r) => [r.id, r.attempts]), [[a[0].id, 2]]);
    // The first owner finishing late must not undo the new owner's work.
    const applied = await store.write((trx) => recordOutcomes(trx, [{ id: a[0].id, owner: 'a', status: 'delivered', code: 250, enhanced: '2.0.0', response: 'ok', mx: 'mx' }], [], [], Date.now()));
    assert.equal(applied.size, 0);
    const applied2 = await store.write((trx) => recordOutcomes(trx, [{ id: c[0].id, owner: 'c', status: 'delivered', code: 250, enhanced: '2.0.0', response: 'ok', mx: 'mx' }], [], [{ type: 'message.delivered', tenantId, messageId: id, recipientId: c[0].id, data: {} }], Date.now()));
    assert.equal(applied2.size, 1);
    const [row] = await listRecipients(store.db, id);
    assert.equal(row.status, 'delivered');
    assert.deepEqual((await listEventsForMessage(store.db, id)).map((e) => e.type), ['message.queued', 'message.delivered']);
  });

  it('releases leases at start-up so a crashed run\'s work is due at once', async () => {
    const id = await queue(['crash@dest.test']);
    await store.write((trx) => claimDue(trx, { owner: 'dead', now: Date.now(), leaseMs: 3_600_000, limit: 100_000 }));
    const released = await store.write((trx) => releaseLeases(trx, { now: Date.now() }));
    assert.ok(released >= 1);
    const [row] = await listRecipients(store.db, id);
    assert.equal(row.status, 'deferred');
    assert.equal(row.lease_owner, null);
  });

  it('retries now and cancels with an event', async () => {
    const id = await queue(['later@dest.test'], Date.now() + 3_600_000);
    assert.equal(await retryNow(store.db, { messageId: id }), 1);
    assert.equal(await store.write((trx) => cancelMessage(trx, id)), 1);
    const [row] = await listRecipients(store.db, id);
    assert.equal(row.status, 'cancelled');
    assert.ok((await listEventsForMessage(store.db, id)).some((e) => e.type === 'message.cancelled'));
  });

  it(TEST_BACKEND === 'sqlite'
    ? 'keeps small bodies inline and streams large ones to an fsync\'d spool file'
    : 'keeps every body in the row on PostgreSQL, however large (every node must read every message)', async () => {
    const small = store.spool.createWriter('small');
    await pipeline(Readable.from([Buffer.alloc(100, 97)]), small);
    assert.equal(small.result.path, null);
    assert.equal(small.result.inline?.length, 100);
    const big = store.spool.createWriter('big');
    await pipeline(Readable.from(Array.from({ length: 10 }, () => Buffer.alloc(500, 98))), big);
    assert.equal(big.result.size, 5000);
    if (TEST_BACKEND === 'sqlite') {
      assert.equal(big.result.inline, null);
      assert.ok(existsSync(join(store.spool.dir, big.result.path!)));
    } else {
      assert.equal(big.result.path, null);
      assert.equal(big.result.inline?.length, 5000);
    }
    const id = newId();
    await store.write((trx) => insertMessage(trx, {
      id, tenantId, origin: 'smtp', mailFrom: 'a@acme.test', body: big.result, headerSize: 0, messageIdHeader: null, subject: null, fromHeader: null, recipients: [{ rcpt: 'b@dest.test' }],
    }, { now: Date.now(), lifetimeMs: 1000 }));
    const body = await store.openBody(id);
    if (TEST_BACKEND === 'sqlite') {
      assert.ok(!Buffer.isBuffer(body));
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).length, 5000);
    } else {
      assert.ok(Buffer.isBuffer(body));
      assert.deepEqual(body, Buffer.alloc(5000, 98));
    }
  });
});
