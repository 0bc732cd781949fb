import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey, generateKeyPair } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { dkimSignatureHeaders, dkimHeaderList, DkimSignError, type DkimSigningKey } from '../../src/domains/index.ts';
import { splitMessage } from '../../src/domains/dkim-canon.ts';
import { dkimRecordValue, publicKeyValue } from '../../src/domains/dkim-keys.ts';
import { DnsResolver } from '../../src/delivery/dns-resolver.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';

const VERIFY_PY = fileURLToPath(new URL('../helpers/dkim-verify.py', import.meta.url));

/** A key pair as dkim-keys.ts makes them: SPKI DER public key, PKCS#8 PEM private key. */
function keyPair(type: 'rsa' | 'ed25519'): Promise<{ publicKey: Buffer; privateKey: string }> {
  const enc = { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: Buffer, privateKey: string): void => (err ? reject(err) : resolve({ publicKey, privateKey }));
    if (type === 'rsa') generateKeyPair('rsa', { modulusLength: 2048, ...enc }, done);
    else generateKeyPair('ed25519', enc, done);
  });
}

/** Runs python3-dkim over `message`; resolves with its exit code and output. */
function pythonVerify(message: Buffer, port: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', [VERIFY_PY, String(port)], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(err);
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, out: `${stdout}${stderr}` });
    });
    child.stdin!.end(message);
  });
}

const MESSAGE = Buffer.from([
  'Received: from app (app [127.0.0.1]) by mta.postline.test',
  'From: "Acme News"  <news@signing.test>',
  'To: reader@example.net,',
  '\tsecond@example.net',
  'Subject:   Weekly   digest\t',
  'Date: Fri, 27 Nov 2026 10:00:00 +0000',
  'Message-ID: <abc@signing.test>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  'List-Unsubscribe: <https://signing.test/u/1>, <mailto:u@signing.test>',
  'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
  'Feedback-ID: c1:acme:news:postline',
  'X-Not-Signed: whatever',
  '',
  'Hello  reader, \t',
  'Ünïcode body line',
  '',
  '',
].join('\r\n'), 'utf8');

