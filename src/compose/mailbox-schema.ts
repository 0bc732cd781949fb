// Header-safe text and mailboxes for the sending payload. Any CR or LF in a value that
// becomes a header is refused (RFC 5322 §2.2: a field body must not contain them, and a
// CRLF there would start a header of the caller's choosing: header injection).
import { z } from 'zod';
import addressparser from 'nodemailer/lib/addressparser';
import { parseAddress } from '../smtp/index.ts';

export const HEADER_INJECTION = 'must not contain CR or LF (header injection)';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/** A string that goes into a header: no CR, LF or other control characters (HTAB allowed). */
export function headerText(max: number) {
  return z.string().max(max).superRefine((value, ctx) => {
    if (/[\r\n]/.test(value)) ctx.addIssue({ code: 'custom', message: HEADER_INJECTION });
    else if (CONTROL.test(value)) ctx.addIssue({ code: 'custom', message: 'must not contain control characters' });
  });
}

/** A parsed mailbox: `address` has its domain in A-label form (IDNA), as the envelope needs. */
export interface Mailbox {
  readonly address: string;
  readonly name: string | null;
  /** The local part has non-ASCII characters: the message needs SMTPUTF8 (RFC 6531). */
  readonly utf8: boolean;
}

type MailboxInput = string | { email: string; name?: string | undefined };

/** Parses one address value, adding an issue at `path` (relative to the field) when it is not one. */
function toMailbox(value: MailboxInput, ctx: z.core.$RefinementCtx, path: PropertyKey[]): Mailbox | null {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message, path, input: value });
    return null;
  };
  let email: string;
  let name: string;
  if (typeof value === 'string') {
    if (/[\r\n]/.test(value)) return fail(HEADER_INJECTION);
    const parsed = addressparser(value);
    if (parsed.length !== 1 || 'group' in parsed[0]) return fail('expected one address, "a@example.com" or "Name <a@example.com>"');
    ({ name, address: email } = parsed[0]);
    if (CONTROL.test(name)) return fail('must not contain control characters');
  } else {
    email = value.email;
    name = value.name ?? '';
  }
  const parsed = parseAddress(email.trim());
  if (!parsed) return fail(`"${(email || (typeof value === 'string' ? value : value.email)).slice(0, 100)}" is not a valid email address`);
  return { address: parsed.address, name: name || null, utf8: parsed.utf8 };
}

const mailboxObject = z.strictObject({
  email: z.string().min(3).max(320),
  name: headerText(200).optional(),
});

const EXPECTED = 'expected "a@example.com", "Name <a@example.com>" or {"email": …, "name": …}';
const unionError = (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : EXPECTED);

const mailboxInput = z.union([z.string().min(3).max(600), mailboxObject], { error: unionError })
  .meta({ description: 'An address: "a@example.com", "Name <a@example.com>" or {"email", "name"}. IDN domains are accepted; UTF-8 local parts need an SMTPUTF8 path.' });

/** One address. */
export const mailboxSchema = mailboxInput.transform((value, ctx): Mailbox => toMailbox(value, ctx, []) ?? z.NEVER);

/** One address or a list of them (at most `max`). */
export function mailboxList(max: number) {
  return z.union([mailboxInput, z.array(mailboxInput)], { error: unionError }).transform((value, ctx): Mailbox[] => {
    const list = Array.isArray(value) ? value : [value];
    if (list.length > max) {
      ctx.addIssue({ code: 'custom', message: `at most ${max} addresses`, input: value });
      return z.NEVER;
    }
    const out: Mailbox[] = [];
    list.forEach((v, i) => {
      const m = toMailbox(v, ctx, Array.isArray(value) ? [i] : []);
      if (m) out.push(m);
    });
    return out.length === list.length ? out : z.NEVER;
  });
}
