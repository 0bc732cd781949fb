import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rewriteHtmlForTracking } from '../../src/campaigns/index.ts';

const track = (url: string) => `https://t.example/c?u=${encodeURIComponent(url)}`;

describe('click and open tracking rewrite (htmlparser2, not a regex)', () => {
  it('rewrites http(s) links of <a> and <area> only, leaving comments, scripts, mailto, anchors and marked links as they were', () => {
    const html = '<html><body><!-- <a href="https://in-comment.example/"> --><p><a class=x href="https://shop.example/a?x=1&amp;y=2" title="a>b">Shop</a>'
      + ' <a href="mailto:a@b.example">mail</a> <a href="#top">top</a> <a data-pl-notrack href="https://keep.example/">keep</a>'
      + '<script>var s = "<a href=https://in-script.example/>";</script><map><area href="http://area.example/x"></map><A HREF=https://upper.example/>U</A></p></body></html>';
    const out = rewriteHtmlForTracking(html, { clickUrl: track, openPixelUrl: null });
    assert.ok(out.includes('<!-- <a href="https://in-comment.example/"> -->'));
    assert.ok(out.includes('var s = "<a href=https://in-script.example/>";'));
    assert.ok(out.includes(`<a class="x" href="${track('https://shop.example/a?x=1&y=2').replace(/&/g, '&amp;')}" title="a&gt;b">Shop</a>`));
    assert.ok(out.includes('<a href="mailto:a@b.example">mail</a> <a href="#top">top</a> <a data-pl-notrack href="https://keep.example/">keep</a>'));
    assert.ok(out.includes(`<area href="${track('http://area.example/x')}">`));
    assert.ok(out.includes(`<a href="${track('https://upper.example/')}">U</A>`));
  });

  it('puts the open pixel just before </body>, or at the end without one; changes nothing when both are off', () => {
    const pixel = 'https://t.example/o.gif';
    assert.match(rewriteHtmlForTracking('<html><body><p>x</p></body></html>', { clickUrl: null, openPixelUrl: pixel }), /<p>x<\/p><img src="https:\/\/t\.example\/o\.gif"[^>]*\/><\/body><\/html>$/);
    assert.match(rewriteHtmlForTracking('<p>x</p>', { clickUrl: null, openPixelUrl: pixel }), /^<p>x<\/p><img src=/);
    const html = '<p><a href="https://a.example/">a</a></p>';
    assert.equal(rewriteHtmlForTracking(html, { clickUrl: null, openPixelUrl: null }), html);
  });

  it('skips the links `keep` names (the unsubscribe link)', () => {
    const out = rewriteHtmlForTracking('<a href="https://u.example/u/tok">Unsubscribe</a><a href="https://b.example/">b</a>', { clickUrl: track, openPixelUrl: null, keep: (u) => u.startsWith('https://u.example/u/') });
    assert.ok(out.startsWith('<a href="https://u.example/u/tok">Unsubscribe</a>'));
    assert.ok(out.includes(track('https://b.example/')));
  });
});
