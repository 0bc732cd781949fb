// One delivery attempt for the recipients of one message at one domain: route, then a
// single SMTP transaction (RFC 5321 §3.3) over a pooled connection. Never throws for
// remote trouble: every recipient comes back with an outcome.
import type { Readable } from 'node:stream';
import type { ConnectionPool } from './connection-pool.ts';
import { routeFor, type RouterOptions } from './route.ts';

export interface GroupRecipient {
  readonly id: number;
  readonly rcpt: string;
  readonly notify: string | null;
  readonly orcpt: string | null;
}

export interface GroupMessage {
  readonly id: string;
  readonly mailFrom: string;
  readonly size: number;
  readonly body: () => Buffer | Readable;
  readonly envid: string | null;
  readonly ret: 'FULL' | 'HDRS' | null;
  readonly smtputf8: boolean;
}

export interface GroupOutcome {
  readonly id: number;
  readonly status: 'delivered' | 'deferred' | 'bounced';
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly response: string;
}

export interface GroupAttempt {
  readonly mxHost: string | null;
  readonly ip: string | null;
  readonly port: number | null;
  readonly tlsVersion: string | null;
  readonly tlsCipher: string | null;
  readonly durationMs: number;
  readonly remoteSupportsDsn: boolean;
  /** Kept by capture mode instead of sent. */
  readonly captured?: boolean;
}

export async function deliverGroup(domain: string, message: GroupMessage, recipients: readonly GroupRecipient[], deps: { pool: ConnectionPool; router: RouterOptions; port: number; signal?: AbortSignal }): Promise<{ outcomes: GroupOutcome[]; attempt: GroupAttempt }> {
  const started = Date.now();
  const route = await routeFor(domain, deps.router);
  if (!route.ok) {
    return {
      outcomes: recipients.map((r) => ({ id: r.id, status: route.permanent ? 'bounced' : 'deferred', code: null, enhanced: route.enhanced, response: route.message })),
      attempt: { mxHost: null, ip: null, port: null, tlsVersion: null, tlsCipher: null, durationMs: Date.now() - started, remoteSupportsDsn: false },
    };
  }
  const { outcomes, attempt } = await deps.pool.deliver(
    { destination: deps.router.relayhost ? `relay:${deps.router.relayhost}` : domain, hosts: route.hosts.map((h) => ({ host: h.host, address: h.address, port: h.port ?? deps.port })) },
    {
      mailFrom: message.mailFrom,
      recipients: recipients.map((r) => ({ id: r.id, address: r.rcpt, notify: r.notify ? r.notify.split(',') : null, orcpt: r.orcpt })),
      size: message.size,
      body: message.body,
      envid: message.envid,
      ret: message.ret,
      smtputf8: message.smtputf8,
      eightBitMime: true,
    },
    deps.signal,
  );
  return {
    outcomes: outcomes.map((o) => ({ id: Number(o.id), status: o.status, code: o.smtpCode, enhanced: o.enhanced, response: o.response })),
    attempt: {
      mxHost: attempt.mxHost, ip: attempt.address, port: attempt.port, tlsVersion: attempt.tlsVersion, tlsCipher: attempt.tlsCipher,
      durationMs: attempt.durationMs, remoteSupportsDsn: attempt.remoteSupportsDsn,
    },
  };
}
