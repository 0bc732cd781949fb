import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import PostalMime from 'postal-mime';
import { startTestApi, isProblem, type TestApi, type TestTenant } from './api-test-app.ts';

describe('/api/v1/templates and sending by template', () => {
  let api: TestApi;
  let acme: TestTenant;
  let other: TestTenant;
  const welcome = {
    name: 'welcome',
    subject: 'Welcome, {{name}}!',
    html: '<h1>Hello {{name}}</h1><p>{{#if plan}}Plan: {{plan}}{{/if}}</p>',
    text: 'Hello {{name}}\n{{#each links}}- {{this}}\n{{/each}}',
  };
  before(async () => {
    api = await startTestApi();
    acme = await api.tenant('tpl-acme');
    other = await api.tenant('tpl-other');
    for (const [t, d] of [[acme, 'acme.example'], [other, 'other.example']] as const) {
      assert.equal((await t.client.request('POST', '/api/v1/domains', { name: d })).status, 201);
    }
  });
  after(() => api.close());

  it('creates (201), reads by id and by name, lists, changes and deletes a template', async () => {
    const created = await acme.client.request('POST', '/api/v1/templates', { ...welcome, name: 'crud' });
    assert.equal(created.status, 201, created.text);
    assert.match(created.body.id, /^tpl_/);
    assert.equal((await acme.client.request('GET', `/api/v1/templates/${created.body.id}`)).body.subject, welcome.subject);
    assert.equal((await acme.client.request('GET', '/api/v1/templates/crud')).body.id, created.body.id);
    const list = await acme.client.request('GET', '/api/v1/templates');
    assert.ok(list.body.data.some((t: any) => t.id === created.body.id));
    const changed = await acme.client.request('PATCH', '/api/v1/templates/crud', { subject: 'Changed {{x}}', text: null });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.subject, 'Changed {{x}}');
    assert.equal(changed.body.text, null);
    assert.equal(changed.body.html, welcome.html);
    assert.equal((await acme.client.request('DELETE', `/api/v1/templates/${created.body.id}`)).status, 204);
    assert.ok(isProblem(await acme.client.request('GET', `/api/v1/templates/${created.body.id}`), 404));
  });

  it('keeps names unique per tenant (409 at /name), while another tenant may use the same name', async () => {
    assert.equal((await acme.client.request('POST', '/api/v1/templates', { ...welcome, name: 'dup' })).status, 201);
    const again = await acme.client.request('POST', '/api/v1/templates', { ...welcome, name: 'dup' });
    assert.ok(isProblem(again, 409), again.text);
    assert.equal(again.body.errors[0].pointer, '/name');
    assert.equal((await other.client.request('POST', '/api/v1/templates', { ...welcome, name: 'dup' })).status, 201);
  });

  it('refuses a source that is not valid Handlebars with 422 pointing at the field', async () => {
    const res = await acme.client.request('POST', '/api/v1/templates', { name: 'broken', subject: 'ok', html: '<p>{{#if x}}</p>' });
    assert.ok(isProblem(res, 422), res.text);
    assert.deepEqual(res.body.errors.map((e: any) => e.pointer), ['/html']);
    assert.match(res.body.detail, /html/);
    const patch = await acme.client.request('PATCH', '/api/v1/templates/dup', { text: '{{/each}}' });
    assert.ok(isProblem(patch, 422), patch.text);
    assert.deepEqual(patch.body.errors.map((e: any) => e.pointer), ['/text']);
  });

  it('refuses CR or LF in a template subject (header injection) and a template without html or text', async () => {
    const res = await acme.client.request('POST', '/api/v1/templates', { name: 'inj', subject: 'Hi\r\nBcc: x@y.example', text: 'x' });
    assert.ok(isProblem(res, 400), res.text);
    assert.equal(res.body.errors[0].pointer, '/subject');
    assert.ok(isProblem(await acme.client.request('POST', '/api/v1/templates', { name: 'empty', subject: 'x' }), 400));
  });

  it('previews: html is HTML-escaped, subject and text are not; missing values render empty', async () => {
    await acme.client.request('POST', '/api/v1/templates', welcome);
    const res = await acme.client.request('POST', '/api/v1/templates/welcome/preview', { data: { name: 'Tom & <Jerry>', links: ['a', 'b'] } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, {
      subject: 'Welcome, Tom & <Jerry>!',
      html: '<h1>Hello Tom &amp; &lt;Jerry&gt;</h1><p></p>',
      text: 'Hello Tom & <Jerry>\n- a\n- b\n',
    });
  });

  it('answers a rendering error with 422 naming the template field (/text)', async () => {
    await acme.client.request('POST', '/api/v1/templates', { name: 'partial', subject: 'ok', text: 'see {{> footer}}' });
    const preview = await acme.client.request('POST', '/api/v1/templates/partial/preview', { data: {} });
    assert.ok(isProblem(preview, 422), preview.text);
    assert.deepEqual(preview.body.errors.map((e: any) => e.pointer), ['/text']);
    assert.equal(preview.body.template_field, 'text');
    const send = await acme.client.request('POST', '/api/v1/messages', { from: 'news@acme.example', to: 'a@x.example', template: 'partial' });
    assert.ok(isProblem(send, 422), send.text);
    assert.deepEqual(send.body.errors.map((e: any) => e.pointer), ['/text']);
  });

  it('sends by template name or id with data: subject, html and text rendered into the message', async () => {
    const byName = await acme.client.request('POST', '/api/v1/messages', { from: 'news@acme.example', to: 'a@x.example', template: 'welcome', data: { name: 'Ann', plan: 'pro', links: ['x'] } });
    assert.equal(byName.status, 202, byName.text);
    const row = await api.store.db.selectFrom('messages').select(['body', 'subject']).where('id', '=', byName.body.id).executeTakeFirstOrThrow();
    assert.equal(row.subject, 'Welcome, Ann!');
    const parsed = await PostalMime.parse(Buffer.from(row.body!));
    assert.equal(parsed.subject, 'Welcome, Ann!');
    assert.equal(parsed.html?.trim(), '<h1>Hello Ann</h1><p>Plan: pro</p>');
    assert.equal(parsed.text?.replace(/\r\n/g, '\n').trim(), 'Hello Ann\n- x');
    const id = (await acme.client.request('GET', '/api/v1/templates/welcome')).body.id;
    assert.equal((await acme.client.request('POST', '/api/v1/messages', { from: 'news@acme.example', to: 'a@x.example', template: id, data: { name: 'B' } })).status, 202);
  });

  it('refuses a subject that data turns into two lines (400 at /data)', async () => {
    const res = await acme.client.request('POST', '/api/v1/messages', { from: 'news@acme.example', to: 'a@x.example', template: 'welcome', data: { name: 'x\r\nBcc: victim@x.example' } });
    assert.ok(isProblem(res, 400), res.text);
    assert.deepEqual(res.body.errors.map((e: any) => e.pointer), ['/data']);
  });

  it('tenant isolation: another tenant\'s template is a 404, to read, preview, change, delete or send with', async () => {
    const mine = await acme.client.request('POST', '/api/v1/templates', { name: 'private', subject: 's', text: 't' });
    const id = mine.body.id;
    for (const [method, url, body] of [
      ['GET', `/api/v1/templates/${id}`, undefined], ['POST', `/api/v1/templates/${id}/preview`, { data: {} }],
      ['PATCH', `/api/v1/templates/${id}`, { subject: 'x' }], ['DELETE', `/api/v1/templates/${id}`, undefined],
    ] as const) {
      const res = await other.client.request(method, url, body);
      assert.ok(isProblem(res, 404), `${method} ${url}: ${res.text}`);
    }
    const send = await other.client.request('POST', '/api/v1/messages', { from: 'x@other.example', to: 'a@x.example', template: id });
    assert.ok(isProblem(send, 404), send.text);
    assert.deepEqual(send.body.errors.map((e: any) => e.pointer), ['/template']);
    // By name too: "private" is only acme's.
    assert.ok(isProblem(await other.client.request('POST', '/api/v1/messages', { from: 'x@other.example', to: 'a@x.example', template: 'private' }), 404));
    assert.equal((await acme.client.request('GET', `/api/v1/templates/${id}`)).status, 200);
  });
});
