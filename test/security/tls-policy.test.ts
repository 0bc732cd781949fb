// Issue 8, TLS policy: TLS 1.2 is the minimum on the implicit-TLS listener (RFC 8314) and
// after STARTTLS (RFC 3207) (RFC 9325 §3.1.1: no TLS 1.0/1.1); a modern client negotiates an
// AEAD suite (RFC 9325 §4.2). CBC suites are still accepted under TLS 1.2 (interop), and
// STARTTLS command injection (CVE-2011-0411 and its kind) is refused: plaintext pipelined
// after STARTTLS is discarded, never executed inside the encrypted session (RFC 3207 §4.2).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';

let proc: PostlineProcess;

before(async () => {
  proc = await startPostline({ tenant: { name: 'acme', domains: ['acme.test'] } });
});
after(() => proc?.cleanup());

/** Handshakes over `socket` (or a new connection to the implicit-TLS port); resolves to the socket or rejects. */
async function handshake(options: ConnectionOptions, socket?: Socket): Promise<TLSSocket> {
  const s = socket
    ? tlsConnect({ socket, rejectUnauthorized: false, ...options })
    : tlsConnect({ host: proc.smtps.host, port: proc.smtps.port, rejectUnauthorized: false, ...options });
  try {
    await once(s, 'secureConnect');
    return s;
  } catch (err) {
    s.destroy();
    throw err;
  }
}

/** A plaintext submission session that has sent STARTTLS and read its 220; returns the raw socket. */
async function afterStartTls(): Promise<Socket> {
  const socket = netConnect({ host: proc.smtp.host, port: proc.smtp.port });
  await once(socket, 'connect');
  let buffered = '';
  const waitFor = (re: RegExp) => new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      if (re.test(buffered)) {
        socket.off('data', onData);
        buffered = '';
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  await waitFor(/^220 .*\r\n/m);
  socket.write('EHLO client.postline.test\r\n');
  await waitFor(/^250 .*\r\n/m);
  socket.write('STARTTLS\r\n');
  await waitFor(/^220 .*\r\n/m);
  return socket;
}

// Node's OpenSSL refuses to offer TLS < 1.2 at its default security level; allow it on the
// client so that the refusal measured is the server's.
const OLD_CLIENT = { ciphers: 'DEFAULT:@SECLEVEL=0' } as const;

describe('RFC 8314 implicit TLS listener: protocol versions', () => {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    it(`refuses a ${version} handshake`, async () => {
      await assert.rejects(handshake({ ...OLD_CLIENT, minVersion: version, maxVersion: version }));
    });
  }
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`accepts ${version} with an AEAD cipher suite`, async () => {
      const s = await handshake({ minVersion: version, maxVersion: version });
      try {
        assert.equal(s.getProtocol(), version);
        assert.match(s.getCipher().name, /GCM|CHACHA20/);
      } finally {
        s.destroy();
      }
    });
  }
});

describe('RFC 9325 §4.2 submission cipher suites', () => {
  it('refuses a TLS 1.2 client that offers only CBC suites on the implicit-TLS listener', async () => {
    await assert.rejects(handshake({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA:AES128-SHA' }));
  });

  it('refuses CBC-only after STARTTLS as well', async () => {
    await assert.rejects(handshake({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-SHA:AES256-SHA' }, await afterStartTls()));
  });
});

describe('RFC 3207 STARTTLS: protocol versions', () => {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    it(`refuses a ${version} handshake after 220 to STARTTLS`, async () => {
      const socket = await afterStartTls();
      await assert.rejects(handshake({ ...OLD_CLIENT, minVersion: version, maxVersion: version }, socket));
      socket.destroy();
    });
  }
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`accepts ${version} after 220 to STARTTLS, and EHLO then answers 250`, async () => {
      const socket = await afterStartTls();
      const s = await handshake({ minVersion: version, maxVersion: version }, socket);
      try {
        assert.equal(s.getProtocol(), version);
        assert.match(s.getCipher().name, /GCM|CHACHA20/);
        s.write('EHLO client.postline.test\r\n');
        const [chunk] = await once(s, 'data') as [Buffer];
        assert.match(chunk.toString('latin1'), /^250[ -]/);
      } finally {
        s.destroy();
      }
    });
  }
});

describe('RFC 3207 §4.2 STARTTLS command injection', () => {
  it('discards a MAIL FROM pipelined in plaintext after STARTTLS: inside TLS, EHLO answers 250 first and RCPT answers 503', async () => {
    // One write: STARTTLS and a command a man in the middle appended in plaintext. After the
    // handshake, EHLO must be the first thing answered and RCPT must find no transaction.
    const socket = netConnect({ host: proc.smtp.host, port: proc.smtp.port });
    await once(socket, 'connect');
    let plain = '';
    const plainReader = (c: Buffer) => (plain += c.toString('latin1'));
    socket.on('data', plainReader);
    while (!/^220 .*\r\n/m.test(plain)) await once(socket, 'data');
    plain = '';
    socket.write('EHLO client.postline.test\r\n');
    while (!/^250 .*\r\n/m.test(plain)) await once(socket, 'data');
    plain = '';
    socket.write('STARTTLS\r\nMAIL FROM:<attacker@acme.test>\r\n');
    while (!/^220 .*\r\n/m.test(plain)) await once(socket, 'data');
    socket.off('data', plainReader);
    const secure = await handshake({}, socket);
    let text = '';
    secure.on('data', (c: Buffer) => (text += c.toString('latin1')));
    secure.on('error', () => undefined);
    const replyTo = async (line: string): Promise<string> => {
      text = '';
      secure.write(`${line}\r\n`);
      const deadline = Date.now() + 5_000;
      while (!/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return text;
    };
    try {
      const ehlo = await replyTo('EHLO client.postline.test');
      assert.match(ehlo, /^250[ -]/, `EHLO is the first reply inside TLS (no reply to an injected command came first): ${JSON.stringify(ehlo)}`);
      const auth = await replyTo(`AUTH PLAIN ${Buffer.from(`\0${proc.credential!.username}\0${proc.credential!.password}`).toString('base64')}`);
      assert.match(auth, /^235 /);
      const rcpt = await replyTo('RCPT TO:<someone@example.net>');
      assert.match(rcpt, /^503 /, `RCPT without MAIL answers 503: the injected MAIL FROM did not run (${JSON.stringify(rcpt)})`);
    } finally {
      secure.destroy();
    }
  });
});
