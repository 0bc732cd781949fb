// SSRF guard for webhook URLs. A tenant chooses the URL, and Postline calls it from inside
// the operator's network, so a URL must not reach loopback, private (RFC 1918, ULA),
// link-local (cloud metadata at 169.254.169.254) or other non-public addresses unless the
// operator allows it (`webhooks.allow_private`). Checked twice: when the URL is saved, and
// on every call by the lookup the socket connects with, so a DNS answer that changes after
// the check (rebinding) cannot slip through. Redirects are not followed (webhook-sender.ts).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup as dnsLookupAsync } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isPrivateAddress } from '../delivery/address-policy.ts';

export type WebhookUrlErrorCode = 'WEBHOOK_URL_INVALID' | 'WEBHOOK_URL_PRIVATE' | 'WEBHOOK_URL_UNRESOLVABLE';

export class WebhookUrlError extends Error {
  readonly code: WebhookUrlErrorCode;
  constructor(code: WebhookUrlErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebhookUrlError';
    this.code = code;
  }
}

export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** Parses a webhook URL: http or https, no credentials; throws WebhookUrlError. */
export function parseWebhookUrl(text: string): URL {
  if (text.length > MAX_WEBHOOK_URL_LENGTH) throw new WebhookUrlError('WEBHOOK_URL_INVALID', `a webhook URL is at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw new WebhookUrlError('WEBHOOK_URL_INVALID', 'not an absolute URL', { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WebhookUrlError('WEBHOOK_URL_INVALID', `the scheme must be http or https, not ${url.protocol.replace(/:$/, '')}`);
  // Credentials in the URL would end up in logs and delivery listings; sign requests instead.
  if (url.username || url.password) throw new WebhookUrlError('WEBHOOK_URL_INVALID', 'a webhook URL must not carry a user name or password');
  if (!url.hostname) throw new WebhookUrlError('WEBHOOK_URL_INVALID', 'a webhook URL needs a host');
  return url;
}

/** The URL's host without IPv6 brackets. */
export function urlHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * Resolves the URL's host and refuses it when any address is not public (unless allowed).
 * Any, not all: a name with one public and one private address would reach the private
 * one on some connections. Returns the addresses.
 */
export async function assertWebhookUrlAllowed(url: URL, options: { allowPrivate: boolean }): Promise<string[]> {
  const host = urlHost(url);
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await dnsLookupAsync(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (err) {
      throw new WebhookUrlError('WEBHOOK_URL_UNRESOLVABLE', `the host ${host} does not resolve`, { cause: err });
    }
  }
  if (!options.allowPrivate) {
    const refused = addresses.find((a) => isPrivateAddress(a));
    if (refused !== undefined) {
      throw new WebhookUrlError('WEBHOOK_URL_PRIVATE', `the host ${host} resolves to ${refused}, a loopback, private, link-local or reserved address (set webhooks.allow_private to allow it)`);
    }
  }
  return addresses;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/tls.connect that refuses non-public addresses, so the address a call
 * connects to is the address that was checked. Errors carry code WEBHOOK_URL_PRIVATE.
 */
export function guardedLookup(allowPrivate: boolean) {
  return function lookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
    dnsLookup(hostname, { ...options, all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      const refused = allowPrivate ? undefined : list.find((a) => isPrivateAddress(a.address));
      if (refused) {
        const e = Object.assign(new Error(`${hostname} resolves to ${refused.address}, which is not a public address`), { code: 'WEBHOOK_URL_PRIVATE' }) as NodeJS.ErrnoException;
        return callback(e, []);
      }
      if (list.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      if (options.all) callback(null, list);
      else callback(null, list[0].address, list[0].family);
    });
  };
}
