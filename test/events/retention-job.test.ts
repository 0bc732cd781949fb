import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { createTenant, insertEvents, insertMessage, newId, type Store } from '../../src/store/index.ts';
import { addSuppressions } from '../../src/store/index.ts';
import { createRetentionJob } from '../../src/events/index.ts';
import { openTestStore } from '../helpers/backend.ts';

const DAY = 86_400_000;
const log = pino({ level: 'silent' });

let dir: string;
let store: Store;
let tenantId: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postline-retention-'));
  store = await openTestStore({ dataDir: dir });
  tenantId = (await store.write((trx) => createTenant(trx, 'retention'))).id;
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function message(ageDays: number, status: 'delivered' | 'deferred', spooled = false): Promise<string> {
  const id = newId();
  const now = Date.now() - ageDays * DAY;
  const bytes = Buffer.from('Subject: x\r\n\r\nhello\r\n');
  let path: string | null = null;
  if (spooled) {
    path = `${id}.eml`;
    writeFileSync(join(dir, 'spool', path), bytes);
  }
  await store.write(async (trx) => {
    await insertMessage(trx, {
      id, tenantId, origin: 'api', mailFrom: 'a@example.com', body: { size: bytes.length, inline: spooled ? null : bytes, path },
      headerSize: 12, messageIdHeader: null, subject: 'x', fromHeader: null, recipients: [{ rcpt: 'b@example.com' }],
    }, { now, lifetimeMs: 5 * DAY });
    await trx.updateTable('recipients').set({ status }).where('message_id', '=', id).execute();
  });
  return id;
}

async function bodyOf(id: string) {
  return store.db.selectFrom('messages').select(['body', 'body_path']).where('id', '=', id).executeTakeFirstOrThrow();
}

describe('retention job', () => {
  it('deletes events older than retention.events_days and keeps younger ones', async () => {
    await store.write((trx) => insertEvents(trx, [{ type: 'message.delivered', tenantId, data: { n: 'old' } }], Date.now() - 40 * DAY));
    await store.write((trx) => insertEvents(trx, [{ type: 'message.delivered', tenantId, data: { n: 'young' } }], Date.now() - 2 * DAY));
    const job = createRetentionJob({ config: loadConfig({ env: { POSTLINE_DATA_DIR: dir, POSTLINE_RETENTION_EVENTS_DAYS: '30' } }), store, log });
    const result = await job.runOnce();
    assert.ok(result.events >= 1);
    const left = await store.db.selectFrom('events').select('payload').where('type', '=', 'message.delivered').execute();
    assert.deepEqual(left.map((e) => JSON.parse(e.payload).n), ['young']);
  });

  it('drops the bytes (row and spool file) of finished messages older than retention.bodies_days, and only those', async () => {
    const oldInline = await message(10, 'delivered');
    const oldSpooled = await message(10, 'delivered', true);
    const oldOpen = await message(10, 'deferred');
    const young = await message(1, 'delivered');
    const job = createRetentionJob({ config: loadConfig({ env: { POSTLINE_DATA_DIR: dir, POSTLINE_RETENTION_BODIES_DAYS: '7' } }), store, log });
    const result = await job.runOnce();
    assert.equal(result.bodies, 2);
    assert.equal((await bodyOf(oldInline)).body, null);
    assert.equal((await bodyOf(oldSpooled)).body_path, null);
    assert.equal(existsSync(join(dir, 'spool', `${oldSpooled}.eml`)), false, 'the spool file is removed');
    assert.notEqual((await bodyOf(oldOpen)).body, null, 'a message still being delivered keeps its bytes');
    assert.notEqual((await bodyOf(young)).body, null);
    // The receipts stay.
    const recipients = await store.db.selectFrom('recipients').select('status').where('message_id', '=', oldInline).execute();
    assert.deepEqual(recipients.map((r) => r.status), ['delivered']);
  });

  it('keeps everything when the days are 0', async () => {
    const old = await message(400, 'delivered');
    const job = createRetentionJob({ config: loadConfig({ env: { POSTLINE_DATA_DIR: dir, POSTLINE_RETENTION_BODIES_DAYS: '0', POSTLINE_RETENTION_EVENTS_DAYS: '0' } }), store, log });
    assert.deepEqual(await job.runOnce(), { events: 0, deliveries: 0, bodies: 0, suppressions: 0 });
    assert.notEqual((await bodyOf(old)).body, null);
  });

  it('removes suppression entries whose expiry passed, and keeps permanent and live ones', async () => {
    const tenant = await createTenant(store.db, `ret-${Date.now()}`);
    const t = Date.now();
    await store.write((trx) => addSuppressions(trx, tenant.id, [
      { stream: 'transactional', address: 'expired@dest.test', reason: 'manual', expiresAt: t - 1000 },
      { stream: 'transactional', address: 'live@dest.test', reason: 'manual', expiresAt: t + 3_600_000 },
      { stream: 'transactional', address: 'forever@dest.test', reason: 'hard_bounce' },
    ], t - 5000));
    const job = createRetentionJob({ config: loadConfig({ env: { POSTLINE_DATA_DIR: dir } }), store, log });
    assert.equal((await job.runOnce()).suppressions, 1);
    const left = await store.db.selectFrom('suppressions').select('address').where('tenant_id', '=', tenant.id).orderBy('address').execute();
    assert.deepEqual(left.map((r) => r.address), ['forever@dest.test', 'live@dest.test']);
  });
});
