// fast-check arbitraries for SMTP sessions drawn from the grammar of RFC 5321 §4.1 and its
// extensions (RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3030 BODY=BINARYMIME, RFC 6531
// SMTPUTF8, RFC 3461 DSN parameters in xtext, RFC 4954 AUTH, RFC 3207 STARTTLS): valid
// commands, near-valid ones and garbage, with the classic relay shapes in the addresses.
import fc from 'fast-check';

export interface GrammarOptions {
  /** A real credential, so some sessions get past AUTH and reach DATA on submission. */
  readonly credential: { username: string; password: string } | null;
  /** Domains the server hosts (MX) or the tenant owns (submission). */
  readonly domains: readonly string[];
  /** The tenant's sending domain, for authenticated transactions. */
  readonly senderDomain: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function domainArb(options: GrammarOptions): fc.Arbitrary<string> {
  const hosted = options.domains.flatMap((d) => [d, d.toUpperCase(), `${d}.`, `sub.${d}`]);
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...hosted, 'other.example', 'example.net') },
    { weight: 2, arbitrary: fc.constantFrom('[1.2.3.4]', '[127.0.0.1]', '[IPv6:::1]', '[IPv6:2001:db8::1]', '127.0.0.1', '0x7f.1', '[]', '[999.1.1.1]') },
    { weight: 2, arbitrary: fc.constantFrom('bücher.example', 'xn--bcher-kva.example', 'xn--.example', '-bad-.example', 'a..b', '.', '', 'localhost', `${'a'.repeat(64)}.example`, `${'a.'.repeat(140)}example`) },
    { weight: 1, arbitrary: fc.domain() },
    { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'grapheme' }) },
  );
}

function localArb(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('user', 'postmaster', 'Postmaster', 'first.last', 'a+tag', 'üser', 'δοκιμή') },
    { weight: 3, arbitrary: fc.constantFrom('user%other.example', 'user%hosted.test', 'other.example!user', '"user@other.example"', '"user%other"', '"a b"', '"a\\"b"', '""', '"unterminated', 'a..b', '.a', 'a.', 'a'.repeat(65), 'a'.repeat(400)) },
    { weight: 1, arbitrary: fc.emailAddress().map((e) => e.slice(0, e.lastIndexOf('@'))) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30, unit: 'binary' }) },
  );
}

/** A reverse- or forward-path with its angle brackets (or a broken variant of them). */
export function pathArb(options: GrammarOptions): fc.Arbitrary<string> {
  const mailbox = fc.tuple(localArb(), domainArb(options)).map(([l, d]) => `${l}@${d}`);
  const address = fc.oneof(
    { weight: 6, arbitrary: mailbox },
    { weight: 1, arbitrary: fc.tuple(domainArb(options), mailbox).map(([r, m]) => `@${r}:${m}`) },
    { weight: 1, arbitrary: fc.tuple(domainArb(options), domainArb(options), mailbox).map(([a, b, m]) => `@${a},@${b}:${m}`) },
    { weight: 1, arbitrary: fc.tuple(mailbox, domainArb(options)).map(([m, d]) => `${m}@${d}`) },
    { weight: 1, arbitrary: fc.constantFrom('', 'postmaster', '@', '@@', 'user@', '@host.example') },
  );
  return fc.tuple(address, fc.constantFrom('<>', '', '< >', '<', '>', '<<>>')).map(([a, wrap]) => {
    if (wrap === '<>') return `<${a}>`;
    if (wrap === '< >') return `< ${a} >`;
    if (wrap === '<<>>') return `<<${a}>>`;
    return wrap === '<' ? `<${a}` : wrap === '>' ? `${a}>` : a;
  });
}