describe('DKIM signing (RFC 6376 relaxed/relaxed, RFC 8463 Ed25519)', () => {
  let dns: TestDnsServer;
  let rsa: DkimSigningKey;
  let ed: DkimSigningKey;
  let resolver: DnsResolver;

  before(async () => {
    dns = await startDnsServer();
    resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 2000, maxCacheTtlMs: 0 });
    const [r, e] = await Promise.all([keyPair('rsa'), keyPair('ed25519')]);
    rsa = { domain: 'signing.test', selector: 'pl20261127r', algorithm: 'rsa-sha256', privateKeyPem: r.privateKey };
    ed = { domain: 'signing.test', selector: 'pl20261127e', algorithm: 'ed25519-sha256', privateKeyPem: e.privateKey };
    dns.addRecord('pl20261127r._domainkey.signing.test', { type: 'TXT', value: dkimRecordValue('rsa-sha256', publicKeyValue('rsa-sha256', r.publicKey)) });
    dns.addRecord('pl20261127e._domainkey.signing.test', { type: 'TXT', value: dkimRecordValue('ed25519-sha256', publicKeyValue('ed25519-sha256', e.publicKey)) });
  });
  after(() => dns.close());

  it('signs List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 §4) and over-signs From, To, Subject, Date (RFC 6376 §8.15)', async () => {
    const headers = await dkimSignatureHeaders(MESSAGE, [rsa], { now: new Date('2026-11-27T10:00:01Z') });
    assert.match(headers, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=signing\.test;/);
    assert.ok(headers.endsWith('\r\n'));
    assert.ok(headers.split('\r\n').every((line) => line.length <= 78), 'folded under 78 octets');
    const h = /h=([^;]+);/.exec(headers.replace(/\r\n\t/g, ' '))![1].split(':').map((n) => n.trim().toLowerCase());
    for (const name of ['from', 'to', 'subject', 'date']) assert.equal(h.filter((n) => n === name).length, 2, `${name} listed twice`);
    for (const name of ['list-unsubscribe', 'list-unsubscribe-post', 'feedback-id', 'message-id', 'mime-version', 'content-type']) assert.equal(h.filter((n) => n === name).length, 1, name);
    assert.ok(!h.includes('received') && !h.includes('x-not-signed') && !h.includes('cc') && !h.includes('references'), 'only listed names that are present');
    assert.match(headers, /t=1795773601;/);
  });

  it('produces RSA and Ed25519 signatures that mailauth dkimVerify passes', async () => {
    const signed = Buffer.concat([Buffer.from(await dkimSignatureHeaders(MESSAGE, [rsa, ed])), MESSAGE]);
    const result = await dkimVerify(signed, { resolver: (name: string, type: string) => resolver.resolve(name, type) as Promise<never> });
    assert.equal(result.results.length, 2);
    for (const r of result.results) assert.equal(r.status.result, 'pass', r.info);
    assert.deepEqual(result.results.map((r) => r.algo), ['rsa-sha256', 'ed25519-sha256']);
  });

  it('produces RSA and Ed25519 signatures that python3-dkim (dkimpy) passes, via the test DNS server', async () => {
    const signed = Buffer.concat([Buffer.from(await dkimSignatureHeaders(MESSAGE, [rsa, ed])), MESSAGE]);
    const { code, out } = await pythonVerify(signed, dns.port);
    assert.equal(code, 0, out);
    assert.match(out, /0 signing\.test pl20261127r rsa-sha256 pass/);
    assert.match(out, /1 signing\.test pl20261127e ed25519-sha256 pass/);
  });

  it('fails verification when a second From is added after signing (the over-signed From)', async () => {
    const signed = Buffer.concat([Buffer.from(await dkimSignatureHeaders(MESSAGE, [rsa])), Buffer.from('From: evil@attacker.example\r\n'), MESSAGE]);
    const result = await dkimVerify(signed, { resolver: (name: string, type: string) => resolver.resolve(name, type) as Promise<never> });
    assert.notEqual(result.results[0].status.result, 'pass');
    assert.notEqual((await pythonVerify(signed, dns.port)).code, 0);
  });

  it('fails verification when the body changes, and passes when only whitespace at line ends changes (relaxed body)', async () => {
    const sig = Buffer.from(await dkimSignatureHeaders(MESSAGE, [ed]));
    const tampered = Buffer.from(MESSAGE.toString('utf8').replace('Hello  reader', 'Hello  robber'));
    assert.notEqual((await pythonVerify(Buffer.concat([sig, tampered]), dns.port)).code, 0);
    const reflowed = Buffer.from(MESSAGE.toString('utf8').replace('Hello  reader, \t', 'Hello reader,') + '\r\n\r\n');
    assert.equal((await pythonVerify(Buffer.concat([sig, reflowed]), dns.port)).code, 0);
  });

  it('signs the header section alone given the body hash (a spooled body hashed as a stream), verifiably', async () => {
    const { relaxedBodyHash } = await import('../../src/domains/dkim-canon.ts');
    const split = MESSAGE.indexOf('\r\n\r\n') + 4;
    const bodyHash = await relaxedBodyHash(MESSAGE.subarray(split));
    const headers = await dkimSignatureHeaders(MESSAGE.subarray(0, split), [rsa, ed], { bodyHash });
    assert.match(headers.replace(/\r\n\t/g, ' '), new RegExp(`bh=${bodyHash.replace(/[+/]/g, '\\$&')};`));
    const { code, out } = await pythonVerify(Buffer.concat([Buffer.from(headers), MESSAGE]), dns.port);
    assert.equal(code, 0, out);
  });

  it('signs an empty body and a message whose header section is all there is', async () => {
    for (const raw of ['From: a@signing.test\r\nSubject: x\r\n\r\n', 'From: a@signing.test\r\nSubject: x\r\n']) {
      const message = Buffer.from(raw);
      const signed = Buffer.concat([Buffer.from(await dkimSignatureHeaders(message, [rsa, ed])), message]);
      const { code, out } = await pythonVerify(signed, dns.port);
      assert.equal(code, 0, `${JSON.stringify(raw)}: ${out}`);
    }
  });

  it('returns nothing without keys, and refuses a message without From with DKIM_NO_FROM (RFC 6376 §5.4)', async () => {
    assert.equal(await dkimSignatureHeaders(MESSAGE, []), '');
    await assert.rejects(dkimSignatureHeaders(Buffer.from('To: a@b.example\r\n\r\nx\r\n'), [rsa]), (err: DkimSignError) => err.code === 'DKIM_NO_FROM');
  });

  it('lists an over-signed name once when it is absent, and a repeated field as often as it occurs', () => {
    const { fields } = splitMessage(Buffer.from('From: a@x.test\r\nReferences: <1@x>\r\nReferences: <2@x>\r\n\r\n'));
    assert.deepEqual(dkimHeaderList(fields), ['From', 'From', 'To', 'Subject', 'Date', 'References', 'References']);
  });

  it('publishes the Ed25519 key as the raw 32 bytes (RFC 8463 §4.2)', async () => {
    const { publicKey } = await keyPair('ed25519');
    const p = publicKeyValue('ed25519-sha256', publicKey);
    assert.equal(Buffer.from(p, 'base64').length, 32);
    const jwk = createPublicKey({ key: publicKey, format: 'der', type: 'spki' }).export({ format: 'jwk' });
    assert.equal(Buffer.from(p, 'base64').toString('base64url'), jwk.x);
  });
});
