import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiProblem, PROBLEM_TYPES, jsonPointer } from '../../src/api/index.ts';
import { toProblem } from '../../src/api/error-handler.ts';

const docs = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

describe('RFC 9457 problem registry', () => {
  it('documents every problem type with its status in docs/api.md', () => {
    for (const [type, { status }] of Object.entries(PROBLEM_TYPES)) {
      assert.match(docs, new RegExp(`\\| \`${type}\` \\| ${status} \\|`), `docs/api.md does not document problem type ${type} (${status})`);
    }
  });

  it('builds a body with type URI, title and status from the registry, and a default code', () => {
    const body = new ApiProblem('not-found', 'no API key key_1').toBody();
    assert.deepEqual(body, { type: 'https://postline.dev/problems/not-found', title: 'Not found', status: 404, detail: 'no API key key_1', code: 'API_NOT_FOUND' });
  });

  it('sets Retry-After in whole seconds (RFC 9110 §10.2.3)', () => {
    assert.equal(new ApiProblem('rate-limited', 'slow down', { retryAfterSeconds: 1.2 }).headers['retry-after'], '2');
  });

  it('escapes ~ and / in JSON Pointer reference tokens (RFC 6901 §3)', () => {
    assert.equal(jsonPointer(['to', 0]), '/to/0');
    assert.equal(jsonPointer(['headers', 'a/b~c']), '/headers/a~1b~0c');
    assert.equal(jsonPointer([]), '');
  });
});

describe('mapping thrown errors onto problems', () => {
  it('maps a busy SQLite database to 503 unavailable with Retry-After', () => {
    const p = toProblem(Object.assign(new Error('database is locked'), { code: 'ERR_SQLITE_ERROR', errcode: 5 }));
    assert.ok(p instanceof ApiProblem);
    assert.equal(p.status, 503);
    assert.equal(p.headers['retry-after'], '5');
  });

  it('maps a UNIQUE constraint failure to 409 conflict', () => {
    const p = toProblem(Object.assign(new Error('UNIQUE constraint failed: tenants.name'), { code: 'ERR_SQLITE_ERROR', errcode: 2067 }));
    assert.equal((p as ApiProblem).status, 409);
    assert.ok(!(p as ApiProblem).message.includes('tenants.name'), 'schema details stay in the log');
  });

  it('maps an unexpected error to 500 without leaking its message', () => {
    const p = toProblem(new TypeError('Cannot read properties of undefined (reading secret_hash)')) as ApiProblem;
    assert.equal(p.status, 500);
    assert.ok(!JSON.stringify(p.toBody()).includes('secret_hash'));
  });

  it('maps an unlisted 4xx status to an about:blank problem with the status phrase (RFC 9457 §4.2.1)', () => {
    const p = toProblem(Object.assign(new Error('Method Not Allowed'), { statusCode: 405 }));
    assert.ok(!(p instanceof ApiProblem));
    assert.deepEqual({ type: p.body.type, title: p.body.title, status: p.status }, { type: 'about:blank', title: 'Method Not Allowed', status: 405 });
  });
});
