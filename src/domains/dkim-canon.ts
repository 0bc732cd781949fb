// DKIM "relaxed" canonicalization (RFC 6376 §3.4.2 header, §3.4.4 body) over message bytes,
// and the split of a message into its header fields and body. Bytes are handled as latin1
// so that 8-bit header text (RFC 6532) hashes exactly as it is sent.
import { createHash } from 'node:crypto';

export interface HeaderField {
  /** Lower-case field name. */
  readonly name: string;
  /** The field as in the message, folding included, without its final CRLF (latin1). */
  readonly raw: string;
}

export interface SplitMessage {
  readonly fields: HeaderField[];
  readonly body: Buffer;
}

/** RFC 5322 §2.1: the header section ends at the first empty line. */
export function splitMessage(raw: Buffer): SplitMessage {
  let headerEnd = -1;
  let bodyStart = raw.length;
  if (raw[0] === 0x0a || (raw[0] === 0x0d && raw[1] === 0x0a)) {
    headerEnd = 0;
    bodyStart = raw[0] === 0x0a ? 1 : 2;
  } else {
    const crlf = raw.indexOf('\r\n\r\n');
    const lf = raw.indexOf('\n\n');
    if (crlf >= 0 && (lf < 0 || crlf + 1 <= lf)) {
      headerEnd = crlf + 2;
      bodyStart = crlf + 4;
    } else if (lf >= 0) {
      headerEnd = lf + 1;
      bodyStart = lf + 2;
    }
  }
  const headerText = raw.subarray(0, headerEnd < 0 ? raw.length : headerEnd).toString('latin1');
  const fields: HeaderField[] = [];
  for (const line of headerText.split(/\r?\n/)) {
    if (line === '') continue;
    // RFC 5322 §2.2.3: a line starting with WSP continues the field above it.
    if ((line[0] === ' ' || line[0] === '\t') && fields.length > 0) {
      const last = fields[fields.length - 1];
      fields[fields.length - 1] = { name: last.name, raw: `${last.raw}\r\n${line}` };
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ name: line.slice(0, colon).trim().toLowerCase(), raw: line });
  }
  return { fields, body: raw.subarray(bodyStart) };
}

/**
 * RFC 6376 §3.4.2: name in lower case; unfold; runs of WSP to one SP; no WSP at the end of
 * the value or around the colon. Returned without the CRLF.
 */
export function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(':');
  const name = raw.slice(0, colon).replace(/[ \t]+$/, '').toLowerCase();
  const value = raw.slice(colon + 1).replace(/\r?\n/g, '').replace(/[ \t]+/g, ' ').replace(/^ /, '').replace(/ $/, '');
  return `${name}:${value}`;
}

const CRLF = Buffer.from('\r\n');
/** Body bytes hashed between two turns of the event loop. */
const SLICE_BYTES = 512 * 1024;

function needsRewrite(line: Buffer): boolean {
  return line.includes(0x09) || line.includes('  ') || (line.length > 0 && line[line.length - 1] === 0x20);
}

/**
 * RFC 6376 §3.4.4 relaxed body: runs of WSP to one SP, no WSP at line ends, no empty lines at
 * the end, and a non-empty body ends with CRLF. Returns base64 of its SHA-256 (the bh= tag).
 * Long bodies are hashed in slices with a turn of the event loop between them.
 */
export async function relaxedBodyHash(body: Buffer): Promise<string> {
  const hash = createHash('sha256');
  let emptyLines = 0;
  let sliceStart = 0;
  let pos = 0;
  while (pos < body.length) {
    const nl = body.indexOf(0x0a, pos);
    const end = nl < 0 ? body.length : nl;
    let line = body.subarray(pos, end > pos && body[end - 1] === 0x0d ? end - 1 : end);
    pos = nl < 0 ? body.length : nl + 1;
    if (needsRewrite(line)) line = Buffer.from(line.toString('latin1').replace(/[ \t]+/g, ' ').replace(/ $/, ''), 'latin1');
    if (line.length === 0) {
      emptyLines++;
    } else {
      for (; emptyLines > 0; emptyLines--) hash.update(CRLF);
      hash.update(line);
      hash.update(CRLF);
    }
    if (pos - sliceStart >= SLICE_BYTES) {
      sliceStart = pos;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return hash.digest('base64');
}
