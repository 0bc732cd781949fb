// The API on the real server (`postline start`), over a loopback socket.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { once } from 'node:events';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp } from '../helpers/smtp-talk.ts';

describe('HTTP API on the running server', () => {
  let proc: PostlineProcess;
  let base: string;
  let admin: string;
  before(async () => {
    proc = await startPostline();
    base = `http://${proc.http!.host}:${proc.http!.port}`;
    admin = readFileSync(join(proc.dataDir, 'admin-token'), 'utf8').trim();
  });
  after(() => proc.cleanup());

  const call = (method: string, path: string, token: string | null, body?: unknown) => fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

  it('admin token creates a tenant and a key; the key lists its own keys; its SMTP credential works for AUTH', async () => {
    const tenant = await call('POST', '/api/v1/tenants', admin, { name: 'acme' });
    assert.equal(tenant.status, 201);
    const { id } = await tenant.json() as { id: string };
    const created = await call('POST', `/api/v1/tenants/${id}/keys`, admin, { name: 'app', scopes: ['manage', 'read'] });
    assert.equal(created.status, 201);
    const key = await created.json() as { id: string; key: string };
    const listed = await call('GET', '/api/v1/keys', key.key);
    assert.equal(listed.status, 200);
    assert.deepEqual(((await listed.json()) as { data: Array<{ id: string }> }).data.map((k) => k.id), [key.id]);

    const credRes = await call('POST', '/api/v1/smtp-credentials', key.key, {});
    assert.equal(credRes.status, 201);
    const cred = await credRes.json() as { username: string; password: string };
    const smtp = await connectSmtp({ host: proc.smtp.host, port: proc.smtp.port });
    try {
      await smtp.ehlo('client.test');
      await smtp.startTls();
      await smtp.ehlo('client.test');
      assert.equal((await smtp.authPlain(cred.username, cred.password)).code, 235);
    } finally {
      smtp.close();
    }
  });

  it('answers 401 problem+json with WWW-Authenticate without a token', async () => {
    const res = await call('GET', '/api/v1/tenants', null);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="postline"');
    assert.equal(((await res.json()) as { status: number }).status, 401);
  });

  it('serves /api/v1/openapi.json, /healthz and /readyz', async () => {
    const doc = await (await call('GET', '/api/v1/openapi.json', null)).json() as { openapi: string; paths: Record<string, unknown> };
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/api/v1/keys']);
    assert.equal((await call('GET', '/healthz', null)).status, 200);
    assert.equal((await call('GET', '/readyz', null)).status, 200);
  });

  it('answers malformed HTTP with a 400 problem on the socket', async () => {
    const socket = connect(proc.http!.port, proc.http!.host);
    await once(socket, 'connect');
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    let data = '';
    socket.on('data', (d: Buffer) => { data += d.toString(); });
    await once(socket, 'close');
    assert.match(data, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(data, /Content-Type: application\/problem\+json/);
    assert.equal(JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4)).status, 400);
  });
});
