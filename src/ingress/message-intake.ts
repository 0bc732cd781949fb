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
// header-too-big and rejected exclude each other: a header is only judged when it fits.
const PROBLEM_RANK: Record<IntakeProblem, number> = { 'bare-newline': 3, 'too-big': 2, 'header-too-big': 1, rejected: 1 };

export class MessageIntake extends Transform {
  readonly #options: IntakeOptions;
  #head: Buffer[] = [];
  #headBytes = 0;
  #inBody = false;
  #received = 0;
  #prevByte = -1;
  /** The highest-ranked problem found; the stream keeps draining so the reply follows DATA's end. */
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
    if (chunk.length === 0) return cb();
    this.#received += chunk.length;
    // Every byte is checked, even after a first problem, so that the verdict does not depend
    // on how TCP cut the stream: a bare CR/LF outranks size, size outranks the header checks.
    if (this.#hasBareNewline(chunk)) this.#fail('bare-newline');
    if (this.#received > this.#options.maxMessageBytes) this.#fail('too-big');
    if (this.problem) return cb();
    if (this.#inBody) return cb(null, chunk);
    this.#head.push(chunk);
    this.#headBytes += chunk.length;
    const joined = this.#head.length === 1 ? chunk : Buffer.concat(this.#head, this.#headBytes);
    this.#head = [joined];
    // RFC 5322 §2.1: the header section may be empty, then the data opens with the blank line.
    // Searching from the start each time is fine: the header section is small and capped.
    // `blank` is where the blank line starts, i.e. the end of the last header field.
    const terminator = joined.indexOf(CRLFCRLF);
    const blank = joined[0] === 0x0d && joined[1] === 0x0a ? 0 : terminator < 0 ? -1 : terminator + 2;
    if (blank < 0) {
      // The blank line, when it comes, ends past what we hold, so the section is already too big.
      if (this.#headBytes > this.#options.maxHeaderBytes) this.#fail('header-too-big');
      return cb();
    }
    // The header section with its blank line must fit, however many chunks brought it.
    if (blank + 2 > this.#options.maxHeaderBytes) {
      this.#fail('header-too-big');
      return cb();
    }
    this.#inBody = true;
    this.#head = [];
    try {
      const out = this.#emitHeaders(joined.subarray(0, blank));
      this.push(out);
      this.push(joined.subarray(blank));
    } catch (err) {
      this.problemError = err;
      this.#fail('rejected');
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    // A CR that ends the stream has no LF after it (RFC 5321 §2.3.8).
    if (this.#prevByte === 0x0d) this.#fail('bare-newline');
    if (!this.problem && !this.#inBody) {
      // No blank line: the whole message is a header section (RFC 5322 §3.5 allows no body).
      const block = this.#head.length ? this.#head[0] : Buffer.alloc(0);
      const complete = block.length === 0 || block.subarray(-2).equals(CRLF) ? block : Buffer.concat([block, CRLF]);
      if (complete.length + 2 > this.#options.maxHeaderBytes) {
        this.#fail('header-too-big');
        return cb();
      }
      try {
        this.push(this.#emitHeaders(complete));
        this.push(CRLF);
      } catch (err) {
        this.problemError = err;
        this.#fail('rejected');
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

  /** Keeps the highest-ranked problem, so the reply is the same whatever the chunking. */
  #fail(problem: IntakeProblem): void {
    if (!this.problem || PROBLEM_RANK[problem] > PROBLEM_RANK[this.problem]) this.problem = problem;
    this.#head = [];
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
