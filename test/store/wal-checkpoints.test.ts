// backend: sqlite-only
// Background WAL checkpoints (src/store/sqlite/wal-checkpoints.ts), as the server runs them:
// one connection writes ('none', the API/SMTP thread), another checkpoints in the background
// ('background', the delivery thread), both sharing the write lock. The WAL must start over
// while writes go on, instead of growing by everything written.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { openStore, WriteLock, type Store } from '../../src/store/index.ts';

describe('background WAL checkpoints (sqlite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postline-wal-'));
  const stores: Store[] = [];
  after(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keep the WAL from growing while another connection writes 8 MB through it', async () => {
    const writeLock = new WriteLock();
    const writer = await openStore({ dataDir: dir, writeLock, checkpoints: 'none' });
    stores.push(writer);
    const checkpointer = await openStore({ dataDir: dir, writeLock, checkpoints: 'background' });
    stores.push(checkpointer);
    await sql`create table if not exists wal_test (id integer primary key, filler blob)`.execute(writer.db);
    const filler = Buffer.alloc(40_000, 7);
    // 200 commits of 40 KB over ~2 s (eight checkpoint rounds).
    for (let i = 0; i < 200; i++) {
      await writer.write((trx) => sql`insert into wal_test (filler) values (${filler})`.execute(trx));
      if (i % 10 === 9) await sleep(100);
    }
    const wal = statSync(join(dir, 'postline.db-wal')).size;
    // Without checkpoints the WAL holds every frame written: over 8 MB.
    assert.ok(wal < 4_000_000, `WAL is ${wal} bytes after 8 MB written`);
    const rows = await sql<{ n: number }>`select count(*) as n from wal_test`.execute(checkpointer.db);
    assert.equal(Number(rows.rows[0].n), 200);
  });
});
