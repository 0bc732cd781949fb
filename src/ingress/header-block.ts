// The top-level header section of a message (RFC 5322 §2.2), kept as raw lines so that
// what we do not touch goes out byte for byte. Only submission edits it.

export interface HeaderField {
  /** Lower-case field name. */
  readonly key: string;
  /** The raw field including folded continuation lines and the final CRLF. */
  readonly raw: Buffer;
}

/** Splits a header section (without the blank separator line) into fields. */
export function splitHeaderFields(block: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let start = 0;
  let pos = 0;
  while (pos < block.length) {
    let eol = block.indexOf(0x0a, pos);
    if (eol < 0) eol = block.length - 1;
    const next = eol + 1;
    // A line starting with WSP continues the previous field (RFC 5322 §2.2.3).
    if (next < block.length && (block[next] === 0x20 || block[next] === 0x09)) {
      pos = next;
      continue;
    }
    const raw = block.subarray(start, next);
    const colon = raw.indexOf(0x3a);
    const key = colon > 0 ? raw.subarray(0, colon).toString('latin1').trim().toLowerCase() : '';
    fields.push({ key, raw });
    start = next;
    pos = next;
  }
  return fields;
}

/** The unfolded value of a field, decoded as UTF-8 (RFC 6532 allows UTF-8 in headers). */
export function fieldValue(field: HeaderField): string {
  const text = field.raw.toString('utf8');
  const colon = text.indexOf(':');
  return text.slice(colon + 1).replace(/\r?\n([ \t])/g, '$1').trim();
}
