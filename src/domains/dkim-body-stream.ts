// The DKIM body hash of a message too large to hold in memory (a spooled body): the message is
// read as a stream, its header section kept (it is small: intake caps it), and the body fed
// through RFC 6376 §3.4.4 relaxed canonicalization line by line into SHA-256, so a 25 MB
// message costs a partial line of memory, not 25 MB. Same rules as relaxedBodyHash.
import { createHash } from 'node:crypto';

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The header section (through the empty line) and the relaxed body hash (base64) of a message stream. */
export async function headAndRelaxedBodyHash(message: AsyncIterable<Buffer | string>): Promise<{ head: Buffer; bodyHash: string }> {
  const hash = createHash('sha256');
  let head: Buffer | null = null;
  let pending = Buffer.alloc(0);
  let emptyLines = 0;
  const line = (raw: Buffer) => {
    let bytes = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw;
    // Only lines with a space or tab need rewriting (most base64 and text lines have none at
    // the end and no runs): the others are hashed as they are, without a string copy.
    if (bytes.includes(0x20) || bytes.includes(0x09)) {
      bytes = Buffer.from(bytes.toString('latin1').replace(/[ \t]+/g, ' ').replace(/ $/, ''), 'latin1');
    }
    if (bytes.length === 0) {
      emptyLines++;
      return;
    }
    for (; emptyLines > 0; emptyLines--) hash.update(CRLF);
    hash.update(bytes);
    hash.update(CRLF);
  };
  for await (const chunk of message) {
    pending = pending.length ? Buffer.concat([pending, Buffer.from(chunk)]) : Buffer.from(chunk);
    if (head === null) {
      const end = pending.indexOf(HEADER_END);
      if (end < 0) continue;
      head = pending.subarray(0, end + 2);
      pending = pending.subarray(end + 4);
    }
    let start = 0;
    for (let nl = pending.indexOf(0x0a, start); nl >= 0; nl = pending.indexOf(0x0a, start)) {
      line(pending.subarray(start, nl));
      start = nl + 1;
    }
    pending = pending.subarray(start);
  }
  // No empty line: all header, empty body (RFC 5322 §3.5 allows a message without a body).
  if (head === null) head = pending.length ? Buffer.concat([pending, CRLF]) : pending;
  else if (pending.length) line(pending);
  return { head, bodyHash: hash.digest('base64') };
}
