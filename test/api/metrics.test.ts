import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, type TestApi, type TestTenant } from './api-test-app.ts';
import { seedMessage } from '../events/seed-messages.ts';

let api: TestApi;
let a: TestTenant;

before(async () => {
  api = await startTestApi();
  a = await api.tenant('metrics-a');
});

after(() => api.close());

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics (Prometheus text exposition)', () => {
  it('answers without authentication in text format 0.0.4 with HELP and TYPE lines', async () => {
    const res = await api.anonymous.request('GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(res.text, /^# HELP postline_queue_recipients /m);
    assert.match(res.text, /^# TYPE postline_http_request_duration_seconds histogram$/m);
    // Every sample line is `name{labels} value`.
    for (const line of res.text.trim().split('\n').filter((l) => !l.startsWith('#'))) assert.match(line, /^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$/, line);
  });

  it('reports queue depth by state, deliveries by result and the webhook backlog', async () => {
    await seedMessage(api.store, a.id, { to: ['d1@example.com', 'd2@example.com', 'b@example.com', 'w@example.com'], outcomes: { 'd1@example.com': 'delivered', 'd2@example.com': 'delivered', 'b@example.com': 'bounced' } });
    await seedMessage(api.store, a.id, { to: ['later@example.com'], outcomes: { 'later@example.com': 'deferred' } });
    const hook = await a.client.request('POST', '/api/v1/webhooks', { url: 'https://1.1.1.1/m' });
    await a.client.request('POST', `/api/v1/webhooks/${hook.body.id}/test`);
    const text = (await api.anonymous.request('GET', '/metrics')).text;
    assert.equal(sample(text, 'postline_queue_recipients{state="inflight"}'), 1);
    assert.equal(sample(text, 'postline_queue_recipients{state="deferred"}'), 1);
    assert.equal(sample(text, 'postline_deliveries_total{result="delivered"}'), 2);
    assert.equal(sample(text, 'postline_deliveries_total{result="bounced"}'), 1);
    assert.equal(sample(text, 'postline_deliveries_total{result="deferred"}'), 1);
    assert.equal(sample(text, 'postline_events_total{type="message.queued"}'), 2);
    assert.equal(sample(text, 'postline_webhook_deliveries_pending'), 1);
    // Counters only grow: a second scrape adds the new events to the old counts.
    await seedMessage(api.store, a.id, { to: ['d3@example.com'], outcomes: { 'd3@example.com': 'delivered' } });
    const again = (await api.anonymous.request('GET', '/metrics')).text;
    assert.equal(sample(again, 'postline_deliveries_total{result="delivered"}'), 3);
  });

  it('records API latency per route template, method and status class', async () => {
    await a.client.request('GET', '/api/v1/messages/nope');
    const text = (await api.anonymous.request('GET', '/metrics')).text;
    const count = sample(text, 'postline_http_request_duration_seconds_count{method="GET",route="/api/v1/messages/:id",status="4xx"}');
    assert.ok(count !== undefined && count >= 1, text);
    assert.ok(!text.includes('/api/v1/messages/nope'), 'raw URLs never become labels');
  });
});
