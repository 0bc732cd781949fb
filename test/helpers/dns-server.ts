import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

/**
 * A small authoritative DNS server for tests: UDP and TCP on one loopback port, answering
 * from an in-memory zone that tests change while it runs.
 */

export type TestRecordType = 'MX' | 'A' | 'AAAA' | 'TXT' | 'CNAME';
export interface TestRecord {
  type: TestRecordType;
  /** MX: `{ preference, exchange }` (exchange '.' is a null MX) or `'10 mx.example'`; TXT: a string or its chunks. */
  value: string | string[] | { preference: number; exchange: string };
  /** Seconds; default 300. */
  ttl?: number;
}
export type TestZone = Record<string, TestRecord[]>;

/**
 * How the server misbehaves for a name: an rcode, no answer at all, or answers a resolver must
 * not trust (undecodable bytes, another query id, another question, a datagram far larger
 * than any EDNS buffer).
 */
export type TestFailure = 'SERVFAIL' | 'REFUSED' | 'timeout' | 'garbage' | 'wrong-id' | 'wrong-question' | 'oversized';

export interface TestDnsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port; UDP and TCP share it. */
  port?: number;
  /** UDP answers larger than this get only the header with TC set (RFC 1035 §4.2.1); default 512. */
  udpMaxBytes?: number;
  /** SOA minimum and TTL in NXDOMAIN/NODATA answers (RFC 2308 §5); default 60 s. */
  negativeTtl?: number;
  /** Put the records of a CNAME target from the zone into the same answer, as a real server does; default true. */
  chaseCnames?: boolean;
}

export interface TestDnsQuery {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
}

export interface TestDnsServer {
  /** `'host:port'`, usable in POSTLINE_DNS_SERVERS. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly queries: TestDnsQuery[];
  setRecords(zone: TestZone): void;
  addRecord(name: string, record: TestRecord): void;
  removeName(name: string): void;
  setFailure(name: string, failure: TestFailure | null): void;
  setNegativeTtl(seconds: number): void;
  /** Empties the zone, failures and query log, and restores the starting negative TTL. */
  reset(): void;
  /** Replaces the MX set of `domain`; plain host names get preferences 10, 20, 30… in order. */
  mx(domain: string, hosts: string[] | Array<{ host: string; preference: number }>, ttl?: number): void;
  /** Adds an A or AAAA record, by the address family of `ip`. */
  a(name: string, ip: string, ttl?: number): void;
  close(): Promise<void>;
}

const DEFAULT_TTL = 300;
// RFC 1035 §3.3: a character-string is at most 255 octets.
const TXT_CHUNK = 255;

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function toAnswer(name: string, record: TestRecord): Answer {
  const ttl = record.ttl ?? DEFAULT_TTL;
  const { type, value } = record;
  if (type === 'MX') {
    const mx = typeof value === 'object' && !Array.isArray(value) ? value : parseMx(String(value));
    return { type, name, ttl, data: { preference: mx.preference, exchange: mx.exchange } };
  }
  if (type === 'TXT') {
    const chunks = Array.isArray(value) ? value : chunkTxt(String(value));
    return { type, name, ttl, data: chunks };
  }
  return { type, name, ttl, data: String(value) };
}

function parseMx(value: string): { preference: number; exchange: string } {
  const [preference, exchange] = value.trim().split(/\s+/);
  return { preference: Number(preference), exchange };
}

function chunkTxt(value: string): string[] {
  const bytes = Buffer.from(value);
  const chunks: string[] = [];
  for (let i = 0; i < bytes.length; i += TXT_CHUNK) chunks.push(bytes.subarray(i, i + TXT_CHUNK).toString());
  return chunks.length ? chunks : [''];
}

