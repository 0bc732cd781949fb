// The three SMTP listeners on smtp-server: submission with STARTTLS (RFC 6409), submission
// with implicit TLS (RFC 8314) and MX for hosted domains. AUTH is offered only after TLS.
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { parseListen, type ListenAddress } from '../config/index.ts';
import { normaliseDomain, smtpError, SmtpError } from '../smtp/index.ts';
import type { Store } from '../store/index.ts';
import { touchCredential } from '../store/index.ts';
import { verifyPassword } from '../security/password-hash.ts';
import type { TlsMaterial } from '../tls/tls-material.ts';
import { acceptMessage, type DeliveryHandoff } from './accept-message.ts';
import type { InboundFeedback } from '../feedback/inbound-feedback.ts';
import { createShutdownGate } from './graceful-close.ts';
import { AuthThrottle } from './auth-throttle.ts';
import { ConnectionLimits, LogOnce } from './connection-limits.ts';
import { parseRelayNetworks, matchRelayNetwork } from './relay-networks.ts';
import { checkMailFrom, checkRcptTo, type ListenerKind, type PolicyContext, type SessionUser } from './session-policy.ts';
import { installSmtpServerAdapter, toServerError, type SessionLimits } from './smtp-server-adapter.ts';
import { TenantDirectory } from './tenant-directory.ts';

/** TLS 1.3 suites, then TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305: no CBC, no static RSA. */
const SUBMISSION_CIPHERS = [
  'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export interface IngressOptions {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly log: Logger;
  readonly tls: TlsMaterial;
  readonly handoff?: DeliveryHandoff;
  /** MX side: VERP return paths, feedback loops and Authentication-Results (feedback/). */
  readonly feedback?: InboundFeedback | null;
}

export interface Ingress {
  listen(): Promise<Record<string, string>>;
  /** Stops accepting at once; open transactions get `graceMs` (default 0) to finish (graceful-close.ts). */
  close(graceMs?: number): Promise<void>;
  /** New TLS handshakes (STARTTLS and implicit TLS) use this certificate; sessions already up keep theirs. */
  reloadTls(material: TlsMaterial): void;
  /**
   * SIGHUP: applies the settings of `next` that can change without dropping sessions
   * (LIVE_SMTP_SETTINGS); returns those that changed. Sessions already open keep going.
   */
  reconfigure(next: Readonly<Config>): string[];
}

/** The SMTP settings a SIGHUP applies at once; any other change needs a restart. */
export const LIVE_SMTP_SETTINGS = [
  'smtp.relay_networks', 'smtp.mx_domains', 'smtp.max_connections_per_ip', 'smtp.max_connections_per_network',
  'smtp.max_commands_per_session', 'smtp.max_errors_per_session', 'smtp.session_timeout',
  'smtp.auth_slow_after_failures', 'smtp.auth_block_after_failures', 'smtp.auth_block_duration', 'smtp.auth_failure_delay',
  'smtp.auth_account_slow_after_failures', 'smtp.auth_account_block_after_failures',
] as const;

interface ListenerSpec {
  readonly name: 'smtp' | 'smtps' | 'mx';
  readonly kind: ListenerKind;
  readonly address: ListenAddress;
  readonly implicitTls: boolean;
}

