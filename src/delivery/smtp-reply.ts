// Reading a remote SMTP reply (RFC 5321 §4.2) into its numeric code, RFC 3463 enhanced
// code and text. I/O-free: the client hands in the reply as received, one string with the
// lines of a multi-line reply joined by '\n' (nodemailer joins them so).

export interface SmtpReply {
  /** RFC 5321 §4.2: three digits, 2yz–5yz; null when the text does not start with one. */
  readonly code: number | null;
  /** RFC 3463 §2 `class.subject.detail`, e.g. '5.1.1'; null when the reply has none. */
  readonly enhanced: string | null;
  /** The reply text without codes; the lines of a multi-line reply joined by '\n'. */
  readonly text: string;
}

// RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF.
// Some servers send a bare code or a tab; both are accepted.
const REPLY_LINE = /^([2-5]\d\d)(?:[ \t-]|$)(.*)$/s;
// RFC 3463 §2 / RFC 2034 §4: the enhanced code leads the text of every line, then a space.
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?:[ \t]+|$)/;

/**
 * Parses a reply such as `'550-5.1.1 No such user\n550 5.1.1 Try again'`. Never throws:
 * text that is not a reply gives `{ code: null, enhanced: null, text }` with the text as is.
 */
export function parseSmtpReply(raw: string): SmtpReply {
  const lines = raw.replace(/\r/g, '').split('\n').filter((line) => line.trim() !== '');
  if (lines.length === 0) return { code: null, enhanced: null, text: '' };
  const first = REPLY_LINE.exec(lines[0].trimStart());
  if (!first) {
    const enhanced = ENHANCED.exec(raw.trim());
    return { code: null, enhanced: enhanced ? formatEnhanced(enhanced) : null, text: raw.trim() };
  }
  const code = Number(first[1]);
  const cls = first[1][0];
  let enhanced: string | null = null;
  const texts: string[] = [];
  for (const [index, line] of lines.entries()) {
    const match = REPLY_LINE.exec(line.trimStart());
    // A continuation line without the code is kept as text rather than dropped.
    let text = match ? match[2] : line;
    const enh = ENHANCED.exec(text);
    // RFC 2034 §4: the class must agree with the reply code's first digit; a code that
    // does not is left in the text rather than reported. The first line's code is the one.
    if (enh && enh[1] === cls) {
      if (index === 0) enhanced = formatEnhanced(enh);
      text = text.slice(enh[0].length);
    }
    texts.push(text.trimEnd());
  }
  return { code, enhanced, text: texts.join('\n') };
}

// Leading zeros are dropped so '5.01.001' and '5.1.1' compare equal (RFC 3463 §2 numbers).
function formatEnhanced(match: RegExpExecArray): string {
  return `${match[1]}.${Number(match[2])}.${Number(match[3])}`;
}

/** RFC 5321 §4.2.1: 4yz is transient, 5yz permanent; anything else is neither. */
export function replyClass(code: number | null): 'success' | 'intermediate' | 'transient' | 'permanent' | 'unknown' {
  if (code === null) return 'unknown';
  if (code >= 200 && code < 300) return 'success';
  if (code >= 300 && code < 400) return 'intermediate';
  if (code >= 400 && code < 500) return 'transient';
  if (code >= 500 && code < 600) return 'permanent';
  return 'unknown';
}
