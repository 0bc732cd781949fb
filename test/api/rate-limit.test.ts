import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestApi, isProblem, type TestApi, type TestTenant } from './api-test-app.ts';
import { TokenBuckets } from '../../src/api/rate-limit.ts';

describe('API rate limits', () => {
  let api: TestApi;
  let a: TestTenant;
  let b: TestTenant;

  before(async () => {
    // 4 tokens a second, 2 at once: the third request in a row is refused, and 250 ms later one is back.
    api = await startTestApi({ env: { POSTLINE_API_KEY_RATE: '4', POSTLINE_API_KEY_BURST: '2', POSTLINE_API_IP_RATE: '4', POSTLINE_API_IP_BURST: '2' } });
    a = await api.tenant();
    b = await api.tenant();
  });
  after(async () => {
    await api.close();
  });

  function fromIp(ip: string, token: string | null) {
    return api.app.inject({ method: 'GET', url: '/api/v1/messages', remoteAddress: ip, headers: token ? { authorization: `Bearer ${token}` } : {} });
  }

  it('answers 429 rate-limited problem+json with Retry-After once a key spends its burst; another key is unaffected; the bucket refills', async () => {
    assert.equal((await a.client.request('GET', '/api/v1/messages')).status, 200);
    assert.equal((await a.client.request('GET', '/api/v1/messages')).status, 200);
    const limited = await a.client.request('GET', '/api/v1/messages');
    assert.equal(limited.status, 429);
    assert.ok(isProblem(limited, 429), limited.text);
    assert.equal(limited.body.type, 'https://postline.dev/problems/rate-limited');
    assert.equal(limited.body.code, 'API_RATE_LIMITED');
    assert.equal(limited.body.limit, 'key');
    assert.equal(limited.headers['retry-after'], '1');

    // Tenant B's key has its own bucket.
    assert.equal((await b.client.request('GET', '/api/v1/messages')).status, 200);
    // The admin token spends from no bucket.
    assert.equal((await api.admin.request('GET', '/api/v1/tenants')).status, 200);

    await sleep(300);
    assert.equal((await a.client.request('GET', '/api/v1/messages')).status, 200, 'a token came back after 1/rate seconds');
  });

  it('answers 429 to every request from an IP that spent its budget of unauthenticated requests, and not to other IPs', async () => {
    assert.equal((await fromIp('192.0.2.1', null)).statusCode, 401);
    assert.equal((await fromIp('192.0.2.1', 'pl_bogus')).statusCode, 401);
    const limited = await fromIp('192.0.2.1', null);
    assert.equal(limited.statusCode, 429);
    assert.match(String(limited.headers['content-type']), /^application\/problem\+json/);
    assert.equal(limited.headers['retry-after'], '1');
    assert.equal(limited.json().limit, 'ip');
    // Refused before the credentials are looked up, even a valid key.
    assert.equal((await fromIp('192.0.2.1', b.key)).statusCode, 429);
    assert.equal((await fromIp('192.0.2.2', null)).statusCode, 401);
    // Valid keys spend nothing from their IP's bucket.
    for (let i = 0; i < 2; i++) assert.equal((await fromIp('192.0.2.3', b.key)).statusCode, 200);
    await sleep(300);
    assert.equal((await fromIp('192.0.2.1', null)).statusCode, 401, 'the IP bucket refilled');
  });

  it('keeps no more than maxEntries buckets and drops idle ones', () => {
    const buckets = new TokenBuckets({ rate: 10, burst: 1, maxEntries: 100 });
    for (let i = 0; i < 1000; i++) buckets.take(`k${i}`, 1000);
    assert.equal(buckets.size, 100);
    // After burst/rate (100 ms) every bucket is full again: a new one evicts all idle ones.
    buckets.take('fresh', 1200);
    assert.equal(buckets.size, 1);
  });

  it('allows everything with rate 0', () => {
    const buckets = new TokenBuckets({ rate: 0, burst: 1 });
    for (let i = 0; i < 10; i++) assert.equal(buckets.take('k').ok, true);
    assert.equal(buckets.size, 0);
  });
});
