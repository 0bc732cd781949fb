// SIGHUP reloads the TLS certificate and key from their files: a new STARTTLS (RFC 3207) or
// implicit TLS (RFC 8314) handshake presents the new certificate, while a session that was
// already up keeps working on the old one. A broken pair is refused and the old one kept.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { generate } from 'selfsigned';
import { startPostline, type PostlineProcess, type Endpoint } from '../helpers/postline.ts';

interface TlsSession {
  readonly fingerprint: string;
  command(line: string): Promise<string>;
  close(): void;
}

/** Reads one whole reply (RFC 5321 §4.2.1: the last line has a space after the code). */
function reader(socket: net.Socket | tls.TLSSocket): () => Promise<string> {
  let buf = '';
  return () => new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = /(^|\r\n)(\d{3} [^\r\n]*)\r\n/.exec(buf);
      if (!m) return false;
      const end = (m.index ?? 0) + m[0].length;
      const reply = buf.slice(0, end);
      buf = buf.slice(end);
      cleanup();
      resolve(reply);
      return true;
    };
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      check();
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`closed; buffered: ${buf}`));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    check();
  });
}

async function tlsSession(ep: Endpoint, implicit: boolean): Promise<TlsSession> {
  let secure: tls.TLSSocket;
  if (implicit) {
    secure = tls.connect({ host: ep.host, port: ep.port, rejectUnauthorized: false });
    await once(secure, 'secureConnect');
  } else {
    const plain = net.connect({ host: ep.host, port: ep.port });
    await once(plain, 'connect');
    const read = reader(plain);
    assert.match(await read(), /^220 /);
    plain.write('EHLO client.test\r\n');
    assert.match(await read(), /STARTTLS/);
    plain.write('STARTTLS\r\n');
    assert.match(await read(), /^220 /);
    secure = tls.connect({ socket: plain, rejectUnauthorized: false });
    await once(secure, 'secureConnect');
  }
  const read = reader(secure);
  if (implicit) assert.match(await read(), /^220 /);
  const command = async (line: string) => {
    secure.write(`${line}\r\n`);
    return read();
  };
  assert.match(await command('EHLO client.test'), /^250/);
  return { fingerprint: secure.getPeerCertificate().fingerprint256, command, close: () => secure.destroy() };
}

async function makeCert(commonName: string): Promise<{ cert: string; key: string; fingerprint: string }> {
  const pems = await generate([{ name: 'commonName', value: commonName }], { keySize: 2048, algorithm: 'sha256' });
  const fingerprint = new X509Certificate(pems.cert).fingerprint256;
  return { cert: pems.cert, key: pems.private, fingerprint };
}

describe('SIGHUP reloads the TLS certificate and key', () => {
  let proc: PostlineProcess;
  let dir: string;
  let first: Awaited<ReturnType<typeof makeCert>>;
  let second: Awaited<ReturnType<typeof makeCert>>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-tls-'));
    [first, second] = await Promise.all([makeCert('first.postline.test'), makeCert('second.postline.test')]);
    await writeFile(join(dir, 'cert.pem'), first.cert);
    await writeFile(join(dir, 'key.pem'), first.key, { mode: 0o600 });
    proc = await startPostline({
      env: { POSTLINE_TLS_CERT: join(dir, 'cert.pem'), POSTLINE_TLS_KEY: join(dir, 'key.pem'), POSTLINE_MX_LISTEN: 'off' },
    });
  });

  after(async () => {
    await proc?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function hup(expect: RegExp): Promise<void> {
    const before = proc.logs().length;
    proc.child.kill('SIGHUP');
    for (let i = 0; i < 100 && !expect.test(proc.logs().slice(before)); i++) await sleep(50);
    assert.match(proc.logs().slice(before), expect);
  }

  it('presents the new certificate on new STARTTLS and implicit-TLS sessions after SIGHUP while an open session keeps working', { timeout: 30_000 }, async () => {
    const old = await tlsSession(proc.smtp, false);
    assert.equal(old.fingerprint, first.fingerprint);

    await writeFile(join(dir, 'cert.pem'), second.cert);
    await writeFile(join(dir, 'key.pem'), second.key, { mode: 0o600 });
    await hup(/TLS certificate and key reloaded/);

    const fresh = await tlsSession(proc.smtp, false);
    assert.equal(fresh.fingerprint, second.fingerprint, 'STARTTLS presents the new certificate');
    const implicit = await tlsSession(proc.smtps, true);
    assert.equal(implicit.fingerprint, second.fingerprint, 'implicit TLS presents the new certificate');
    // The session opened before the reload was not dropped.
    assert.match(await old.command('NOOP'), /^250 /);
    for (const s of [old, fresh, implicit]) s.close();
  });

  it('keeps the running certificate when the files on SIGHUP do not form a pair (TLS_RELOAD_FAILED)', { timeout: 30_000 }, async () => {
    // A key that does not match the certificate, as a half-finished renewal leaves it.
    await writeFile(join(dir, 'cert.pem'), first.cert);
    await hup(/TLS reload failed/);
    assert.match(proc.logs(), /TLS_RELOAD_FAILED/);
    const s = await tlsSession(proc.smtp, false);
    assert.equal(s.fingerprint, second.fingerprint, 'still the last good certificate');
    s.close();
  });
});
