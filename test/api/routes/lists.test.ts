import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startTestApi, isProblem, type TestApi, type TestTenant } from '../api-test-app.ts';

describe('contact lists: CSV import with a job, progress and a rejected-rows report; export', () => {
  let api: TestApi;
  let t: TestTenant;
  before(async () => {
    api = await startTestApi();
    t = await api.tenant();
  });
  after(() => api.close());

  it('imports good rows and reports invalid, duplicate, suppressed and malformed rows by line', async () => {
    const list = await t.client.request('POST', '/api/v1/lists', { name: 'Newsletter' });
    assert.equal(list.status, 201, list.text);
    const sup = await t.client.request('POST', '/api/v1/suppressions', { stream: 'broadcast', entries: [{ address: 'gone@example.com', reason: 'complaint' }] });
    assert.equal(sup.status, 200, sup.text);
    const csv = [
      'email,name,plan,city', // line 1
      'ann@example.com,Ann,gold,Oslo', // 2 good
      'not-an-address,Bob,,', // 3 invalid
      'Carl@Example.com,Carl,silver,', // 4 good (normalised)
      'ann@example.com,Ann again,,', // 5 duplicate of line 2
      'gone@example.com,Gone,,', // 6 suppressed
      ',Empty,,', // 7 invalid (empty)
      'dee@example.com,"De""e",bronze,Rome', // 8 good, quoted
      'eve@example.com,E"ve,,', // 9 malformed quoting
      'CARL@example.com,Carl2,,', // 10 duplicate of line 4
    ].join('\r\n');
    const res = await t.client.request('POST', `/api/v1/lists/${list.body.id}/import`, csv, { 'content-type': 'text/csv' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'finished');
    assert.deepEqual({ rows: res.body.rows, imported: res.body.imported, existing: res.body.existing, rejected: res.body.rejected }, { rows: 9, imported: 3, existing: 0, rejected: 6 });
    assert.equal(res.headers.location, `/api/v1/lists/${list.body.id}/imports/${res.body.id}`);

    const job = await t.client.request('GET', `/api/v1/lists/${list.body.id}/imports/${res.body.id}`);
    assert.equal(job.status, 200);
    assert.equal(job.body.rejected, 6);

    const report = await t.client.request('GET', res.body.rejected_url);
    assert.equal(report.status, 200);
    assert.match(String(report.headers['content-type']), /^text\/csv/);
    const lines = report.text.trim().split('\r\n').map((l) => l.split(',').slice(0, 3).join(','));
    assert.deepEqual(lines, [
      'line,email,reason', '3,not-an-address,invalid', '5,ann@example.com,duplicate', '6,gone@example.com,suppressed', '7,,invalid',
      '9,eve@example.com,malformed', '10,carl@example.com,duplicate',
    ]);

    const members = await t.client.request('GET', `/api/v1/contacts?list_id=${list.body.id}`);
    assert.deepEqual(members.body.data.map((c: { email: string }) => c.email).sort(), ['ann@example.com', 'carl@example.com', 'dee@example.com']);
    const dee = members.body.data.find((c: { email: string }) => c.email === 'dee@example.com');
    assert.equal(dee.name, 'De"e');
    assert.deepEqual(dee.attributes, { plan: 'bronze', city: 'Rome' });

    // The same file again: nothing new, three already on the list.
    const again = await t.client.request('POST', `/api/v1/lists/${list.body.id}/import`, csv, { 'content-type': 'text/csv' });
    assert.deepEqual({ imported: again.body.imported, existing: again.body.existing, rejected: again.body.rejected }, { imported: 0, existing: 3, rejected: 6 });

    const exported = await t.client.request('GET', `/api/v1/lists/${list.body.id}/export`);
    assert.equal(exported.status, 200);
    const rows = exported.text.trim().split('\r\n');
    assert.equal(rows[0], 'email,name,status,list_status,created_at,city,plan');
    assert.equal(rows.length, 4);
    assert.match(rows.find((r) => r.startsWith('dee@'))!, /^dee@example.com,"De""e",subscribed,subscribed,[^,]+,Rome,bronze$/);
    const counts = await t.client.request('GET', `/api/v1/lists/${list.body.id}`);
    assert.deepEqual(counts.body.members, { subscribed: 3, unsubscribed: 0, unconfirmed: 0 });
  });

  it('refuses a file without an email column with 400 CSV_HEADER_INVALID and marks the job failed', async () => {
    const list = await t.client.request('POST', '/api/v1/lists', { name: 'No header' });
    const res = await t.client.request('POST', `/api/v1/lists/${list.body.id}/import`, 'name,city\r\nAnn,Oslo\r\n', { 'content-type': 'text/csv' });
    assert.ok(isProblem(res, 400), res.text);
    assert.equal(res.body.code, 'CSV_HEADER_INVALID');
  });

  it('refuses JSON on the import route with 415', async () => {
    const list = await t.client.request('POST', '/api/v1/lists', { name: 'Json' });
    const res = await t.client.request('POST', `/api/v1/lists/${list.body.id}/import`, { email: 'x@example.com' });
    assert.ok(isProblem(res, 415), res.text);
  });

  it('answers 409 LIST_EXISTS for a second list of the same name', async () => {
    await t.client.request('POST', '/api/v1/lists', { name: 'Dup' });
    const res = await t.client.request('POST', '/api/v1/lists', { name: 'Dup' });
    assert.ok(isProblem(res, 409));
    assert.equal(res.body.code, 'LIST_EXISTS');
  });

  it('streams 120,000 rows in batches with the heap staying flat (no whole-file buffering)', async () => {
    const list = await t.client.request('POST', '/api/v1/lists', { name: 'Big' });
    const { importContactsCsv } = await import('../../../src/campaigns/index.ts');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap: number[] = [];
    let progressCalls = 0;
    async function* gen() {
      yield 'email,name,n\n';
      for (let i = 0; i < 120; i++) {
        let chunk = '';
        for (let j = 0; j < 1000; j++) chunk += `user${i * 1000 + j}@big.example,User ${j},${j}\n`;
        yield chunk;
      }
    }
    const job = await importContactsCsv(api.store, t.id, list.body.id, gen(), {
      onProgress: () => {
        if (++progressCalls % 20 === 0) {
          gc();
          heap.push(process.memoryUsage().heapUsed);
        }
      },
    });
    assert.equal(job.imported, 120_000);
    assert.equal(job.rejected, 0);
    assert.equal(progressCalls, 120);
    // After the first 20,000 rows, the live heap does not grow with the rows read.
    const growth = Math.max(...heap.slice(1)) - heap[0];
    assert.ok(growth < 8 * 1024 * 1024, `live heap grew by ${Math.round(growth / 1048576)} MB over 100,000 rows: ${heap.map((h) => Math.round(h / 1048576)).join(', ')} MB`);
  });
});
