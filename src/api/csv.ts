// CSV as RFC 4180 defines it, streamed both ways: records are read from chunks as they arrive
// (a 10 MB upload is never one string), and written one escaped field at a time. Reading is
// lenient where RFC 4180 is strict and the intent is plain: LF alone ends a record as CRLF
// does, a UTF-8 byte order mark (Excel's) is skipped, and blank lines are skipped.

/** A field longer than this stops the parse: no valid row has one, and an unclosed quote would otherwise swallow the file. */
export const MAX_CSV_FIELD_CHARS = 64 * 1024;
/** Fields per record beyond this stop the parse, for the same reason. */
export const MAX_CSV_FIELDS = 256;

export class CsvError extends Error {
  readonly code: 'CSV_FIELD_TOO_LONG' | 'CSV_TOO_MANY_FIELDS';
  /** The line the offending record starts on (1-based). */
  readonly line: number;
  constructor(code: CsvError['code'], line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvError';
    this.code = code;
    this.line = line;
  }
}

export interface CsvRecord {
  /** The physical line the record starts on (1-based); a quoted field may span lines. */
  readonly line: number;
  readonly fields: string[];
  /** Set when the record breaks RFC 4180 §2 quoting; its fields are then a best guess. */
  readonly error?: string;
}

/**
 * The records of a CSV stream (RFC 4180 §2): fields separated by commas, records by CRLF or
 * LF; a field in double quotes may hold commas, line breaks and `""` for a quote (§2.5–2.7).
 * Throws CsvError only when a field or record grows past the limits above.
 */
export async function* csvRecords(source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>): AsyncGenerator<CsvRecord> {
  // `stream: true` keeps a UTF-8 sequence split across chunks whole; ignoreBOM: false drops a leading BOM.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  let fields: string[] = [];
  let field = '';
  let quoted = false; // inside a quoted field
  let afterQuote = false; // a quoted field closed; only `,` or a line break may follow
  let pendingQuote = false; // saw `"` inside a quoted field: either `""` or the closing quote
  let fieldStarted = false;
  let error: string | undefined;
  let line = 1;
  let recordLine = 1;

  const tooLong = () => new CsvError('CSV_FIELD_TOO_LONG', recordLine, `a field is longer than ${MAX_CSV_FIELD_CHARS} characters (an unclosed quote?)`);
  const endField = () => {
    fields.push(field);
    if (fields.length > MAX_CSV_FIELDS) throw new CsvError('CSV_TOO_MANY_FIELDS', recordLine, `a record has more than ${MAX_CSV_FIELDS} fields`);
    field = '';
    quoted = false;
    afterQuote = false;
    fieldStarted = false;
  };
  const takeRecord = (): CsvRecord | undefined => {
    endField();
    const record = fields.length === 1 && fields[0] === '' && !error ? undefined : { line: recordLine, fields, ...(error ? { error } : {}) };
    fields = [];
    error = undefined;
    return record;
  };

  const chunks = async function* () {
    let first = true;
    for await (const chunk of source) {
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      yield first && text.startsWith('\uFEFF') ? text.slice(1) : text;
      if (text) first = false;
    }
    yield decoder.decode();
  };

  for await (const text of chunks()) {
    const out: CsvRecord[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (pendingQuote) {
        pendingQuote = false;
        if (c === '"') {
          field += '"'; // §2.7: "" inside a quoted field is one quote
          continue;
        }
        quoted = false;
        afterQuote = true;
      }
      if (quoted) {
        if (c === '"') pendingQuote = true;
        else {
          if (c === '\n') line++;
          field += c;
          if (field.length > MAX_CSV_FIELD_CHARS) throw tooLong();
        }
        continue;
      }
      if (c === ',') {
        endField();
      } else if (c === '\n') {
        line++;
        // CRLF: the CR was kept as data; drop it.
        if (!afterQuote && field.endsWith('\r')) field = field.slice(0, -1);
        const r = takeRecord();
        if (r) out.push(r);
        recordLine = line;
      } else if (c === '"' && !fieldStarted) {
        quoted = true;
        fieldStarted = true;
      } else if (afterQuote) {
        if (c !== '\r') error ??= 'text after a closing quote (a quote inside a field must be doubled and the field quoted, RFC 4180 §2.7)';
      } else {
        if (c === '"') error ??= 'a quote inside an unquoted field (quote the field and double the quote, RFC 4180 §2.5)';
        field += c;
        fieldStarted = true;
        if (field.length > MAX_CSV_FIELD_CHARS) throw tooLong();
      }
    }
    yield* out;
  }
  if (pendingQuote) {
    quoted = false;
    afterQuote = true;
  }
  if (quoted) error ??= 'a quoted field is not closed before the end of the file';
  if (!afterQuote && field.endsWith('\r')) field = field.slice(0, -1);
  const last = takeRecord();
  if (last) yield last;
}

/** One field, quoted when it must be (RFC 4180 §2.6–2.7): commas, quotes, CR or LF; null is empty. */
export function csvField(value: string | null | undefined): string {
  if (value == null || value === '') return '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One record with its CRLF line break (RFC 4180 §2.1). */
export function csvRow(values: ReadonlyArray<string | null | undefined>): string {
  return `${values.map(csvField).join(',')}\r\n`;
}
