// Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"):
// the signed content is `${webhook-id}.${webhook-timestamp}.${body}`, the key is the bytes
// of the base64 part of the `whsec_` secret, the MAC is HMAC-SHA256, and the header value
// is `v1,<base64 MAC>` (several space-separated during a key rotation).
import { createHmac, randomBytes } from 'node:crypto';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** The spec asks for 24 to 64 bytes of key; we mint 32. */
export const WEBHOOK_SECRET_BYTES = 32;

export class WebhookSecretError extends Error {
  readonly code = 'WEBHOOK_SECRET_INVALID';
}

/** A new secret, `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(WEBHOOK_SECRET_BYTES).toString('base64');
}

/** The HMAC key bytes of a `whsec_…` secret; throws WebhookSecretError. */
export function webhookSecretKey(secret: string): Buffer {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) throw new WebhookSecretError('a webhook secret starts with whsec_');
  const b64 = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new WebhookSecretError('a webhook secret is whsec_ followed by base64');
  const key = Buffer.from(b64, 'base64');
  if (key.length < 24 || key.length > 64) throw new WebhookSecretError('a webhook secret holds 24 to 64 bytes');
  return key;
}

export interface SignedHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

/**
 * The three Standard Webhooks headers for one attempt. `timestampSeconds` is the time of the
 * attempt (receivers refuse stale ones), so each retry is signed anew.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): SignedHeaders {
  const ts = String(Math.floor(timestampSeconds));
  // HMAC of a few KB takes microseconds: no need to leave the loop for it.
  const mac = createHmac('sha256', webhookSecretKey(secret)).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${mac}` };
}
