import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { countSpfLookups, mergeSpf, spfMergeAdvice } from '../../src/domains/index.ts';
import { hasMechanisms, isSpfRecord, spfMultipleWarning } from '../../src/domains/spf-advice.ts';

describe('SPF merge advice (RFC 7208)', () => {
  it('§4.6.4 counts include, a, mx, ptr, exists and redirect, with or without qualifiers, and not ip4/ip6/all', () => {
    assert.equal(countSpfLookups('v=spf1 include:a.example +a -mx:x.example ?ptr ~exists:%{i}.x.example ip4:192.0.2.1 ip6:2001:db8::1 redirect=_spf.example'), 6);
    assert.equal(countSpfLookups('v=spf1 ip4:192.0.2.0/24 -all'), 0);
    assert.equal(countSpfLookups('v=spf1 a/24 mx//64 ~all'), 2);
  });

  it('§4.5 recognises a record by v=spf1 followed by a space or nothing', () => {
    assert.ok(isSpfRecord('v=spf1 -all'));
    assert.ok(isSpfRecord('V=SPF1'));
    assert.ok(!isSpfRecord('v=spf10 -all'));
    assert.ok(!isSpfRecord('google-site-verification=x'));
  });

  it('merges the mechanism before all / redirect=, and not twice', () => {
    assert.equal(mergeSpf('v=spf1 mx -all', ['include:_spf.mta.example']), 'v=spf1 mx include:_spf.mta.example -all');
    assert.equal(mergeSpf('v=spf1 mx redirect=_spf.other.example', ['include:_spf.mta.example']), 'v=spf1 mx include:_spf.mta.example redirect=_spf.other.example');
    assert.equal(mergeSpf('v=spf1 mx', ['ip4:192.0.2.1']), 'v=spf1 mx ip4:192.0.2.1');
    assert.equal(mergeSpf('v=spf1 include:_SPF.mta.example ~all', ['include:_spf.mta.example']), 'v=spf1 include:_SPF.mta.example ~all');
  });

  it('treats a mechanism with a fail or softfail qualifier as not authorising Postline', () => {
    assert.ok(hasMechanisms('v=spf1 +include:_spf.mta.example -all', ['include:_spf.mta.example']));
    assert.ok(!hasMechanisms('v=spf1 -include:_spf.mta.example ~all', ['include:_spf.mta.example']));
  });

  it('gives the lookup counts before and after, and says when the merge exceeds 10', () => {
    const ok = spfMergeAdvice('v=spf1 include:a.example -all', ['include:_spf.mta.example']);
    assert.equal(ok.lookupsNow, 1);
    assert.equal(ok.lookupsMerged, 2);
    assert.doesNotMatch(ok.warning, /exceed/);
    const full = spfMergeAdvice(`v=spf1 ${Array.from({ length: 10 }, (_, i) => `include:i${i}.example`).join(' ')} -all`, ['include:_spf.mta.example']);
    assert.equal(full.lookupsMerged, 11);
    assert.match(full.warning, /would exceed the 10-lookup limit/);
    const ips = spfMergeAdvice(`v=spf1 ${Array.from({ length: 10 }, (_, i) => `include:i${i}.example`).join(' ')} -all`, ['ip4:192.0.2.1']);
    assert.equal(ips.lookupsMerged, 10, 'ip4 needs no lookup');
  });

  it('§4.5 advises merging several published SPF records into one', () => {
    const { merged, warning } = spfMultipleWarning(['v=spf1 mx -all', 'v=spf1 include:b.example ~all'], ['include:_spf.mta.example']);
    assert.equal(merged, 'v=spf1 mx include:b.example include:_spf.mta.example -all');
    assert.match(warning, /2 SPF records are published/);
  });
});
