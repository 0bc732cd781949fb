import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { throttleSignal } from '../../src/pools/index.ts';

describe('what a reply says about the sending IP', () => {
  const rate: Array<[number, string | null, string]> = [
    [421, '4.7.0', '421-4.7.0 Try again later, closing connection. (EHLO) - gsmtp'],
    [421, '4.7.28', '421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address.'],
    [451, '4.7.500', '451 4.7.500 Server busy. Please try again later from [203.0.113.5]. (AS761)'],
    [451, '4.7.650', '451 4.7.650 The mail server [203.0.113.5] has been temporarily rate limited due to IP reputation.'],
    [421, '4.7.0', '421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user complaints'],
    [450, null, '450 Too many connections from your host, try again later'],
    [421, null, '421 Service not available, closing transmission channel'],
  ];
  for (const [code, enhanced, text] of rate) {
    it(`slows down on ${text.slice(0, 48)}…`, () => assert.equal(throttleSignal(code, enhanced, text), 'rate-limit'));
  }

  const block: Array<[number, string | null, string]> = [
    [550, '5.7.1', '550 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org'],
    [550, '5.7.606', '550 5.7.606 Access denied, banned sending IP [203.0.113.5].'],
    [554, null, '554 mx.example.net ESMTP not accepting messages from your IP address (listed on a DNSBL)'],
    [553, '5.7.1', '553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.5, because the ip is in Spamhaus\'s list'],
  ];
  for (const [code, enhanced, text] of block) {
    it(`moves to another IP on ${text.slice(0, 48)}…`, () => assert.equal(throttleSignal(code, enhanced, text), 'ip-block'));
  }

  const neither: Array<[number | null, string | null, string]> = [
    [451, '4.2.1', '451 4.2.1 Mailbox busy, try again later'],
    [450, '4.2.1', '450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.'],
    [451, '4.7.1', '451 4.7.1 Greylisted, please try again in 300 seconds'],
    [550, '5.1.1', '550 5.1.1 No such user'],
    [550, '5.7.26', '550 5.7.26 Unauthenticated email from example.com is not accepted due to domain\'s DMARC policy'],
    [552, '5.2.2', '552 5.2.2 Mailbox full'],
    [451, '4.3.0', '451 4.3.0 Try again later'],
    [452, '4.3.1', '452 4.3.1 Insufficient system storage, try again later'],
    [null, null, 'connect ECONNREFUSED 127.0.0.2:25'],
  ];
  for (const [code, enhanced, text] of neither) {
    it(`says nothing about the IP on ${text.slice(0, 48)}…`, () => assert.equal(throttleSignal(code, enhanced, text), null));
  }
});
