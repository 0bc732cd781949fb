import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi, isProblem, type TestApi, type TestTenant } from '../api-test-app.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

describe('message content: /api/v1/messages/{id}/content and /attachments/{index}', () => {
  let api: TestApi;
  let acme: TestTenant;
  let id: string;
  before(async () => {
    api = await startTestApi();
    acme = await api.tenant('acme');
    await acme.client.request('POST', '/api/v1/domains', { name: 'acme.example' });
    const res = await acme.client.request('POST', '/api/v1/messages', {
      from: 'news@acme.example', to: 'ann@example.net', subject: 'Grüße', text: 'Hello text',
      html: '<p>Hello <img src="cid:logo" alt="logo"></p>',
      attachments: [
        { filename: 'logo.png', content: PNG.toString('base64'), content_type: 'image/png', content_id: 'logo' },
        { filename: 'Rechnung März.pdf', content: Buffer.from('%PDF-1.4 fake').toString('base64'), content_type: 'application/pdf' },
      ],
      send_at: new Date(Date.now() + 3600_000).toISOString(),
    });
    assert.equal(res.status, 202, res.text);
    id = res.body.id;
  });
  after(() => api.close());

  it('answers the decoded subject, text and HTML, with cid: images inlined as data: URIs, and lists the attachments', async () => {
    const res = await acme.client.request('GET', `/api/v1/messages/${id}/content`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.subject, 'Grüße');
    assert.equal(res.body.text.trim(), 'Hello text');
    assert.match(res.body.html, /<img src="data:image\/png;base64,iVBOR[^"]+" alt="logo">/);
    assert.deepEqual(res.body.attachments.map((a: any) => [a.index, a.filename, a.content_type, a.content_id, a.size]), [
      [0, 'logo.png', 'image/png', 'logo', PNG.length],
      [1, 'Rechnung März.pdf', 'application/pdf', null, 13],
    ]);
  });

  it('serves an attachment decoded, as a download with an RFC 6266 filename*', async () => {
    const res = await api.app.inject({ method: 'GET', url: `/api/v1/messages/${id}/attachments/1`, headers: { authorization: `Bearer ${acme.key}` } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/pdf');
    assert.equal(res.headers['content-disposition'], `attachment; filename="Rechnung M_rz.pdf"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf`);
    assert.equal(res.body, '%PDF-1.4 fake');
    assert.ok(isProblem(await acme.client.request('GET', `/api/v1/messages/${id}/attachments/7`), 404));
  });

  it('answers 404 MESSAGE_BODY_EXPIRED once retention removed the bytes', async () => {
    await api.store.write((trx) => trx.updateTable('messages').set({ body: null, body_path: null }).where('id', '=', id).execute());
    const res = await acme.client.request('GET', `/api/v1/messages/${id}/content`);
    assert.ok(isProblem(res, 404));
    assert.equal(res.body.code, 'MESSAGE_BODY_EXPIRED');
  });
});