export async function startDnsServer(options: TestDnsServerOptions = {}): Promise<TestDnsServer> {
  const host = options.host ?? '127.0.0.1';
  const udpMaxBytes = options.udpMaxBytes ?? 512;
  const chaseCnames = options.chaseCnames ?? true;
  const startNegativeTtl = options.negativeTtl ?? 60;
  let negativeTtl = startNegativeTtl;
  let zone = new Map<string, TestRecord[]>();
  const failures = new Map<string, TestFailure>();
  const queries: TestDnsQuery[] = [];
  const tcpSockets = new Set<net.Socket>();

  function soaFor(name: string): Answer {
    const apex = name.split('.').slice(-2).join('.') || name;
    const data = { mname: `ns.${apex}`, rname: `hostmaster.${apex}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: negativeTtl };
    return { type: 'SOA', name: apex, ttl: negativeTtl, data };
  }

  /** The answer for one question, or a failure to act out. */
  function answer(question: Question): { rcode: number; answers: Answer[]; authorities: Answer[] } | TestFailure {
    const failure = failures.get(normalize(question.name));
    if (failure) return failure;
    const answers: Answer[] = [];
    let name = question.name;
    for (let hops = 0; hops < 8; hops++) {
      const records = zone.get(normalize(name));
      if (!records) {
        // RFC 6604 §3: the rcode describes the last name in the chain.
        if (hops === 0) return { rcode: 3, answers, authorities: [soaFor(normalize(name))] };
        break;
      }
      const matching = records.filter((r) => r.type === question.type);
      if (matching.length) {
        answers.push(...matching.map((r) => toAnswer(name, r)));
        break;
      }
      const cname = records.find((r) => r.type === 'CNAME');
      if (!cname) break;
      answers.push(toAnswer(name, cname));
      if (!chaseCnames) break;
      name = String(cname.value);
    }
    const authorities = answers.length ? [] : [soaFor(normalize(question.name))];
    return { rcode: 0, answers, authorities };
  }

  /** Encoded reply for a query, or undefined to stay silent. */
  function respond(raw: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(raw);
    } catch {
      return undefined;
    }
    const question = query.questions?.[0];
    if (!question) return undefined;
    queries.push({ name: normalize(question.name), type: question.type, transport });
    const result = answer(question);
    const reply: Packet = { type: 'response', id: query.id, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: [question] };
    if (typeof result === 'string') {
      switch (result) {
        case 'timeout':
          return undefined;
        case 'garbage':
          return Buffer.concat([raw.subarray(0, 2), Buffer.from('\x81\x80 this is not a DNS message')]);
        case 'SERVFAIL':
          return dnsPacket.encode({ ...reply, flags: dnsPacket.AUTHORITATIVE_ANSWER | 2 });
        case 'REFUSED':
          return dnsPacket.encode({ ...reply, flags: 5 });
        case 'wrong-id':
          return dnsPacket.encode({ ...reply, id: ((query.id ?? 0) + 1) & 0xffff, answers: [{ type: 'A', name: question.name, ttl: 60, data: '192.0.2.66' }] });
        case 'wrong-question':
          return dnsPacket.encode({ ...reply, questions: [{ ...question, name: `spoof.${question.name}` }] });
        case 'oversized': {
          const filler = Array.from({ length: 40 }, () => ({ type: 'TXT' as const, name: question.name, ttl: 60, data: 'x'.repeat(200) }));
          return dnsPacket.encode({ ...reply, answers: filler });
        }
      }
    }
    const encoded = dnsPacket.encode({ ...reply, flags: dnsPacket.AUTHORITATIVE_ANSWER | result.rcode, answers: result.answers, authorities: result.authorities });
    if (transport === 'udp' && encoded.length > udpMaxBytes) {
      // RFC 1035 §4.2.1 / RFC 7766 §5: too big for UDP, the client must retry over TCP.
      return dnsPacket.encode({ ...reply, flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.TRUNCATED_RESPONSE });
    }
    return encoded;
  }

  const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  udp.on('message', (msg, rinfo) => {
    const reply = respond(msg, 'udp');
    if (reply) udp.send(reply, rinfo.port, rinfo.address);
  });
  udp.on('error', () => {});

  const tcp = net.createServer((socket) => {
    tcpSockets.add(socket);
    socket.on('close', () => tcpSockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      // RFC 1035 §4.2.2: each message is preceded by its two-byte length.
      while (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
        const length = buffer.readUInt16BE(0);
        const reply = respond(buffer.subarray(2, 2 + length), 'tcp');
        buffer = buffer.subarray(2 + length);
        if (!reply) continue;
        const framed = Buffer.alloc(2 + reply.length);
        framed.writeUInt16BE(reply.length, 0);
        reply.copy(framed, 2);
        socket.write(framed);
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(options.port ?? 0, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  const tcpAddress = tcp.address();
  const port = typeof tcpAddress === 'object' && tcpAddress ? tcpAddress.port : 0;
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => {
      udp.off('error', reject);
      resolve();
    });
  });

  const records = (name: string): TestRecord[] => {
    const key = normalize(name);
    let list = zone.get(key);
    if (!list) zone.set(key, (list = []));
    return list;
  };

  return {
    address: net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`,
    host,
    port,
    queries,
    setRecords(next) {
      zone = new Map(Object.entries(next).map(([name, list]) => [normalize(name), [...list]]));
    },
    addRecord(name, record) {
      records(name).push(record);
    },
    removeName(name) {
      zone.delete(normalize(name));
    },
    setFailure(name, failure) {
      if (failure === null) failures.delete(normalize(name));
      else failures.set(normalize(name), failure);
    },
    setNegativeTtl(seconds) {
      negativeTtl = seconds;
    },
    reset() {
      zone = new Map();
      failures.clear();
      queries.length = 0;
      negativeTtl = startNegativeTtl;
    },
    mx(domain, hosts, ttl) {
      const list = records(domain).filter((r) => r.type !== 'MX');
      hosts.forEach((entry, i) => {
        const value = typeof entry === 'string'
          ? { preference: (i + 1) * 10, exchange: entry }
          : { preference: entry.preference, exchange: entry.host };
        list.push({ type: 'MX', value, ttl });
      });
      zone.set(normalize(domain), list);
    },
    a(name, ip, ttl) {
      records(name).push({ type: net.isIPv6(ip) ? 'AAAA' : 'A', value: ip, ttl });
    },
    close() {
      for (const socket of tcpSockets) socket.destroy();
      return new Promise<void>((resolve) => {
        udp.close(() => tcp.close(() => resolve()));
      });
    },
  };
}
