// Issue 8: slow HTTP clients (slowloris: request headers trickled a byte at a time) and a
// flood of idle connections do not starve other clients: a well-behaved API client still
// completes each request well within 1 s while the attack runs; the slow sockets are cut at
// http.request_timeout.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';

const SLOW = 300;
const IDLE = 500;

let postline: PostlineProcess;
let key: string;
const sockets: net.Socket[] = [];

before(async () => {
  postline = await startPostline({ env: { POSTLINE_HTTP_REQUEST_TIMEOUT: '4s' }, tenant: { name: 'acme', domains: ['acme.test'] } });
  key = (await postline.cli('key', 'create', '--tenant', 'acme', '--scopes', 'send,read')).key;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await postline?.cleanup();
});

function open(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: postline.http!.host, port: postline.http!.port }, () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
    sockets.push(s);
  });
}

describe('HTTP under a slowloris and an idle-connection flood', () => {
  it(`serves a normal client in < 1 s per request beside ${SLOW} slow and ${IDLE} idle connections, and cuts the slow ones at http.request_timeout`, async () => {
    const slow = await Promise.all(Array.from({ length: SLOW }, open));
    await Promise.all(Array.from({ length: IDLE }, open));
    // A request line and a header field that never ends: one more valid byte every 500 ms.
    for (const s of slow) s.write('GET /api/v1/messages HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    let closed = 0;
    for (const s of slow) s.once('close', () => closed++);
    const trickle = setInterval(() => {
      for (const s of slow) if (!s.destroyed) s.write('a');
    }, 500);
    try {
      const base = `http://${postline.http!.host}:${postline.http!.port}`;
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}/api/v1/messages?limit=5`, { headers: { authorization: `Bearer ${key}` } });
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        times.push(performance.now() - t0);
        await sleep(100);
      }
      console.log(`# http slowloris: normal requests ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
      assert.ok(Math.max(...times) < 1000, `slowest ${Math.max(...times).toFixed(0)} ms`);
      // The request timeout (4 s here) ends the trickling sockets.
      const deadline = Date.now() + 15_000;
      while (closed < SLOW && Date.now() < deadline) await sleep(200);
      assert.equal(closed, SLOW, 'every slowloris socket was closed by the server');
    } finally {
      clearInterval(trickle);
    }
  });
});