/** xtext (RFC 3461 §4), valid or with bad `+XX` escapes and raw specials. */
function xtextArb(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('abc', 'a+2Bb', 'rfc822;user@example.net', 'rfc822;user+40example.net'),
    fc.constantFrom('+', '+Z', '+ZZ', '+2', 'a=b', 'semi;colon', 'sp ace', 'x'.repeat(600), 'ü', '+00'),
    fc.string({ maxLength: 40, unit: 'binary' }),
  );
}

function mailParamArb(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.oneof(fc.nat(), fc.constant(2 ** 53), fc.constantFrom('-1', 'abc', '', '1e9', '99999999999999999999999')).map((v) => `SIZE=${v}`),
    fc.constantFrom('7BIT', '8BITMIME', 'BINARYMIME', 'junk', '').map((v) => `BODY=${v}`),
    fc.constantFrom('SMTPUTF8', 'SMTPUTF8=yes', 'REQUIRETLS', 'AUTH=<>', 'AUTH=user+40example.net', 'MT-PRIORITY=3'),
    fc.constantFrom('FULL', 'HDRS', 'NONE', '').map((v) => `RET=${v}`),
    xtextArb().map((v) => `ENVID=${v}`),
    fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/), fc.string({ maxLength: 20 })).map(([k, v]) => `${k}=${v}`),
  );
}

function rcptParamArb(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('NEVER', 'SUCCESS', 'SUCCESS,FAILURE,DELAY', 'NEVER,SUCCESS', 'junk', '').map((v) => `NOTIFY=${v}`),
    xtextArb().map((v) => `ORCPT=${v}`),
    fc.constantFrom('ORCPT=rfc822', 'ORCPT=;', 'NOTIFY', 'SIZE=10'),
    fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/), fc.string({ maxLength: 20 })).map(([k, v]) => `${k}=${v}`),
  );
}

function heloName(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('client.example', '[127.0.0.1]', '[IPv6:::1]', '', ' ', 'a'.repeat(600), 'bücher.example', 'localhost', 'x y z', '..', '[1.2.3.4'),
    fc.domain(),
    fc.string({ maxLength: 60, unit: 'binary' }),
  );
}

/** A DATA body: headers, odd lines, bare CR/LF, dots, NULs, binary, header floods. */
export function bodyArb(): fc.Arbitrary<string> {
  const line = fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 80 }) },
    { weight: 1, arbitrary: fc.constantFrom('.', '..', '.hidden', '.\r', '\r', '\n', '\n.\n', '\r\n.\n', '\n.\r\n', '\r.\r', '\0', '\0\0\0', 'ÿþ', '\x1b[2J') },
    { weight: 1, arbitrary: fc.integer({ min: 990, max: 12_000 }).map((n) => 'L'.repeat(n)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a).toString('latin1')) },
  );
  const header = fc.oneof(
    fc.constantFrom('From: sender@acme.test', 'From: CEO <ceo@bank.example>', 'From:', 'From: a@acme.test, b@other.example', 'To: x@example.net', 'Subject: fuzz', 'Received: from loop', 'Content-Type: multipart/mixed; boundary=""', 'Content-Transfer-Encoding: base64', ' folded continuation'),
    fc.tuple(fc.stringMatching(/^[!-9;-~]{1,20}$/), fc.string({ maxLength: 60 })).map(([k, v]) => `${k}: ${v}`),
  );
  const flood = fc.integer({ min: 200, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `X-Flood-${i}: ${'v'.repeat(20)}`).join('\r\n'));
  return fc.tuple(fc.array(header, { maxLength: 8 }), fc.option(flood, { freq: 10 }), fc.array(line, { maxLength: 12 }))
    .map(([headers, fl, lines]) => [...headers, ...(fl ? [fl] : []), '', ...lines].join('\r\n') + '\r\n');
}

