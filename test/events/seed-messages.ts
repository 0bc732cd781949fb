// Messages with a history, written straight into a store the way ingress and delivery write
// them (insertMessage, then recordOutcomes): for tests of the read side that need delivered,
// bounced and deferred recipients without running delivery.
import { insertMessage, newId, recordOutcomes, type NewEvent, type Store, type Stream } from '../../src/store/index.ts';

export type SeedOutcome = 'delivered' | 'bounced' | 'deferred';

export interface SeedOptions {
  readonly from?: string;
  readonly to: readonly string[];
  readonly subject?: string;
  readonly tags?: readonly string[];
  readonly stream?: Stream;
  /** Recipient → outcome of one attempt; recipients not named stay in flight. */
  readonly outcomes?: Readonly<Record<string, SeedOutcome>>;
  readonly now?: number;
}

export function seedBody(subject: string, from: string, to: readonly string[]): Buffer {
  // A folded Subject (RFC 5322 §2.2.3) to prove the API unfolds it.
  return Buffer.from(`From: ${from}\r\nTo: ${to.join(', ')}\r\nSubject: ${subject}\r\n continued\r\nMessage-ID: <seed@example.com>\r\n\r\nHello.\r\n`);
}

export async function seedMessage(store: Store, tenantId: string, o: SeedOptions): Promise<string> {
  const now = o.now ?? Date.now();
  // Ids carry their time: seeded with `now`, they sort as the messages were created.
  const id = newId(now);
  const from = o.from ?? 'app@example.com';
  const bytes = seedBody(o.subject ?? 'Seeded', from, o.to);
  await store.write(async (trx) => {
    const claimed = await insertMessage(trx, {
      id, tenantId, origin: 'api', stream: o.stream, mailFrom: from, body: { size: bytes.length, inline: bytes, path: null },
      headerSize: bytes.indexOf('\r\n\r\n') + 4, messageIdHeader: '<seed@example.com>', subject: o.subject ?? 'Seeded', fromHeader: from,
      recipients: o.to.map((rcpt) => ({ rcpt })), leaseTo: { owner: 'seed', leaseMs: 600_000 },
    }, { now, lifetimeMs: 5 * 86_400_000 });
    if (o.tags) await trx.updateTable('messages').set({ tags: JSON.stringify(o.tags) }).where('id', '=', id).execute();
    const outcomes = o.outcomes ?? {};
    const done = claimed.filter((c) => outcomes[c.rcpt]);
    const code = (x: SeedOutcome) => (x === 'delivered' ? 250 : x === 'bounced' ? 550 : 451);
    const enhanced = (x: SeedOutcome) => (x === 'delivered' ? '2.0.0' : x === 'bounced' ? '5.1.1' : '4.3.0');
    const events: NewEvent[] = done.map((c) => {
      const x = outcomes[c.rcpt];
      const data: Record<string, unknown> = { message_id: id, recipient: c.rcpt, recipient_id: c.id, code: code(x), enhanced: enhanced(x), mx_host: 'mx.example.com' };
      if (x === 'bounced') data.classification = 'hard';
      return { type: `message.${x}`, tenantId, messageId: id, recipientId: c.id, data };
    });
    await recordOutcomes(trx, done.map((c) => ({
      id: c.id, owner: 'seed', status: outcomes[c.rcpt], nextAttemptAt: outcomes[c.rcpt] === 'deferred' ? now + 60_000 : undefined,
      code: code(outcomes[c.rcpt]), enhanced: enhanced(outcomes[c.rcpt]), response: `${code(outcomes[c.rcpt])} ${enhanced(outcomes[c.rcpt])} seeded`, mx: 'mx.example.com',
    })), done.map((c) => ({
      recipientId: c.id, messageId: id, startedAt: now, durationMs: 12, outcome: outcomes[c.rcpt], mxHost: 'mx.example.com', ip: '192.0.2.25', port: 25,
      code: code(outcomes[c.rcpt]), enhanced: enhanced(outcomes[c.rcpt]), response: `${code(outcomes[c.rcpt])} ${enhanced(outcomes[c.rcpt])} seeded`,
      tlsVersion: 'TLSv1.3', tlsCipher: 'TLS_AES_256_GCM_SHA384',
    })), events, now);
  });
  return id;
}
