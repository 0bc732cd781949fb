// backend: sqlite-only
// The batcher's SQLite side: the cross-thread write lock and the WAL flushes it waits for
// (PostgreSQL has neither: its commits are durable when they return).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { WriteLock, type Store } from '../../src/store/index.ts';
import { WriteBatcher } from '../../src/store/write-batcher.ts';
import { openTestStore, TEST_BACKEND } from '../helpers/backend.ts';

describe(`write batcher (${TEST_BACKEND})`, () => {
  let dir: string;
  let store: Store;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-batcher-'));
    store = await openTestStore({ dataDir: dir });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts a second thread waiting for the write lock as contended, and not once it holds it', async () => {
    const mine = new WriteLock();
    const theirs = new WriteLock(mine.buffer);
    await mine.acquire();
    assert.equal(mine.contended, false);
    const waiting = theirs.acquire();
    assert.equal(mine.contended, true, 'the waiter is counted');
    mine.release();
    await waiting;
    assert.equal(mine.contended, false, 'the holder is no longer a waiter');
    theirs.release();
  });

  it('commits a group early when another thread waits for the lock, lets it in, and commits the rest next', async () => {
    const lock = new WriteLock();
    const other = new WriteLock(lock.buffer);
    const batcher = new WriteBatcher(store.db, { lock, sliceMs: 0 });
    const order: string[] = [];
    let otherGot: Promise<void> | null = null;
    const writes = Array.from({ length: 6 }, (_, i) => batcher.write(async (trx) => {
      await sql`select 1`.execute(trx);
      order.push(`w${i}`);
      // The other thread asks for the lock while this group holds it.
      if (i === 1) {
        otherGot = other.acquire().then(() => {
          order.push('other');
          other.release();
        });
      }
      return i;
    }));
    assert.deepEqual(await Promise.all(writes), [0, 1, 2, 3, 4, 5]);
    await otherGot;
    assert.deepEqual(order, ['w0', 'w1', 'other', 'w2', 'w3', 'w4', 'w5'], 'the waiter went between the two groups');
    assert.deepEqual(batcher.stats(), { batches: 2, writes: 6 });
  });

  it('resolves each durable write after a flush begun after its commit, running up to maxSyncs flushes at once', async () => {
    const started: Array<{ done: boolean }> = [];
    let running = 0;
    let most = 0;
    const batcher = new WriteBatcher(store.db, {
      maxSyncs: 2,
      syncDurable: async () => {
        const flush = { done: false };
        started.push(flush);
        most = Math.max(most, ++running);
        await sleep(30);
        running--;
        flush.done = true;
      },
    });
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < 8; i++) {
      let flushesBefore = -1;
      writes.push(batcher.write(async (trx) => {
        await sql`select 1`.execute(trx);
        flushesBefore = started.length;
      }).then(() => {
        assert.ok(started.slice(flushesBefore).some((f) => f.done), `write ${i}: a flush that started after its commit has finished`);
      }));
      // Each write in its own group, arriving while earlier flushes are still running.
      await sleep(5);
    }
    await Promise.all(writes);
    assert.equal(most, 2, 'two flushes overlapped, never three');
    assert.ok(started.length < 8, `groups that arrived while both flushes ran shared one (${started.length} flushes for 8 groups)`);
  });
});
