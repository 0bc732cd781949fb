import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { dkimSign } from 'mailauth';
import { authenticationResults, mailauthResolver } from '../../src/bounces/index.ts';
import type { MailauthResolver } from '../../src/bounces/index.ts';
import { DnsResolver } from '../../src/delivery/dns-resolver.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import type { TestDnsServer } from '../helpers/dns-server.ts';

const generate = promisify(generateKeyPair);
const DOMAIN = 'sender.test';
const HOSTNAME = 'mx.postline.test';

let dns: TestDnsServer;
let rsa: { privateKey: string; dnsValue: string };
let ed25519: { privateKey: string; dnsValue: string };

before(async () => {
  dns = await startDnsServer();
  const [rsaKeys, edKeys] = await Promise.all([
    generate('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }),
    generate('ed25519', { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }),
  ]);
  rsa = { privateKey: rsaKeys.privateKey, dnsValue: `v=DKIM1; k=rsa; p=${rsaKeys.publicKey.toString('base64')}` };
  // RFC 8463 §4.2: the Ed25519 record holds the raw 32-byte key, the tail of its SPKI form.
  ed25519 = { privateKey: edKeys.privateKey, dnsValue: `v=DKIM1; k=ed25519; p=${edKeys.publicKey.subarray(-32).toString('base64')}` };
});
after(() => dns.close());
beforeEach(() => {
  dns.reset();
  dns.setRecords({
    // RFC 7208: only 127.0.0.1 may send for the domain.
    [DOMAIN]: [{ type: 'TXT', value: 'v=spf1 ip4:127.0.0.1 -all' }],
    [`rsa2024._domainkey.${DOMAIN}`]: [{ type: 'TXT', value: rsa.dnsValue }],
    [`ed2024._domainkey.${DOMAIN}`]: [{ type: 'TXT', value: ed25519.dnsValue }],
    [`_dmarc.${DOMAIN}`]: [{ type: 'TXT', value: 'v=DMARC1; p=reject; rua=mailto:dmarc@sender.test' }],
  });
});

function resolver(): MailauthResolver {
  return mailauthResolver(new DnsResolver({ servers: [dns.address], timeoutMs: 300, maxCacheTtlMs: 0, tries: 1 }));
}

async function signedMessage(): Promise<Buffer> {
  const message = Buffer.from([
    `From: News <news@${DOMAIN}>`,
    'To: reader@hosted.test',
    'Subject: Signed',
    'Date: Tue, 04 Jun 2024 10:00:00 +0000',
    `Message-ID: <signed-1@${DOMAIN}>`,
    '',
    'Hello from a signed message.',
    '',
  ].join('\r\n'));
  // RFC 8463 §3: sign with both while verifiers catch up. mailauth signs `signatureData`; its
  // typings also want the first signature's fields at the top level.
  const rsaSignature = { signingDomain: DOMAIN, selector: 'rsa2024', privateKey: rsa.privateKey };
  const { signatures, errors } = await dkimSign(message, {
    ...rsaSignature,
    signatureData: [rsaSignature, { signingDomain: DOMAIN, selector: 'ed2024', privateKey: ed25519.privateKey, algorithm: 'ed25519-sha256' }],
  });
  assert.deepEqual(errors, []);
  assert.equal(signatures.match(/^DKIM-Signature: /gm)?.length, 2);
  return Buffer.concat([Buffer.from(signatures), message]);
}

describe('RFC 8601 Authentication-Results for inbound mail (SPF, DKIM, DMARC via mailauth)', () => {
  it('an aligned, signed message from a permitted IP gets spf=pass, dkim=pass (RSA and Ed25519) and dmarc=pass', async () => {
    const field = await authenticationResults({
      raw: await signedMessage(), ip: '127.0.0.1', helo: `mta.${DOMAIN}`, mailFrom: `bounce@${DOMAIN}`, hostname: HOSTNAME, resolver: resolver(),
    });
    assert.match(field, new RegExp(`^Authentication-Results: ${HOSTNAME.replace(/\./g, '\\.')};\\r\\n`));
    assert.match(field, /\r\n$/);
    assert.doesNotMatch(field, /Received-SPF/i);
    // RFC 5322 §2.2.3: every line after the first is a continuation line.
    for (const line of field.trimEnd().split('\r\n').slice(1)) assert.match(line, /^[ \t]/);
    assert.match(field, new RegExp(`spf=pass .*smtp\\.mailfrom=bounce@${DOMAIN}`));
    assert.match(field, /dkim=pass [^;]*header\.s=rsa2024/);
    assert.match(field, /dkim=pass [^;]*header\.s=ed2024/);
    assert.match(field, new RegExp(`dmarc=pass [^;]*header\\.from=${DOMAIN}`));
  });

  it('a tampered message from an unlisted IP gets spf=fail, no dkim=pass and dmarc=fail', async () => {
    const tampered = Buffer.from((await signedMessage()).toString().replace('Hello from a signed message.', 'Hello from a forged message.'));
    const field = await authenticationResults({
      raw: tampered, ip: '127.0.0.9', helo: 'forger.example', mailFrom: `bounce@${DOMAIN}`, hostname: HOSTNAME, resolver: resolver(),
    });
    assert.match(field, /spf=fail /);
    assert.doesNotMatch(field, /dkim=pass/);
    assert.match(field, /dkim=(?:fail|neutral)/);
    assert.match(field, /dmarc=fail /);
  });

  it('RFC 8601 §2.7: a DNS server that fails (SERVFAIL) gives temperror results, not an exception', async () => {
    for (const name of [DOMAIN, `_dmarc.${DOMAIN}`, `rsa2024._domainkey.${DOMAIN}`, `ed2024._domainkey.${DOMAIN}`]) dns.setFailure(name, 'SERVFAIL');
    const field = await authenticationResults({
      raw: await signedMessage(), ip: '127.0.0.1', helo: `mta.${DOMAIN}`, mailFrom: `bounce@${DOMAIN}`, hostname: HOSTNAME, resolver: resolver(),
    });
    assert.match(field, /spf=temperror/);
    assert.match(field, /dkim=temperror/);
    assert.match(field, /dmarc=temperror/);
  });

  it('a DNS server that never answers is cut off by the budget, with temperror results', async () => {
    // Never settles, like a server that drops every query.
    const silent: MailauthResolver = () => new Promise(() => {});
    const started = Date.now();
    const field = await authenticationResults({
      raw: await signedMessage(), ip: '127.0.0.1', helo: `mta.${DOMAIN}`, mailFrom: `bounce@${DOMAIN}`, hostname: HOSTNAME, resolver: silent, timeoutMs: 300,
    });
    assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
    assert.match(field, /spf=temperror/);
    assert.match(field, /dkim=temperror/);
    assert.match(field, /dmarc=temperror/);
  });

  it('never throws: a resolver answering nonsense still yields one well-formed field', async () => {
    const nonsense: MailauthResolver = async () => 42;
    const field = await authenticationResults({
      raw: Buffer.from('not a message at all'), ip: '127.0.0.1', helo: 'x', mailFrom: 'a b;c@d\r\nX-Injected: 1', hostname: 'mx host;\r\n', resolver: nonsense,
    });
    assert.match(field, /^Authentication-Results: [^\s;]+;/);
    assert.doesNotMatch(field, /\r\nX-Injected/);
    assert.match(field, /\r\n$/);
  });
});
