import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { autoReplyReason } from '../../src/bounces/auto-reply.ts';

const h = (key: string, value: string) => ({ key, value });

describe('RFC 3834 automatic responses', () => {
  it('§5: Auto-Submitted other than "no" marks an automatic message, comments ignored', () => {
    assert.equal(autoReplyReason([h('auto-submitted', 'auto-replied')], 'Re: x'), 'auto-submitted: auto-replied');
    assert.equal(autoReplyReason([h('auto-submitted', 'Auto-Generated (notification)')], 'x'), 'auto-submitted: auto-generated');
    assert.equal(autoReplyReason([h('auto-submitted', 'no')], 'Re: x'), undefined);
    assert.equal(autoReplyReason([h('auto-submitted', '(comment) no')], 'Re: x'), undefined);
  });

  it('de facto headers: X-Autoreply, X-Autorespond, Precedence: auto_reply', () => {
    assert.equal(autoReplyReason([h('x-autoreply', 'yes')], ''), 'x-autoreply');
    assert.equal(autoReplyReason([h('x-autorespond', 'Vacation')], ''), 'x-autorespond');
    assert.equal(autoReplyReason([h('x-autoreply', 'no')], ''), undefined);
    assert.equal(autoReplyReason([h('precedence', 'auto_reply')], ''), 'precedence: auto_reply');
    assert.equal(autoReplyReason([h('precedence', 'bulk')], ''), undefined);
  });

  it('Exchange: X-MS-Exchange-Inbox-Rules-Loop, and X-Auto-Response-Suppress naming OOF/All', () => {
    assert.equal(autoReplyReason([h('x-ms-exchange-inbox-rules-loop', 'a@example.com')], ''), 'x-ms-exchange-inbox-rules-loop');
    assert.equal(autoReplyReason([h('x-auto-response-suppress', 'DR, OOF, AutoReply')], ''), 'x-auto-response-suppress');
    assert.equal(autoReplyReason([h('x-auto-response-suppress', 'DR')], ''), undefined);
  });

  it('vacation subjects in several languages, after reply prefixes', () => {
    for (const subject of ['Out of Office: Invoice', 'Automatic reply: Invoice', 'Auto: Invoice', 'AW: Abwesenheitsnotiz', 'Réponse automatique : Facture', 'RE: I am currently out of the office', 'Automatische Antwort: Rechnung']) {
      assert.ok(autoReplyReason([], subject), subject);
    }
  });

  it('an ordinary subject without headers is not an auto-reply', () => {
    assert.equal(autoReplyReason([], 'Re: Your order has shipped'), undefined);
    assert.equal(autoReplyReason([], 'Automobile parts'), undefined);
    assert.equal(autoReplyReason([], undefined), undefined);
  });
});
