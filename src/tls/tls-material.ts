// TLS certificate and key for the SMTP listeners: the configured PEM files, or a
// self-signed pair made on first start in <data_dir>/tls (mode 0600 for the key).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile, rename, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly certPath: string;
  readonly keyPath: string;
  readonly selfSigned: boolean;
}

export async function loadTlsMaterial(options: { dataDir: string; hostname: string; cert: string | null; key: string | null }): Promise<TlsMaterial> {
  if (options.cert || options.key) {
    if (!options.cert || !options.key) throw new Error('tls.cert and tls.key (POSTLINE_TLS_CERT, POSTLINE_TLS_KEY) must be set together');
    return { cert: readFileSync(options.cert), key: readFileSync(options.key), certPath: options.cert, keyPath: options.key, selfSigned: false };
  }
  const dir = join(options.dataDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const notAfter = new Date(Date.now() + 5 * 365 * 86_400_000);
    const pems = await generate([{ name: 'commonName', value: options.hostname }], {
      keySize: 2048,
      algorithm: 'sha256',
      notAfterDate: notAfter,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: options.hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
    });
    // Write then rename, so a crash never leaves half a key behind.
    await writeFile(`${keyPath}.tmp`, pems.private, { mode: 0o600 });
    await writeFile(`${certPath}.tmp`, pems.cert, { mode: 0o644 });
    await rename(`${keyPath}.tmp`, keyPath);
    await rename(`${certPath}.tmp`, certPath);
  }
  return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath, keyPath, selfSigned: true };
}

/**
 * SIGHUP: reads the certificate and key again from the same files (a renewed certificate is
 * usually written over the old one). A pair that does not load, or whose key does not match
 * its certificate, throws with code TLS_RELOAD_FAILED and leaves the running pair in use.
 */
export async function reloadTlsMaterial(current: TlsMaterial): Promise<TlsMaterial> {
  try {
    const [cert, key] = await Promise.all([readFile(current.certPath), readFile(current.keyPath)]);
    // Throws on unparsable PEM or a key that does not match the certificate.
    createSecureContext({ cert, key });
    return { ...current, cert, key };
  } catch (err) {
    throw Object.assign(new Error(`cannot reload TLS certificate ${current.certPath} and key ${current.keyPath}: ${(err as Error).message}`), { code: 'TLS_RELOAD_FAILED', cause: err });
  }
}
