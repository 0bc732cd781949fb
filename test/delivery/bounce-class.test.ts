// How a bounced recipient is classified for the `message.bounced` event
// (src/delivery/bounce-class.ts): hard (the address or domain does not exist), block
// (policy, RFC 3463 X.7.x) or soft (may succeed later).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyBounce, type BounceClass } from '../../src/delivery/bounce-class.ts';

function check(cases: Array<[string | null, number | null, BounceClass, string]>): void {
  for (const [enhanced, code, expected, why] of cases) {
    assert.equal(classifyBounce(enhanced, code), expected, `${code ?? '-'} ${enhanced ?? '-'} (${why})`);
  }
}

describe('RFC 3463 enhanced codes decide the class', () => {
  it('X.1.x addressing failures are hard', () => {
    check([
      ['5.1.1', 550, 'hard', 'bad destination mailbox'],
      ['5.1.2', null, 'hard', 'NXDOMAIN, no reply code'],
      ['5.1.10', null, 'hard', 'RFC 7505 null MX'],
      ['5.1.3', 501, 'hard', 'bad destination address syntax'],
    ]);
  });

  it('5.4.4 (no route to the domain) is hard', () => {
    check([['5.4.4', null, 'hard', 'unable to route']]);
  });

  it('X.7.x security and policy refusals are block, whatever the class', () => {
    check([
      ['5.7.1', 550, 'block', 'delivery not authorized'],
      ['5.7.26', 550, 'block', 'DMARC policy'],
      ['4.7.0', 421, 'block', 'temporary policy refusal'],
    ]);
  });

  it('mailbox, mail system and network conditions (X.2, X.3, X.4) are soft', () => {
    check([
      ['5.2.2', 552, 'soft', 'mailbox full'],
      ['5.3.4', 552, 'soft', 'message too big'],
      ['5.4.7', null, 'soft', 'delivery time expired'],
    ]);
  });

  it('4.x.x outcomes are soft', () => {
    check([
      ['4.4.3', null, 'soft', 'DNS failure'],
      ['4.2.1', 451, 'soft', 'mailbox busy'],
    ]);
  });

  it('other permanent codes (X.0, X.5, X.6) are hard', () => {
    check([
      ['5.0.0', 550, 'hard', 'undefined'],
      ['5.5.1', 500, 'hard', 'invalid command'],
      ['5.6.7', null, 'hard', 'SMTPUTF8 needed'],
    ]);
  });
});

describe('RFC 5321 §4.2.1 reply code alone, without an enhanced code', () => {
  it('a 5yz reply is hard, except 552 (storage exceeded), which is soft', () => {
    check([
      [null, 550, 'hard', 'mailbox unavailable'],
      [null, 554, 'hard', 'transaction failed'],
      [null, 552, 'soft', 'exceeded storage allocation'],
    ]);
  });

  it('no reply code at all, or a 4yz one, is soft', () => {
    check([
      [null, null, 'soft', 'nothing known'],
      [null, 451, 'soft', 'transient'],
    ]);
  });
});
