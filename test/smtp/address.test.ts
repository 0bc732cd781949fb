// Envelope mailbox parsing (RFC 5321 §4.1.2, RFC 6531 §3.3): what an address may look like,
// and the relay tricks that must never parse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddress, normaliseDomain, domainOf } from '../../src/smtp/index.ts';

describe('RFC 5321 §4.1.2 mailboxes parseAddress accepts', () => {
  it('a dot-atom local part and lower-cases only the domain', () => {
    assert.deepEqual(parseAddress('User.Name+tag@Example.COM'), {
      localPart: 'User.Name+tag', domain: 'example.com', address: 'User.Name+tag@example.com', utf8: false,
    });
    assert.equal(parseAddress("o'brien-x_y=z{}~@mail.example.org")?.address, "o'brien-x_y=z{}~@mail.example.org");
  });

  it('a quoted local part with spaces and quoted pairs', () => {
    assert.equal(parseAddress('"john doe"@example.com')?.localPart, '"john doe"');
    assert.equal(parseAddress('"a\\"b"@example.com')?.localPart, '"a\\"b"');
  });

  it('a UTF-8 local part (RFC 6531 §3.3) and marks it as needing SMTPUTF8', () => {
    const a = parseAddress('jürgen@example.com');
    assert.equal(a?.localPart, 'jürgen');
    assert.equal(a?.utf8, true);
    assert.equal(parseAddress('user@example.com')?.utf8, false);
  });

  it('an IDN domain, returned as a lower-case A-label (RFC 5890)', () => {
    assert.equal(parseAddress('user@bücher.example')?.domain, 'xn--bcher-kva.example');
    assert.equal(parseAddress('user@BÜCHER.Example.')?.address, 'user@xn--bcher-kva.example');
    assert.equal(parseAddress('user@xn--bcher-kva.example')?.domain, 'xn--bcher-kva.example');
    assert.equal(parseAddress('用户@例子.example')?.domain, 'xn--fsqu00a.example');
  });

  it('a local part of exactly 64 octets (RFC 5321 §4.5.3.1.1)', () => {
    assert.ok(parseAddress(`${'a'.repeat(64)}@example.com`));
  });
});

describe('RFC 5321 §4.1.2 mailboxes parseAddress refuses', () => {
  const refused: Array<[string, string]> = [
    ['the percent hack', 'user%other.example@relay.example'],
    ['a quoted percent hack', '"user%other.example"@relay.example'],
    ['a source route', '@a.example:b@c.example'],
    ['a source route with two hops', '@a.example,@b.example:user@c.example'],
    ['a bang path', 'other.example!user@relay.example'],
    ['an IPv4 address literal', 'user@[127.0.0.1]'],
    ['an IPv6 address literal', 'user@[IPv6:::1]'],
    ['a bare IPv4 address as domain', 'user@127.0.0.1'],
    ['a short-form IPv4 the URL parser would expand', 'user@127.1'],
    ['a hexadecimal IPv4 the URL parser would expand', 'user@0x7f.1'],
    ['an empty local part', '@example.com'],
    ['an empty domain', 'user@'],
    ['no @ at all', 'user.example.com'],
    ['the empty string', ''],
    ['a single-label domain', 'user@localhost'],
    ['a 65-octet local part', `${'a'.repeat(65)}@example.com`],
    ['a local part of 33 two-octet characters (66 octets)', `${'ü'.repeat(33)}@example.com`],
    ['a 64-character label', `user@${'a'.repeat(64)}.example`],
    ['a domain over 253 octets', `user@${`${'a'.repeat(60)}.`.repeat(5)}com`],
    ['an input over 320 characters', `${'a'.repeat(60)}@${`${'b'.repeat(60)}.`.repeat(5)}com`.padEnd(330, 'c')],
    ['consecutive dots in the local part', 'a..b@example.com'],
    ['a leading dot in the local part', '.a@example.com'],
    ['a trailing dot in the local part', 'a.@example.com'],
    ['an unquoted space', 'a b@example.com'],
    ['an empty domain label', 'user@example..com'],
    ['a label starting with a hyphen', 'user@-bad.example'],
    ['an underscore in the domain', 'user@exa_mple.com'],
    ['a control character', 'us\ter@example.com'],
  ];
  for (const [name, input] of refused) {
    it(`${name}: ${JSON.stringify(input.length > 40 ? `${input.slice(0, 37)}...` : input)}`, () => {
      assert.equal(parseAddress(input), undefined);
    });
  }
});

describe('domain helpers', () => {
  it('normaliseDomain lower-cases, drops the root dot, converts to A-labels and refuses IPs', () => {
    assert.equal(normaliseDomain(' Mail.Example.COM. '), 'mail.example.com');
    assert.equal(normaliseDomain('bücher.example'), 'xn--bcher-kva.example');
    assert.equal(normaliseDomain('10.0.0.1'), '');
    assert.equal(normaliseDomain('localhost'), '');
    assert.equal(normaliseDomain(''), '');
  });

  it('domainOf takes the part after the last @', () => {
    assert.equal(domainOf('"a@b"@Bücher.Example'), 'xn--bcher-kva.example');
    assert.equal(domainOf('no-at-sign'), '');
  });
});
