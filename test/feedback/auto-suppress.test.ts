// Issue 4: automatic suppression entries. Hard bounces and complaints suppress at once; soft
// bounces after feedback.soft_bounce_limit of them within the window; block bounces never.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTenant, getSuppression, type Store } from '../../src/store/index.ts';
import { autoSuppress, type AutoSuppressEntry } from '../../src/feedback/auto-suppress.ts';
import { openTestStore } from '../helpers/backend.ts';

const HOUR = 3_600_000;
const options = { softBounceLimit: 3, softBounceWindowMs: 24 * HOUR };

describe('automatic suppression entries', () => {
  let dir: string;
  let store: Store;
  let tenantId: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-autosup-'));
    store = await openTestStore({ dataDir: dir });
    tenantId = (await createTenant(store.db, 'auto')).id;
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const entry = (address: string, kind: AutoSuppressEntry['kind'], stream: 'transactional' | 'broadcast' = 'transactional'): AutoSuppressEntry =>
    ({ tenantId, stream, address, kind, description: `550 for ${address}`, messageId: 'msg_1' });
  const run = (e: AutoSuppressEntry, at: number, o = options) => store.write((trx) => autoSuppress(trx, e, o, at));

  it('suppresses a hard bounce at once (hard_bounce, with the diagnostic) and a complaint as complaint', async () => {
    assert.equal(await run(entry('Hard@Dest.test', 'hard'), 1000), 'hard_bounce');
    const hard = await getSuppression(store.db, tenantId, 'transactional', 'hard@dest.test');
    assert.equal(hard?.reason, 'hard_bounce');
    assert.equal(hard?.description, '550 for Hard@Dest.test');
    assert.equal(hard?.message_id, 'msg_1');
    assert.equal(await run(entry('angry@dest.test', 'complaint'), 1000), 'complaint');
    assert.equal((await getSuppression(store.db, tenantId, 'transactional', 'angry@dest.test'))?.reason, 'complaint');
  });

  it('never suppresses for a block (policy or reputation says nothing about the address)', async () => {
    assert.equal(await run(entry('blocked@dest.test', 'block'), 1000), null);
    assert.equal(await getSuppression(store.db, tenantId, 'transactional', 'blocked@dest.test'), undefined);
  });

  it('suppresses after the third soft bounce within the window, not before, and per stream', async () => {
    const t = 10 * HOUR;
    assert.equal(await run(entry('full@dest.test', 'soft'), t), null);
    assert.equal(await run(entry('full@dest.test', 'soft', 'broadcast'), t + 1), null);
    assert.equal(await run(entry('full@dest.test', 'soft'), t + HOUR), null);
    assert.equal(await getSuppression(store.db, tenantId, 'transactional', 'full@dest.test'), undefined);
    assert.equal(await run(entry('full@dest.test', 'soft'), t + 2 * HOUR), 'hard_bounce');
    assert.match((await getSuppression(store.db, tenantId, 'transactional', 'full@dest.test'))!.description!, /^3 soft bounces within 24 h; last: 550 for/);
    assert.equal(await getSuppression(store.db, tenantId, 'broadcast', 'full@dest.test'), undefined, 'one soft bounce on broadcast');
  });

  it('starts counting again when the window has passed', async () => {
    const t = 100 * HOUR;
    await run(entry('slow@dest.test', 'soft'), t);
    await run(entry('slow@dest.test', 'soft'), t + HOUR);
    assert.equal(await run(entry('slow@dest.test', 'soft'), t + 30 * HOUR), null, 'the first two are outside the window');
    assert.equal(await run(entry('slow@dest.test', 'soft'), t + 31 * HOUR), null);
    assert.equal(await run(entry('slow@dest.test', 'soft'), t + 32 * HOUR), 'hard_bounce');
  });

  it('never suppresses for soft bounces when the limit is 0', async () => {
    for (let i = 0; i < 5; i++) assert.equal(await run(entry('never@dest.test', 'soft'), 1000 + i, { ...options, softBounceLimit: 0 }), null);
  });
});
