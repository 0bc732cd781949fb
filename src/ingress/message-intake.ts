// The DATA stream on its way to the spool: finds the header section, applies the
// listener's header policy (submission adds Received, Message-ID and Date and removes Bcc,
// RFC 6409 §8), refuses bare CR or LF (RFC 5321 §2.3.8; the SMTP smuggling defence) and
// counts bytes against the size limit, while the body streams through untouched.
import { Transform, type TransformCallback } from 'node:stream';
import { splitHeaderFields, fieldValue, type HeaderField } from './header-block.ts';

export interface IntakeHeaders {
  readonly fields: readonly HeaderField[];
  get(key: string): string | undefined;
  getAll(key: string): string[];
}

export interface IntakeOptions {
  readonly maxMessageBytes: number;
  readonly maxHeaderBytes: number;
  /**
   * Called once with the parsed header section; returns the header bytes to emit
   * instead (without the blank line). Throwing rejects the message after DATA ends.
   */
  readonly rewriteHeaders: (headers: IntakeHeaders) => Buffer;
}

export type IntakeProblem = 'bare-newline' | 'too-big' | 'header-too-big' | 'rejected';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

export class MessageIntake extends Transform {
  readonly #options: IntakeOptions;
  #head: Buffer[] = [];
  #headBytes = 0;
  #inBody = false;
  #received = 0;
  #prevByte = -1;
  /** The first problem found; the stream keeps draining so the reply follows DATA's end. */
  problem: IntakeProblem | null = null;
  problemError: unknown = null;
  headers: IntakeHeaders | null = null;
  headerSize = 0;

  constructor(options: IntakeOptions) {
    super();
    this.#options = options;
  }

  get receivedBytes(): number {
    return this.#received;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#received += chunk.length;
    if (this.problem) return cb();
    if (this.#received > this.#options.maxMessageBytes) return this.#fail('too-big', cb);
    if (this.#hasBareNewline(chunk)) return this.#fail('bare-newline', cb);
    if (this.#inBody) return cb(null, chunk);
    this.#head.push(chunk);
    this.#headBytes += chunk.length;
    const joined = this.#head.length === 1 ? chunk : Buffer.concat(this.#head, this.#headBytes);
    this.#head = [joined];
    // Searching from the start each time is fine: the header section is small and capped.
    const end = joined.indexOf(CRLFCRLF);
    if (end < 0) {
      if (this.#headBytes > this.#options.maxHeaderBytes) return this.#fail('header-too-big', cb);
      return cb();
    }
    this.#inBody = true;
    this.#head = [];
    try {
      const out = this.#emitHeaders(joined.subarray(0, end + 2));
      this.push(out);
      this.push(joined.subarray(end + 2));
    } catch (err) {
      this.problemError = err;
      return this.#fail('rejected', cb);
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (!this.problem && !this.#inBody) {
      // No blank line: the whole message is a header section (RFC 5322 §3.5 allows no body).
      const block = this.#head.length ? this.#head[0] : Buffer.alloc(0);
      try {
        const complete = block.length === 0 || block.subarray(-2).equals(CRLF) ? block : Buffer.concat([block, CRLF]);
        this.push(this.#emitHeaders(complete));
        this.push(CRLF);
      } catch (err) {
        this.problemError = err;
        this.problem = 'rejected';
      }
    }
    cb();
  }

  #emitHeaders(block: Buffer): Buffer {
    const fields = splitHeaderFields(block);
    const headers: IntakeHeaders = {
      fields,
      get: (key) => {
        const f = fields.find((x) => x.key === key);
        return f ? fieldValue(f) : undefined;
      },
      getAll: (key) => fields.filter((x) => x.key === key).map(fieldValue),
    };
    this.headers = headers;
    const out = this.#options.rewriteHeaders(headers);
    this.headerSize = out.length + 2;
    return out;
  }

  #fail(problem: IntakeProblem, cb: TransformCallback): void {
    this.problem = problem;
    this.#head = [];
    cb();
  }

  /** True when the chunk holds a LF not preceded by CR, or a CR not followed by LF. */
  #hasBareNewline(chunk: Buffer): boolean {
    const prev = this.#prevByte;
    this.#prevByte = chunk[chunk.length - 1];
    // A CR that ended the previous chunk must be followed by LF here.
    if (prev === 0x0d && chunk[0] !== 0x0a) return true;
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) {
      const before = i > 0 ? chunk[i - 1] : prev;
      if (before !== 0x0d) return true;
    }
    for (let i = chunk.indexOf(0x0d); i >= 0; i = chunk.indexOf(0x0d, i + 1)) {
      if (i + 1 < chunk.length && chunk[i + 1] !== 0x0a) return true;
    }
    return false;
  }
}
