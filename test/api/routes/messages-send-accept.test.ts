// MessageAcceptor (src/api/routes/messages-send-accept.ts) against a real store: sends that
// arrive together are stored in one transaction, and one that cannot be stored does not cost
// the others their acceptance.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig } from '../../../src/config/index.ts';
import { createTenant, newId, type Store } from '../../../src/store/index.ts';
import { MessageAcceptor } from '../../../src/api/routes/messages-send-accept.ts';
import type { PreparedMessage } from '../../../src/api/routes/messages-send-prepare.ts';
import { openTestStore, TEST_BACKEND } from '../../helpers/backend.ts';

function prepared(id: string, to: string): PreparedMessage {
  const raw = Buffer.from(`From: a@acme.example\r\nTo: ${to}\r\nSubject: s\r\n\r\nhi\r\n`);
  return {
    id, raw, headerSize: raw.indexOf('\r\n\r\n') + 4, mailFrom: 'a@acme.example', recipients: [to], messageIdHeader: `<${id}@acme.example>`,
    subject: 's', fromHeader: 'a@acme.example', smtputf8: false, stream: 'transactional', tags: null, metadata: null, sendAt: null,
  };
}

/** Counts what the acceptor reserves, gives back and hands over (delivery's side of it). */
const reserves: number[] = [];
let released = 0;
let delivered = 0;
const handoff = {
  reserve(count: number) {
    reserves.push(count);
    return { owner: 'test-owner', leaseMs: 60_000 };
  },
  deliver(claimed: readonly unknown[]) {
    delivered += claimed.length;
  },
  release(count: number) {
    released += count;
  },
};

describe(`MessageAcceptor (${TEST_BACKEND})`, () => {
  let dir: string;
  let store: Store;
  let tenantId: string;
  let acceptor: MessageAcceptor;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-acceptor-'));
    store = await openTestStore({ dataDir: dir });
    tenantId = (await createTenant(store.db, 'acme')).id;
    acceptor = new MessageAcceptor({ store, config: loadConfig({ env: {} }), handoff });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores sends that arrive together; one that fails (a message id stored twice) fails alone', async () => {
    const dup = newId();
    const ids = [newId(), dup, newId(), dup, newId()];
    const outcomes = await Promise.allSettled(ids.map((id, i) => acceptor.accept(tenantId, [prepared(id, `r${i}@x.example`)], null, ([a]) => ({ status: 202, body: a }))));
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(ok.length, 4, JSON.stringify(outcomes.map((o) => o.status)));
    assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 1);
    const stored = await store.db.selectFrom('messages').select(['id']).where('id', 'in', ids).execute();
    assert.equal(stored.length, 4);
    // One group of five first (they arrived together), then each alone after it failed.
    assert.equal(reserves[0], 5, `reservations: ${reserves.join(', ')}`);
    assert.equal(delivered, 4, 'the four stored are handed to delivery');
    assert.equal(reserves.reduce((a, b) => a + b, 0), released + delivered, 'every reservation is handed over or given back');
    // Each answer names its own message and recipient.
    for (const [i, o] of outcomes.entries()) {
      if (o.status !== 'fulfilled' || o.value.kind !== 'accepted') continue;
      const body = JSON.parse(o.value.body) as { id: string; recipients: Array<{ email: string }> };
      assert.equal(body.id, ids[i]);
      assert.equal(body.recipients[0].email, `r${i}@x.example`);
    }
  });
});
