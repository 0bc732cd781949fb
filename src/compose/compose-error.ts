// What can go wrong while turning a request into a message. `pointer` is an RFC 6901 JSON
// Pointer into the request body (or, for a template, the template field at fault), so the
// API can answer a problem that names the field; `kind` picks the status.
export type ComposeErrorKind = 'invalid' | 'too-large' | 'unprocessable' | 'not-found';

export class ComposeError extends Error {
  readonly code: string;
  readonly kind: ComposeErrorKind;
  /** RFC 6901 pointer, e.g. `/attachments/0/content` or `/html`. */
  readonly pointer: string;

  constructor(code: string, kind: ComposeErrorKind, pointer: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ComposeError';
    this.code = code;
    this.kind = kind;
    this.pointer = pointer;
  }
}