export function createIngress(options: IngressOptions): Ingress {
  installSmtpServerAdapter();
  let config = options.config;
  const { store, log } = options;
  const directory = new TenantDirectory(store, { requireVerified: config.domains.require_verified });
  let relayNetworks = parseRelayNetworks(config.smtp.relay_networks);
  const ipThrottleOf = (c: Readonly<Config>) => ({
    slowAfter: c.smtp.auth_slow_after_failures, blockAfter: c.smtp.auth_block_after_failures,
    windowMs: c.smtp.auth_block_duration, delayMs: c.smtp.auth_failure_delay,
  });
  // Per account as well, so a credential-stuffing run spread over many addresses still slows.
  const accountThrottleOf = (c: Readonly<Config>) => ({
    slowAfter: c.smtp.auth_account_slow_after_failures, blockAfter: c.smtp.auth_account_block_after_failures,
    windowMs: c.smtp.auth_block_duration, delayMs: c.smtp.auth_failure_delay,
  });
  const throttle = new AuthThrottle(ipThrottleOf(config));
  const accountThrottle = new AuthThrottle(accountThrottleOf(config));
  // Shared by all listeners: one client's sessions count together wherever they land.
  const limits = new ConnectionLimits({ perIp: config.smtp.max_connections_per_ip, perNetwork: config.smtp.max_connections_per_network });
  const releases = new WeakMap<SMTPServerSession, () => void>();
  const limitLog = new LogOnce();
  // One Set shared by every listener's policy: a reload changes its contents in place.
  const hosted = new Set<string>();
  const setHosted = (c: Readonly<Config>) => {
    hosted.clear();
    for (const d of [c.hostname, ...c.smtp.mx_domains].map(normaliseDomain)) if (d) hosted.add(d);
  };
  setHosted(config);
  const allSessionLimits: SessionLimits[] = [];
  const specs: ListenerSpec[] = [];
  const add = (name: ListenerSpec['name'], kind: ListenerKind, value: string, implicitTls: boolean) => {
    const address = parseListen(value);
    if (address) specs.push({ name, kind, address, implicitTls });
  };
  add('smtp', 'submission', config.smtp.listen, false);
  add('smtps', 'submission', config.smtp.smtps_listen, true);
  add('mx', 'mx', config.smtp.mx_listen, false);
  const servers: SMTPServer[] = [];
  const gate = createShutdownGate();

  function build(spec: ListenerSpec): SMTPServer {
    const policy: PolicyContext = { kind: spec.kind, directory, hostedDomains: hosted, verp: options.feedback?.verp ?? null };
    const listenerLog = log.child({ listener: spec.name });
    const acceptCtx = {
      kind: spec.kind, store, directory, hostname: config.hostname, hostedDomains: hosted,
      maxMessageBytes: config.smtp.max_message_bytes, maxHeaderBytes: config.smtp.max_header_bytes,
      queueLifetimeMs: config.queue.max_lifetime, log: listenerLog, handoff: options.handoff,
      feedback: spec.kind === 'mx' ? options.feedback ?? null : null,
    };
    const fail = (err: unknown, cb: (err?: Error | null) => void) => {
      if (err instanceof SmtpError) {
        if (err.userError) listenerLog.debug({ err: err.message, code: err.code }, 'refused');
        else listenerLog.warn({ err: err.message, cause: err.cause }, 'refused');
      } else {
        listenerLog.error({ err }, 'hook failed');
      }
      cb(toServerError(err));
    };
    // Each limit is logged once per source and minute, with the hits held back since.
    const logLimit = (limit: string, key: string, fields: Record<string, unknown>) => {
      const suppressed = limitLog.hit(`${limit}:${key}`);
      if (suppressed >= 0) listenerLog.warn({ limit, ...fields, suppressed }, 'limit reached');
    };
    const sessionLimits: SessionLimits = {
      maxCommands: config.smtp.max_commands_per_session,
      maxErrors: config.smtp.max_errors_per_session,
      maxSessionMs: config.smtp.session_timeout,
      onLimit: (kind, ip) => logLimit(kind, ip, { ip }),
    };
    allSessionLimits.push(sessionLimits);
    const relayUser = async (session: SMTPServerSession): Promise<void> => {
      const tenantName = matchRelayNetwork(relayNetworks, session.remoteAddress);
      if (!tenantName || session.user) return;
      const tenant = await directory.tenant(tenantName);
      if (!tenant) {
        listenerLog.warn({ tenant: tenantName }, 'relay network names a tenant that does not exist');
        return;
      }
      const user: SessionUser = { tenant, username: `relay:${tenantName}`, viaRelayNetwork: true };
      session.user = user;
    };
    const opts: SMTPServerOptions & { greetingDelayMs: number; sessionLimits: SessionLimits; maxCommandLength: number } = {
      greetingDelayMs: spec.kind === 'mx' ? config.smtp.mx_greeting_delay : 0,
      sessionLimits,
      // RFC 5321 §4.5.3.1.4: 512 octets at least; AUTH PLAIN and ESMTP parameters need more.
      maxCommandLength: config.smtp.max_line_length,
      name: config.hostname,
      banner: 'Postline ESMTP',
      secure: spec.implicitTls,
      key: options.tls.key,
      cert: options.tls.cert,
      // RFC 8996 / issue policy: TLS 1.2 is the floor. Submission clients are ours to
      // require modern suites of (AEAD with forward secrecy, RFC 9325 §4.2); port 25 keeps
      // Node's default list, since a sender with an old stack should still get TLS rather
      // than fall back to plaintext.
      minVersion: 'TLSv1.2',
      ...(spec.kind === 'submission' ? { ciphers: SUBMISSION_CIPHERS, honorCipherOrder: true } : {}),
      size: config.smtp.max_message_bytes,
      maxRecipients: config.smtp.max_recipients,
      authMethods: ['PLAIN', 'LOGIN'],
      // Submission needs AUTH or a relay network; checked in MAIL FROM so relay networks work.
      authOptional: true,
      allowInsecureAuth: false,
      disabledCommands: spec.kind === 'mx' ? ['AUTH'] : [],
      hideSTARTTLS: spec.implicitTls,
      // smtp-server hides both by default; RFC 2034 enhanced codes are on every reply we
      // send, and RFC 3461 NOTIFY/RET/ENVID/ORCPT are stored with the message.
      hideENHANCEDSTATUSCODES: false,
      hideDSN: false,
      // RFC 8689 §4.1: REQUIRETLS is advertised on TLS sessions only (smtp-server offers it
      // after STARTTLS or on implicit TLS); delivery keeps the promise (delivery/require-tls.ts).
      hideREQUIRETLS: false,
      disableReverseLookup: true,
      socketTimeout: config.smtp.idle_timeout,
      maxClients: config.smtp.max_clients,
      // PROXY protocol v1 (HAProxy) from these load balancers only: their header names the
      // real client, which every limit, relay network and Received line then uses. From any
      // other peer a PROXY line is just an unknown command.
      ...(config.smtp.proxy_protocol_from.length > 0 ? { useProxy: [...config.smtp.proxy_protocol_from] } : {}),
      logger: false,
      onConnect(session, cb) {
        if (throttle.isBlocked(session.remoteAddress)) {
          logLimit('auth_ip', session.remoteAddress, { ip: session.remoteAddress });
          return cb(Object.assign(new Error('4.7.0 Too many failed logins from your address, try again later'), { responseCode: 421 }));
        }
        const admission = limits.admit(session.remoteAddress);
        if (!admission.ok) {
          logLimit(admission.limit, admission.key, { ip: session.remoteAddress, network: admission.key });
          return cb(Object.assign(new Error('4.7.0 Too many connections from your network'), { responseCode: 421 }));
        }
        releases.set(session, admission.release);
        // RFC 4954 §4 / RFC 6409 §4.3: no AUTH (and no PLAIN password) in the clear; smtp-server
        // would advertise it before STARTTLS. onSecure lifts this once TLS is up.
        if (spec.kind === 'submission' && !spec.implicitTls) session.disabledCommands = ['AUTH'];
        relayUser(session).then(() => cb(), (err) => fail(err, cb));
      },
      onClose(session) {
        releases.get(session)?.();
        releases.delete(session);
      },
      onSecure(socket, session, cb) {
        session.disabledCommands = undefined;
        // getCipher().version is the cipher's minimum protocol ("TLSv1/SSLv3" for most TLS 1.2
        // suites), not the negotiated one the Received header reports (RFC 3848 §1).
        const cipher = session.tlsOptions as { version?: string } | false;
        const protocol = 'getProtocol' in socket ? socket.getProtocol() : null;
        if (cipher && protocol) cipher.version = protocol;
        // RFC 3207 §4.2: smtp-server forgets the session user after STARTTLS; a relay network
        // client is identified by its address, which TLS does not change.
        relayUser(session).then(() => cb(), (err) => fail(err, cb));
      },
      onAuth(auth, session, cb) {
        const ip = session.remoteAddress;
        if (throttle.isBlocked(ip)) {
          logLimit('auth_ip', ip, { ip });
          return cb(Object.assign(new Error('4.7.0 Too many failed logins from your address, try again later'), { responseCode: 421 }));
        }
        const username = auth.username ?? '';
        const password = auth.password ?? '';
        const account = username.toLowerCase().slice(0, 256);
        if (accountThrottle.isBlocked(account)) {
          logLimit('auth_account', account, { username: username.slice(0, 64) });
          // RFC 4954 §6: 454 4.7.0 temporary authentication failure; the session stays open.
          return cb(Object.assign(new Error('4.7.0 Too many failed logins for this account, try again later'), { responseCode: 454 }));
        }
        directory.credential(username).then(async (found) => {
          const ok = found ? await verifyPassword(password, found.credential.password_hash) : false;
          if (!found || !ok) {
            const delay = Math.max(throttle.fail(ip), accountThrottle.fail(account));
            listenerLog.info({ ip, username: username.slice(0, 64) }, 'authentication failed');
            const reply = () => cb(toServerError(smtpError('C535AuthFailed', 'Authentication credentials invalid')));
            if (delay) setTimeout(reply, delay).unref();
            else reply();
            return;
          }
          throttle.succeed(ip);
          accountThrottle.succeed(account);
          void touchCredential(store.db, found.credential.id).catch(() => undefined);
          const user: SessionUser = { tenant: found.tenant, username, viaRelayNetwork: false };
          cb(null, { user });
        }).catch((err) => fail(err, cb));
      },
      onMailFrom(address, session, cb) {
        checkMailFrom(policy, address, session).then(() => cb(), (err) => fail(err, cb));
      },
      onRcptTo(address, session, cb) {
        try {
          checkRcptTo(policy, address, session);
          cb();
        } catch (err) {
          fail(err, cb);
        }
      },
      onData(stream, session: SMTPServerSession, cb) {
        gate.track(acceptMessage(acceptCtx, stream, session)).then(
          (queueId) => cb(null, `Ok: queued as ${queueId}`),
          (err) => {
            stream.resume();
            fail(err, cb);
          },
        );
      },
    };
    const server = new SMTPServer(opts);
    server.on('error', (err) => listenerLog.warn({ err: err.message }, 'smtp server error'));
    return server;
  }

  return {
    async listen() {
      const bound: Record<string, string> = {};
      for (const spec of specs) {
        const server = build(spec);
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error) => reject(new Error(`cannot listen on ${spec.address.host}:${spec.address.port} (${spec.name}): ${err.message}`));
          server.server.once('error', onError);
          server.listen(spec.address.port, spec.address.host, () => {
            server.server.off('error', onError);
            resolve();
          });
        });
        servers.push(server);
        const addr = server.server.address();
        bound[spec.name] = typeof addr === 'object' && addr ? `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
      }
      return bound;
    },
    async close(graceMs = 0) {
      await gate.close(servers, graceMs);
      servers.length = 0;
    },
    reconfigure(next) {
      const changed = LIVE_SMTP_SETTINGS.filter((key) => {
        const [section, name] = key.split('.') as ['smtp', keyof Config['smtp']];
        return JSON.stringify(config[section][name]) !== JSON.stringify(next[section][name]);
      });
      config = next;
      relayNetworks = parseRelayNetworks(next.smtp.relay_networks);
      setHosted(next);
      limits.configure({ perIp: next.smtp.max_connections_per_ip, perNetwork: next.smtp.max_connections_per_network });
      throttle.configure(ipThrottleOf(next));
      accountThrottle.configure(accountThrottleOf(next));
      for (const l of allSessionLimits) {
        l.maxCommands = next.smtp.max_commands_per_session;
        l.maxErrors = next.smtp.max_errors_per_session;
        l.maxSessionMs = next.smtp.session_timeout;
      }
      return changed;
    },
    reloadTls(material) {
      // smtp-server builds each handshake's options from its current context (createTLSSocketOptions).
      for (const s of servers) s.updateSecureContext({ key: material.key, cert: material.cert });
    },
  };
}