/** One command line (without CRLF), or a DATA command with its body and end marker. */
export function commandArb(options: GrammarOptions): fc.Arbitrary<string> {
  const path = pathArb(options);
  const cred = options.credential;
  const verb = (v: string) => fc.constantFrom(v, v.toLowerCase(), `${v[0]}${v.slice(1).toLowerCase()}`);
  const authGood = cred ? [fc.constant(`AUTH PLAIN ${b64(`\0${cred.username}\0${cred.password}`)}`)] : [];
  return fc.oneof(
    { weight: 3, arbitrary: fc.tuple(verb('EHLO'), heloName()).map(([v, n]) => `${v} ${n}`) },
    { weight: 1, arbitrary: fc.tuple(verb('HELO'), heloName()).map(([v, n]) => `${v} ${n}`) },
    { weight: 5, arbitrary: fc.tuple(fc.constantFrom('MAIL FROM:', 'mail from:', 'MAIL FROM: ', 'MAIL FROM', 'MAIL  FROM:'), path, fc.array(mailParamArb(), { maxLength: 4 })).map(([v, p, ps]) => [`${v}${p}`, ...ps].join(' ')) },
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom('RCPT TO:', 'rcpt to:', 'RCPT TO: ', 'RCPT TO'), path, fc.array(rcptParamArb(), { maxLength: 3 })).map(([v, p, ps]) => [`${v}${p}`, ...ps].join(' ')) },
    { weight: 3, arbitrary: fc.tuple(bodyArb(), fc.boolean()).map(([body, end]) => `DATA\r\n${body.replace(/(^|\r\n)\./g, '$1..')}${end ? '.' : ''}`) },
    { weight: 1, arbitrary: fc.constantFrom('DATA', 'DATA x', 'BDAT 10 LAST', 'BDAT x', 'RSET', 'RSET x', 'NOOP', 'NOOP hello', 'QUIT', 'VRFY postmaster', 'VRFY', 'EXPN all', 'HELP', 'HELP MAIL', 'TURN', 'ETRN hosted.test', 'XCLIENT ADDR=1.2.3.4', 'XFORWARD NAME=x', 'STARTTLS', 'STARTTLS x', '', ' ', '\t', '.') },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,10}( .{0,40})?$/) },
    { weight: 2, arbitrary: fc.oneof(
      fc.base64String({ maxLength: 80 }).map((s) => `AUTH PLAIN ${s}`),
      fc.constantFrom('AUTH PLAIN', 'AUTH LOGIN', 'AUTH CRAM-MD5', 'AUTH XOAUTH2 abc', 'AUTH', 'AUTH PLAIN =', 'AUTH PLAIN *', `AUTH PLAIN ${b64('\0\0')}`, `AUTH PLAIN ${b64('a\0b\0c\0d')}`),
      fc.tuple(fc.base64String({ maxLength: 40 }), fc.base64String({ maxLength: 40 })).map(([u, p]) => `AUTH LOGIN ${u}\r\n${p}`),
      ...authGood,
    ) },
    { weight: 1, arbitrary: fc.string({ maxLength: 120, unit: 'binary' }) },
    { weight: 1, arbitrary: fc.integer({ min: 500, max: 20_000 }).map((n) => `NOOP ${'x'.repeat(n)}`) },
  );
}

/** A near-valid transaction, so mutations start from sessions that reach DATA. */
export function transactionArb(options: GrammarOptions, authenticated: boolean): fc.Arbitrary<string[]> {
  const dom = authenticated ? options.senderDomain : options.domains[0];
  const cred = options.credential;
  return fc.tuple(bodyArb(), fc.nat(3)).map(([body, rcpts]) => [
    'EHLO client.example',
    ...(authenticated && cred ? [`AUTH PLAIN ${b64(`\0${cred.username}\0${cred.password}`)}`] : []),
    `MAIL FROM:<sender@${dom}>`,
    ...Array.from({ length: rcpts + 1 }, (_, i) => `RCPT TO:<r${i}@${authenticated ? 'example.net' : dom}>`),
    `DATA\r\nFrom: sender@${dom}\r\n${body.replace(/(^|\r\n)\./g, '$1..')}.`,
  ]);
}
