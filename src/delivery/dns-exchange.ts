import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, RecordType } from 'dns-packet';

/**
 * One DNS question put to one server: UDP first, TCP when the answer is truncated. Only the
 * wire exchange lives here; what the answer means is dns-resolver.ts's concern.
 */

export interface NameServer {
  host: string;
  port: number;
}

/** A decoded answer whose id, question and direction match the query. */
export type DnsMessage = DecodedPacket & { rcode?: string };

export type ExchangeResult =
  | { ok: true; message: DnsMessage }
  | { ok: false; reason: 'timeout' | 'network' | 'aborted'; detail: string };

// RFC 6891 §6.2.5 with the 2020 DNS flag day value: big enough for most answers, small
// enough to avoid IP fragmentation. A datagram larger than we offered is not an answer.
export const EDNS_UDP_PAYLOAD_BYTES = 1232;

/** Parses `'host[:port]'`, `'[v6]:port'` or a bare IPv6 address; throws DNS_BAD_SERVER. */
export function parseNameServer(spec: string): NameServer {
  const text = spec.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  let host = text;
  let port = '53';
  if (bracketed) {
    host = bracketed[1];
    port = bracketed[2] ?? '53';
  } else if (net.isIPv4(text.split(':')[0]) && text.includes(':')) {
    [host, port] = text.split(':');
  }
  const portNumber = Number(port);
  if (!net.isIP(host.split('%')[0]) || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
    throw Object.assign(new Error(`DNS server must be an IP address with an optional port: ${spec}`), { code: 'DNS_BAD_SERVER' });
  }
  return { host, port: portNumber };
}

function encodeQuery(id: number, name: string, type: RecordType): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_PAYLOAD_BYTES, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

/** RFC 5452 §4.3: accept only an answer with our id and exactly our question. */
function tryDecodeAnswer(raw: Buffer, id: number, name: string, type: RecordType): DnsMessage | undefined {
  let message: DnsMessage;
  try {
    message = dnsPacket.decode(raw) as DnsMessage;
  } catch {
    return undefined;
  }
  if (!message.flag_qr || message.id !== id) return undefined;
  const questions = message.questions ?? [];
  if (questions.length !== 1) return undefined;
  const [question] = questions;
  if (question.type !== type || question.name.toLowerCase() !== name.toLowerCase()) return undefined;
  return message;
}

/**
 * Asks `server` once. Resolves (never rejects) with a matching answer or why there is none;
 * sockets are closed on every path.
 */
export async function exchange(server: NameServer, name: string, type: RecordType, timeoutMs: number, signal?: AbortSignal): Promise<ExchangeResult> {
  const udp = await exchangeUdp(server, name, type, timeoutMs, signal);
  // RFC 7766 §5: a truncated UDP answer is retried over TCP.
  if (udp.ok && udp.message.flag_tc) return exchangeTcp(server, name, type, timeoutMs, signal);
  return udp;
}

function exchangeUdp(server: NameServer, name: string, type: RecordType, timeoutMs: number, signal?: AbortSignal): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve({ ok: false, reason: 'aborted', detail: 'aborted' });
    // RFC 5452 §9.2: random id, and a fresh socket so the source port is random too.
    const id = randomInt(0, 0x10000);
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (result: ExchangeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('message');
      socket.on('error', () => {});
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(result);
    };
    const onAbort = (): void => finish({ ok: false, reason: 'aborted', detail: 'aborted' });
    const timer = setTimeout(() => finish({ ok: false, reason: 'timeout', detail: `no answer from ${server.host} in ${timeoutMs} ms` }), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => finish({ ok: false, reason: 'network', detail: err.message }));
    socket.on('message', (raw, rinfo) => {
      // Garbage, spoofs and oversized datagrams are dropped; the timer still runs.
      if (rinfo.port !== server.port || rinfo.address !== server.host.split('%')[0]) return;
      if (raw.length > EDNS_UDP_PAYLOAD_BYTES) return;
      const message = tryDecodeAnswer(raw, id, name, type);
      if (message) finish({ ok: true, message });
    });
    // A connected socket hears only from the server, and an ICMP port-unreachable comes back
    // as ECONNREFUSED at once instead of as a timeout.
    socket.connect(server.port, server.host, () => {
      if (done) return;
      socket.send(encodeQuery(id, name, type), (err) => {
        if (err) finish({ ok: false, reason: 'network', detail: err.message });
      });
    });
  });
}

function exchangeTcp(server: NameServer, name: string, type: RecordType, timeoutMs: number, signal?: AbortSignal): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve({ ok: false, reason: 'aborted', detail: 'aborted' });
    const id = randomInt(0, 0x10000);
    const query = encodeQuery(id, name, type);
    const framed = Buffer.alloc(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    const socket = net.connect({ host: server.host, port: server.port });
    let buffer = Buffer.alloc(0);
    let done = false;
    const finish = (result: ExchangeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('data');
      socket.on('error', () => {});
      socket.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish({ ok: false, reason: 'aborted', detail: 'aborted' });
    const timer = setTimeout(() => finish({ ok: false, reason: 'timeout', detail: `no TCP answer from ${server.host} in ${timeoutMs} ms` }), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => finish({ ok: false, reason: 'network', detail: err.message }));
    socket.on('close', () => finish({ ok: false, reason: 'network', detail: 'connection closed before an answer' }));
    socket.on('connect', () => socket.write(framed));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      // RFC 1035 §4.2.2: two-byte length, then the message (so never more than 64 KiB).
      while (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
        const length = buffer.readUInt16BE(0);
        const message = tryDecodeAnswer(buffer.subarray(2, 2 + length), id, name, type);
        buffer = buffer.subarray(2 + length);
        if (message) return finish({ ok: true, message });
      }
    });
  });
}
