// Graceful shutdown of the SMTP listeners (RFC 5321 §3.8): stop accepting connections at
// once, let transactions already open finish within a grace period, and answer `421 4.3.2`
// to every session that is idle or still open when the period ends. A DATA whose commit
// has not happened by then never gets its 250: the client keeps the message and retries.
//
// smtp-server's own close() answers "421 4.4.2 Server shutting down" to any command during
// the whole period, which would abort a transaction between RCPT and DATA; we close the
// net.Server ourselves and read each connection's state instead (smtp-server internals, as
// in smtp-server-adapter.ts).
import type { SMTPServer } from 'smtp-server';
import { setTimeout as sleep } from 'node:timers/promises';
import { Replies } from '../smtp/index.ts';

const [SHUTDOWN_CODE, SHUTDOWN_ENHANCED] = Replies.C421ShuttingDown;
/** The adapter puts the enhanced code in front of the text onto the wire (smtp-server-adapter.ts). */
const SHUTDOWN_TEXT = `${SHUTDOWN_ENHANCED} Service shutting down, please try again later`;
/** How often idle sessions are looked for while the period runs. */
const POLL_MS = 50;
/** After the period: how long a commit already started may take before the store closes under it. */
const SETTLE_MS = 5_000;

interface ConnectionState {
  session?: { envelope?: { mailFrom?: unknown } };
  /** Set by smtp-server from DATA until the onData callback answers. */
  _dataStream?: unknown;
  send(code: number, text: string): void;
}

interface ServerInternals {
  connections: Set<ConnectionState>;
  /** Sockets still in the TLS handshake (implicit TLS) or awaiting a PROXY header. */
  _pendingSockets?: Map<unknown, { destroy(): void }>;
}

export interface ShutdownGate {
  /** Wraps one DATA acceptance so shutdown waits for its commit before the store closes. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Closes the servers within `graceMs`, as described above; resolves when every session is gone. */
  close(servers: readonly SMTPServer[], graceMs: number): Promise<void>;
}

function inTransaction(conn: ConnectionState): boolean {
  return !!conn._dataStream || !!conn.session?.envelope?.mailFrom;
}

export function createShutdownGate(): ShutdownGate {
  const inflight = new Set<Promise<unknown>>();
  return {
    track(work) {
      inflight.add(work);
      void work.then(() => inflight.delete(work), () => inflight.delete(work));
      return work;
    },
    async close(servers, graceMs) {
      const closed = servers.map((s) => new Promise<void>((resolve) => s.server.close(() => resolve())));
      const internals = servers.map((s) => s as unknown as ServerInternals);
      for (const s of internals) for (const socket of s._pendingSockets?.values() ?? []) socket.destroy();
      const deadline = Date.now() + graceMs;
      const shutOut = (force: boolean): number => {
        let open = 0;
        for (const s of internals) {
          for (const conn of s.connections) {
            // send() closes the connection after a 421 (smtp-server-adapter.ts keeps that).
            if (force || !inTransaction(conn)) conn.send(SHUTDOWN_CODE, SHUTDOWN_TEXT);
            else open++;
          }
        }
        return open;
      };
      while (shutOut(false) > 0 && Date.now() < deadline) await sleep(POLL_MS);
      shutOut(true);
      await Promise.race([Promise.allSettled([...inflight]), sleep(SETTLE_MS)]);
      await Promise.race([Promise.all(closed), sleep(SETTLE_MS)]);
    },
  };
}
