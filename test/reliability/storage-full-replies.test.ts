// The replies a full disk gets, without a disk: the classification of spool and database
// errors for SMTP (452 4.3.1, RFC 3463 X.3.1) and for the API (507, RFC 4918 §11.5), both
// temporary. The end-to-end proof on a real full filesystem is disk-full.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isStorageFull } from '../../src/ingress/accept-message.ts';
import { toProblem } from '../../src/api/error-handler.ts';
import { ApiProblem } from '../../src/api/index.ts';

const sqliteFull = () => Object.assign(new Error('database or disk is full'), { code: 'ERR_SQLITE_ERROR', errcode: 13 });
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

describe('storage-full classification', () => {
  it('treats ENOSPC, EDQUOT and SQLITE_FULL (also wrapped as a cause) as full storage, and nothing else', () => {
    assert.ok(isStorageFull(enospc()));
    assert.ok(isStorageFull(Object.assign(new Error('quota'), { code: 'EDQUOT' })));
    assert.ok(isStorageFull(sqliteFull()));
    assert.ok(isStorageFull(new Error('outer', { cause: sqliteFull() })));
    assert.ok(!isStorageFull(Object.assign(new Error('database is locked'), { code: 'ERR_SQLITE_ERROR', errcode: 5 })));
    assert.ok(!isStorageFull(new Error('other')));
  });

  it('answers the API with 507 insufficient-storage and Retry-After for ENOSPC and SQLITE_FULL', () => {
    for (const err of [sqliteFull(), enospc()]) {
      const p = toProblem(err);
      assert.ok(p instanceof ApiProblem);
      assert.equal(p.status, 507);
      assert.equal(p.toBody().code, 'API_STORAGE_FULL');
      assert.ok(Number(p.headers['retry-after']) > 0);
    }
  });

  it('answers the API with 503 unavailable and Retry-After for other store write failures (busy, I/O error)', () => {
    for (const errcode of [5, 10]) {
      const p = toProblem(Object.assign(new Error('busy or I/O'), { code: 'ERR_SQLITE_ERROR', errcode }));
      assert.ok(p instanceof ApiProblem);
      assert.equal(p.status, 503);
      assert.ok(Number(p.headers['retry-after']) > 0);
    }
  });
});
