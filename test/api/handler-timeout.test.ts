import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { WriteLock } from '../../src/store/index.ts';
import { createApiApp } from '../../src/api/index.ts';
import pg from 'pg';
import { databaseUrlOf, openTestStore } from '../helpers/backend.ts';

describe('http.handler_timeout', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'postline-timeout-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('answers 503 problem+json with Retry-After when a handler runs longer, and leaves requests answered in time alone', async () => {
    const loaded = loadConfig({ env: { POSTLINE_DATA_DIR: dataDir, POSTLINE_LOG_LEVEL: 'silent' } });
    const config = { ...loaded, http: { ...loaded.http, handler_timeout: 150 } };
    // SQLite: the write lock the delivery thread shares, held here as a long transaction of
    // the other thread would hold it. PostgreSQL: another session's lock on the table. Either
    // way a write request waits (asynchronously) past the limit.
    const writeLock = new WriteLock();
    const store = await openTestStore({ dataDir, writeLock });
    let blocker: pg.Client | null = null;
    const holdWrites = async () => {
      if (store.dialect === 'sqlite') return writeLock.acquire();
      blocker = new pg.Client({ connectionString: (await databaseUrlOf(dataDir)) ?? undefined });
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE tenants IN EXCLUSIVE MODE');
    };
    const releaseWrites = async () => {
      if (store.dialect === 'sqlite') return writeLock.release();
      await blocker!.query('COMMIT');
      await blocker!.end();
    };
    const adminToken = 'test-admin-token-0123456789abcdef0123456789';
    const app = await createApiApp({ config, store, log: pino({ level: 'silent' }), adminToken });
    const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    try {
      await holdWrites();
      const started = Date.now();
      const slow = await app.inject({ method: 'POST', url: '/api/v1/tenants', headers, payload: JSON.stringify({ name: 'late' }) });
      assert.ok(Date.now() - started < 1000, 'answered at the limit, not when the lock came free');
      await releaseWrites();
      assert.equal(slow.statusCode, 503);
      assert.match(String(slow.headers['content-type']), /^application\/problem\+json/);
      assert.ok(slow.headers['retry-after'], 'Retry-After is set');
      assert.match(slow.json().detail, /handler_timeout/);
      const fast = await app.inject({ method: 'POST', url: '/api/v1/tenants', headers, payload: JSON.stringify({ name: 'on-time' }) });
      assert.equal(fast.statusCode, 201);
      // The fast request's timer was cleared: nothing is sent twice after the limit passes.
      await sleep(200);
      assert.equal(fast.json().name, 'on-time');
    } finally {
      await app.close();
      await store.close();
    }
  });
});
