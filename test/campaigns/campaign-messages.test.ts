import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildCampaignMessage, CampaignMessages, type CampaignMessageOptions } from '../../src/campaigns/campaign-message.ts';
import { LinkSigner } from '../../src/campaigns/index.ts';
import { TemplateRenderer } from '../../src/compose/index.ts';
import { newId, type CampaignTable, type ContactTable } from '../../src/store/index.ts';

const options: CampaignMessageOptions = {
  hostname: 'mx.example', signer: new LinkSigner(Buffer.alloc(32, 7), 'https://links.example'), renderer: new TemplateRenderer(),
  mailtoHost: 'bounces.news.example', maxMessageBytes: 10_000_000, linkBase: 'https://l.news.example', date: new Date(1_700_000_000_000),
};

function campaign(html: string, track: 0 | 1): CampaignTable {
  return {
    id: 'cmp_1', tenant_id: 'ten_1', name: 'News', from_address: 'news@news.example', from_name: 'News', reply_to: null, subject: 'Hi {{contact.name}}', html,
    text: 'Hi {{contact.name}}', list_ids: '["lst_1"]', track_opens: track, track_clicks: track,
  } as CampaignTable;
}

const contacts = [
  { id: 'ct_1', email: 'a@b.example', name: 'Ann <&> "Q" \'s` =', attributes: '{"city":"Köln","vip":true}' },
  { id: 'ct_2', email: 'c@d.example', name: null, attributes: '{"city":null}' },
  { id: 'ct_3', email: 'e@f.example', name: 'Zed', attributes: '{"city":{"x":1},"name":"from attributes"}' },
] as ContactTable[];

// The multipart boundary is random per message.
const bytes = (raw: Buffer) => raw.toString().replace(/=_postline_[0-9a-f-]+/g, 'BOUNDARY');

describe('campaign messages prepared once per content', () => {
  const cases: Array<[string, string, boolean]> = [
    ['values in text, a tracked link', '<p>Hello {{contact.name}} from {{contact.city}}</p><p><a href="https://shop.example/offer">Offer</a></p>', true],
    ['the template\'s own unsubscribe link, an <area>, an escaped query', '<html><body><p>Hi {{contact.name}}</p><a href="{{unsubscribe_url}}">unsub</a> <a href="https://x.example/?a=1&amp;b=2" class=btn>go</a><area href="http://y.example/"></body></html>', true],
    ['values in a script and an upper-case </BODY>', '<a href="mailto:x@y.example">m</a>{{contact.email}}<script>var a="{{contact.name}}"</script></BODY>', true],
    ['a value in an attribute (general path)', '<p title="{{contact.name}}">x</p><a href="https://x.example/">a</a>', false],
    ['a personalised link (general path)', '<a href="https://x.example/{{contact.id}}">a</a>', false],
    ['a block helper (general path)', '{{#if contact.vip}}<b>VIP</b>{{/if}}<a href="https://x.example/">a</a>', false],
    ['a value in a comment (general path)', '<!-- {{contact.name}} --><a href="https://x.example/">a</a>', false],
  ];
  for (const [label, html, prepared] of cases) {
    it(`makes byte for byte the message buildCampaignMessage makes: ${label}`, async () => {
      for (const track of [0, 1] as const) {
        const c = campaign(html, track);
        const content = { subject: c.subject, html: c.html, text: c.text };
        const messages = new CampaignMessages(c, content, options);
        assert.equal(messages.prepared, prepared);
        for (const contact of contacts) {
          const id = newId();
          const want = await buildCampaignMessage(c, content, contact, id, options);
          const got = await messages.build(contact, id);
          assert.equal(bytes(got.raw), bytes(want.raw));
          assert.equal(got.headerSize, want.headerSize);
        }
      }
    });
  }
});
