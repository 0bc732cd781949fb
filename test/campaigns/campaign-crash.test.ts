// Issue 9 end to end, crash safety: a kill -9 in the middle of a campaign, then a restart,
// leaves every contact with exactly one message (counted at the sink): the ledger row, the
// message and the cursor move commit together, so nothing is skipped or sent twice.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useCampaignRig, SINK } from './campaign-rig.ts';

const cr = useCampaignRig();
const { listOf, campaign, campaignWhen, forSubject } = cr;

describe('Issue 9: a campaign survives kill -9', () => {
  it('kill -9 in the middle of a campaign, then restart: every contact gets one message, none is skipped or repeated', async () => {
    const N = 2000;
    const list = await listOf('Crash', 'k', N);
    const id = await campaign(list, 12_000, 'crash');
    await cr.rig.sink(SINK).waitFor((ms) => ms.filter((m) => m.raw.includes('Subject: crash\r\n')).length >= 400, 20_000);
    await cr.rig.postline.kill9();
    const before = forSubject('crash').length;
    assert.ok(before < N, `the campaign was still running at the kill (${before} delivered)`);
    await cr.rig.postline.restart();
    await cr.rig.sink(SINK).waitFor((ms) => new Set(ms.filter((m) => m.raw.includes('Subject: crash\r\n')).flatMap((m) => m.rcptTo)).size >= N, 40_000);
    const c = { body: await campaignWhen(id, 'sent') };
    assert.equal(c.body.status, 'sent');
    assert.equal(c.body.counts.queued, N);
    // One message per contact (one Message-ID each); a delivery cut by the kill may arrive twice (at-least-once delivery), never a second message.
    const byRcpt = new Map<string, Set<string>>();
    for (const m of forSubject('crash')) {
      const mid = /\r\nMessage-ID: (<[^>]+>)/i.exec(m.raw.toString('latin1'))![1];
      for (const r of m.rcptTo) byRcpt.set(r, (byRcpt.get(r) ?? new Set()).add(mid));
    }
    assert.equal(byRcpt.size, N);
    const repeated = [...byRcpt].filter(([, ids]) => ids.size !== 1).map(([r]) => r);
    assert.deepEqual(repeated, [], 'a contact got two different messages');
  });

});
