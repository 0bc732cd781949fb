// Fault loop: kill -9 at seeded random points while a load generator submits, round after
// round, on one data dir. After each round every submission that got 250 must reach the sink
// (lost = 0); repeats are counted (at-least-once: only deliveries in flight at a kill may
// repeat). Sizes come from the environment so CI runs a small loop and `npm run fuzz`-style
// runs a large one:
//   POSTLINE_FAULT_ROUNDS (default 2), POSTLINE_FAULT_MESSAGES (default 1000),
//   POSTLINE_FAULT_KILLS per round (default 2), POSTLINE_FAULT_CONNECTIONS (default 10),
//   POSTLINE_FAULT_SEED (default 8). The figures line starts with "# fault-loop: total".
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRelayToSink, type PostlineProcess } from '../helpers/postline.ts';
import type { SmtpSink } from '../helpers/smtp-sink.ts';
import { startCrashLoad, readCrashHeaders } from '../helpers/crash-load.ts';

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (!v) return fallback;
  if (!/^\d+$/.test(v)) throw new Error(`${name}: expected a whole number, got "${v}"`);
  return Number(v);
}

const ROUNDS = envInt('POSTLINE_FAULT_ROUNDS', 2);
const MESSAGES = envInt('POSTLINE_FAULT_MESSAGES', 1000);
const KILLS = envInt('POSTLINE_FAULT_KILLS', 2);
const CONNECTIONS = envInt('POSTLINE_FAULT_CONNECTIONS', 10);
const SEED = envInt('POSTLINE_FAULT_SEED', 8);
/** No new delivery for this long while some are missing: stop waiting and report. */
const STALL_MS = 15_000;
const log = (msg: string): void => console.log(`# fault-loop: ${msg}`);

/** mulberry32: a small seeded PRNG, so a failing loop can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Totals {
  submissions: number;
  accepted: number;
  delivered: number;
  lost: number;
  duplicates: number;
  unacknowledged: number;
  kills: number;
  bounced: number;
}

describe('Fault loop: kill -9 at seeded random points loses nothing accepted', () => {
  let sink: SmtpSink;
  let proc: PostlineProcess;

  let rig: Awaited<ReturnType<typeof startRelayToSink>> | undefined;

  before(async () => {
    rig = await startRelayToSink({ env: { POSTLINE_LOG_LEVEL: 'warn' } });
    ({ sink, proc } = rig);
  });

  after(async () => {
    await rig?.close();
  });

  it(`delivers every 250-accepted submission over ${ROUNDS} round(s) of ${MESSAGES} messages with ${KILLS} seeded kill -9 each (seed ${SEED}): lost = 0`, { timeout: Math.max(120_000, ROUNDS * MESSAGES * 60) }, async () => {
    const random = prng(SEED);
    const totals: Totals = { submissions: 0, accepted: 0, delivered: 0, lost: 0, duplicates: 0, unacknowledged: 0, kills: 0, bounced: 0 };
    const started = Date.now();
    for (let round = 1; round <= ROUNDS; round++) {
      sink.reset();
      // Kill points: seeded fractions of the acceptances, plus a seeded delay so a kill lands
      // in any phase (DATA, commit, fsync, delivery, outcome) rather than right after a 250.
      const points = Array.from({ length: KILLS }, () => 0.05 + random() * 0.9).sort((a, b) => a - b);
      const load = startCrashLoad({
        endpoint: () => proc.smtp,
        messages: MESSAGES,
        connections: CONNECTIONS,
        from: 'load@acme.test',
        to: `round-${round}@dest.test`,
        largeEvery: 250,
      });
      for (const p of points) {
        await load.whenAccepted(Math.ceil(MESSAGES * p));
        await sleep(Math.floor(random() * 40));
        await proc.kill9();
        totals.kills++;
        await sleep(50 + Math.floor(random() * 200));
        await proc.restart();
      }
      const result = await load.done;
      assert.deepEqual(result.abandoned, [], `round ${round}: every message was eventually accepted`);

      const deliveries = new Map<string, number>();
      let counted = 0;
      let lastArrival = Date.now();
      const missing = (): string[] => [...result.accepted.keys()].filter((k) => !deliveries.has(k));
      for (;;) {
        for (; counted < sink.messages.length; counted++) {
          lastArrival = Date.now();
          const m = sink.messages[counted];
          if (m.mailFrom === '') {
            totals.bounced++;
            continue;
          }
          const h = readCrashHeaders(m.raw);
          if (h) deliveries.set(h.key, (deliveries.get(h.key) ?? 0) + 1);
        }
        if (missing().length === 0 || Date.now() - lastArrival > STALL_MS) break;
        await sleep(100);
      }
      const lost = missing();
      const duplicates = [...deliveries.values()].reduce((sum, n) => sum + n - 1, 0);
      const unacknowledged = [...deliveries.keys()].filter((k) => !result.accepted.has(k)).length;
      totals.submissions += result.submissions.length;
      totals.accepted += result.accepted.size;
      totals.delivered += [...result.accepted.keys()].filter((k) => deliveries.has(k)).length;
      totals.lost += lost.length;
      totals.duplicates += duplicates;
      totals.unacknowledged += unacknowledged;
      log(`round ${round}/${ROUNDS}: kills at ${points.map((p) => p.toFixed(2)).join(',')} submissions=${result.submissions.length} accepted=${result.accepted.size} delivered=${result.accepted.size - lost.length} lost=${lost.length} duplicates=${duplicates} unacknowledged-delivered=${unacknowledged}`);
      if (lost.length) log(`lost (first 20): ${lost.slice(0, 20).join(' ')}\n${proc.logs().slice(-3000)}`);
      assert.deepEqual(lost, [], `round ${round}: every submission that got 250 reached the sink`);
    }
    log(`total: rounds=${ROUNDS} messages/round=${MESSAGES} kills=${totals.kills} seed=${SEED} submissions=${totals.submissions} accepted=${totals.accepted} delivered=${totals.delivered} lost=${totals.lost} duplicates=${totals.duplicates} unacknowledged-delivered=${totals.unacknowledged} bounced=${totals.bounced} duration=${((Date.now() - started) / 1000).toFixed(1)}s`);
    assert.equal(totals.lost, 0);
    assert.equal(totals.bounced, 0, 'nothing bounced');
  });
});
