// Webhook signing secrets are sealed (secret-box.ts) with the endpoint id as associated
// data, so a sealed secret copied onto another endpoint's row does not open there.
import { openSecretOrPlain, sealSecret } from './secret-box.ts';

function context(webhookId: string): string {
  return `webhook:${webhookId}`;
}

/** The stored form of an endpoint's `whsec_…` secret. */
export function sealWebhookSecret(key: Buffer, webhookId: string, secret: string): string {
  return sealSecret(key, secret, context(webhookId));
}

/** The `whsec_…` secret of a stored row (sealed, or plaintext from before encryption); throws SecretBoxError. */
export function openWebhookSecret(key: Buffer, webhookId: string, stored: string): string {
  return openSecretOrPlain(key, stored, context(webhookId));
}
