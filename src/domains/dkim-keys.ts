// DKIM key pairs of a sending domain: generated on the thread pool (the callback form of
// crypto.generateKeyPair: an RSA 2048 key takes ~50-500 ms of CPU), the private key sealed
// at rest, the public key in the form its DNS record publishes. Selectors carry the date of
// the key so that a rotation is visible in DNS: pl20261127r (RSA), pl20261127e (Ed25519),
// then pl20261127r2/pl20261127e2 for a second rotation on the same day.
import { generateKeyPair } from 'node:crypto';
import { newPublicId, type DkimAlgorithm, type DkimKeyStatus, type DkimKeyTable } from '../store/index.ts';
import { openSecret, sealSecret } from '../security/index.ts';

interface GeneratedPair {
  readonly privateKeyPem: string;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKeyDer: Buffer;
}

function generate(algorithm: DkimAlgorithm, rsaBits: number): Promise<GeneratedPair> {
  const encodings = { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: Buffer, privateKey: string): void => {
      if (err) reject(err);
      else resolve({ privateKeyPem: privateKey, publicKeyDer: publicKey });
    };
    if (algorithm === 'rsa-sha256') generateKeyPair('rsa', { modulusLength: rsaBits, ...encodings }, done);
    else generateKeyPair('ed25519', encodings, done);
  });
}

/**
 * The p= value for a public key: base64 of the SPKI DER for RSA (RFC 6376 §3.6.1); for
 * Ed25519 base64 of the raw 32-byte key (RFC 8463 §4.2), the last 32 bytes of its SPKI.
 */
export function publicKeyValue(algorithm: DkimAlgorithm, spkiDer: Buffer): string {
  return (algorithm === 'ed25519-sha256' ? spkiDer.subarray(spkiDer.length - 32) : spkiDer).toString('base64');
}

/** The TXT record of a key: `v=DKIM1; k=rsa; p=…` or `v=DKIM1; k=ed25519; p=…` (RFC 6376 §3.6.1, RFC 8463 §4.2). */
export function dkimRecordValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm === 'ed25519-sha256' ? 'ed25519' : 'rsa'}; p=${publicKey}`;
}

/** `k=` of an algorithm (RFC 6376 §3.6.1 key type). */
export function dkimKeyType(algorithm: DkimAlgorithm): 'rsa' | 'ed25519' {
  return algorithm === 'ed25519-sha256' ? 'ed25519' : 'rsa';
}

function algorithmLetter(algorithm: DkimAlgorithm): 'r' | 'e' {
  return algorithm === 'ed25519-sha256' ? 'e' : 'r';
}

/** Selectors for new keys made at `now` (UTC date), avoiding every selector the domain has used. */
export function newSelectors(algorithms: readonly DkimAlgorithm[], used: Iterable<string>, now: Date): Map<DkimAlgorithm, string> {
  const taken = new Set([...used].map((s) => s.toLowerCase()));
  const stem = `pl${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
  for (let n = 1; ; n++) {
    const suffix = n === 1 ? '' : String(n);
    const names = new Map(algorithms.map((a) => [a, `${stem}${algorithmLetter(a)}${suffix}`] as const));
    if ([...names.values()].every((s) => !taken.has(s))) return names;
  }
}

function sealContext(domainId: string, selector: string): string {
  return `dkim:${domainId}:${selector}`;
}

/** The PEM of a stored key; throws SecretBoxError SECRET_UNREADABLE with the wrong secret key. */
export function openDkimPrivateKey(secretKey: Buffer, key: Pick<DkimKeyTable, 'domain_id' | 'selector' | 'private_key'>): string {
  return openSecret(secretKey, key.private_key, sealContext(key.domain_id, key.selector));
}

export interface NewKeyOptions {
  readonly domainId: string;
  readonly rsaBits: number;
  readonly ed25519: boolean;
  readonly status: Extract<DkimKeyStatus, 'pending' | 'active'>;
  /** Selectors the domain has had (a selector is never reused: resolvers may cache the old record). */
  readonly usedSelectors: Iterable<string>;
  readonly secretKey: Buffer;
  readonly now?: number;
}

/** New key rows (RSA, and Ed25519 when enabled), private keys sealed; not yet stored. */
export async function generateDkimKeys(options: NewKeyOptions): Promise<DkimKeyTable[]> {
  const now = options.now ?? Date.now();
  const algorithms: DkimAlgorithm[] = options.ed25519 ? ['rsa-sha256', 'ed25519-sha256'] : ['rsa-sha256'];
  const selectors = newSelectors(algorithms, options.usedSelectors, new Date(now));
  const pairs = await Promise.all(algorithms.map((a) => generate(a, options.rsaBits)));
  return algorithms.map((algorithm, i) => {
    const selector = selectors.get(algorithm)!;
    return {
      id: newPublicId('dkim', now),
      domain_id: options.domainId,
      selector,
      algorithm,
      private_key: sealSecret(options.secretKey, pairs[i].privateKeyPem, sealContext(options.domainId, selector)),
      public_key: publicKeyValue(algorithm, pairs[i].publicKeyDer),
      status: options.status,
      created_at: now,
      activated_at: options.status === 'active' ? now : null,
      retire_at: null,
    };
  });
}
