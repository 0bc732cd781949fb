// RFC 8461 §3.3: the policy file is fetched over HTTPS from `mta-sts.<domain>` at
// /.well-known/mta-sts.txt, with a certificate valid for that name, no redirects, status
// 200, at most 64 KiB. mailauth's fetcher pins port 443 and the system roots, so this one
// takes both from `tls_policy` (a private CA, a test server), and resolves the policy host
// with our DnsResolver.
import https from 'node:https';
import tls from 'node:tls';
import type { DnsResolver } from './dns-resolver.ts';

// RFC 8461 §3.3: "senders SHOULD impose a limit on the size of the policy"; 64 KiB as suggested.
const MAX_POLICY_BYTES = 64 * 1024;

export const MtaStsErrorCodes = {
  /** The policy host could not be reached, its certificate was refused, or it answered late. */
  FetchFailed: 'MTA_STS_FETCH_FAILED',
  /** It answered, but not with a usable policy (status, size, syntax). */
  BadPolicy: 'MTA_STS_BAD_POLICY',
} as const;

export class MtaStsError extends Error {
  readonly code: (typeof MtaStsErrorCodes)[keyof typeof MtaStsErrorCodes];
  constructor(code: MtaStsError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MtaStsError';
    this.code = code;
  }
}

export interface PolicyFetchOptions {
  readonly resolver: Pick<DnsResolver, 'resolve4' | 'resolve6'>;
  /** RFC 8461 §3.3 says 443; configurable (tls_policy.mta_sts_port). */
  readonly port: number;
  /** Extra trusted CAs (PEM) beside the system roots. */
  readonly ca: readonly string[] | null;
  readonly timeoutMs: number;
}

/** The policy file's bytes; null when the policy host has no address. Throws MtaStsError. */
export async function fetchPolicyFile(domain: string, options: PolicyFetchOptions): Promise<Buffer | null> {
  const host = `mta-sts.${domain}`;
  const v4 = await options.resolver.resolve4(host).catch(() => [] as string[]);
  const addresses = v4.length > 0 ? v4 : await options.resolver.resolve6(host).catch(() => [] as string[]);
  if (addresses.length === 0) return null;
  const url = `https://${host}/.well-known/mta-sts.txt`;
  return new Promise<Buffer>((resolve, reject) => {
    let finished = false;
    const done = (err: MtaStsError | null, body?: Buffer): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(body!);
    };
    const req = https.request({
      host: addresses[0], port: options.port, servername: host, path: '/.well-known/mta-sts.txt', method: 'GET',
      headers: { host, 'user-agent': 'Postline MTA-STS' },
      // Fetches are rare (policies are cached for max_age), so the CA list is built per fetch.
      rejectUnauthorized: true, ca: options.ca && options.ca.length > 0 ? [...tls.rootCertificates, ...options.ca] : undefined,
      // RFC 8461 §3.3: the certificate must be valid for the policy host (RFC 6125).
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert),
      agent: false,
    }, (res) => {
      // RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed"; only 200 is a policy.
      if (res.statusCode !== 200) return done(new MtaStsError(MtaStsErrorCodes.BadPolicy, `${url} answered HTTP ${res.statusCode}`));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_POLICY_BYTES) return done(new MtaStsError(MtaStsErrorCodes.BadPolicy, `${url} is larger than ${MAX_POLICY_BYTES} bytes`));
        chunks.push(chunk);
      });
      res.on('end', () => done(null, Buffer.concat(chunks)));
      res.on('error', (err) => done(new MtaStsError(MtaStsErrorCodes.FetchFailed, `${url}: ${err.message}`, { cause: err })));
    });
    const timer = setTimeout(() => done(new MtaStsError(MtaStsErrorCodes.FetchFailed, `${url}: no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('error', (err) => done(new MtaStsError(MtaStsErrorCodes.FetchFailed, `${url}: ${err.message}`, { cause: err })));
    req.end();
  });
}
