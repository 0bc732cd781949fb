// Durability under kill -9: "Nothing accepted is ever lost." N messages over C sessions go
// to a real Postline child process that relays everything to a slow sink, so the queue
// builds up; the server is SIGKILLed at 1/3 and at 2/3 of the acceptances and restarted on
// the same data dir. Every submission that got 250 must reach the sink; repeats are counted
// and may only come from deliveries in flight at a kill. Sizes scale with
// POSTLINE_CRASH_MESSAGES (default 2000) and POSTLINE_CRASH_CONNECTIONS (default 20).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRelayToSink, type PostlineProcess } from '../helpers/postline.ts';
import type { SmtpSink } from '../helpers/smtp-sink.ts';
import { startCrashLoad, readCrashHeaders, type CrashLoadResult } from '../helpers/crash-load.ts';
import { queryServerDb } from '../helpers/backend.ts';

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (!v) return fallback;
  if (!/^\d+$/.test(v) || Number(v) === 0) throw new Error(`${name}: expected a positive whole number, got "${v}"`);
  return Number(v);
}

const MESSAGES = envInt('POSTLINE_CRASH_MESSAGES', 2000);
const CONNECTIONS = envInt('POSTLINE_CRASH_CONNECTIONS', 20);
/** Each 100th message is larger than the 1 MiB inline limit, so the spool path is crashed too. */
const LARGE_EVERY = 100;
/** The sink holds each DATA this long before its 250: slower than intake, so a queue builds. */
const SINK_DATA_DELAY_MS = 40;
/**
 * Width of the "in flight at the kill" window before each SIGKILL. A delivery repeats only
 * when the sink said 250 but the kill came before Postline committed the outcome. That
 * commit follows the 250 within one group-commit batch (milliseconds); 2 s is a generous,
 * explicit upper bound for it on a loaded 2-core machine. The window closes when the restart
 * begins: until then only the dead process's last transactions can complete at the sink.
 */
const INFLIGHT_WINDOW_MS = 2000;
/** Pause between the kill and the restart, as an operator or supervisor would take. */
const RESTART_PAUSE_MS = 250;
/** Bounded waits grow with POSTLINE_CRASH_MESSAGES; the default run stays under 3 minutes. */
const DELIVERY_WAIT_MS = Math.max(120_000, MESSAGES * 40);
const TEST_TIMEOUT_MS = Math.max(175_000, DELIVERY_WAIT_MS + MESSAGES * 40);
/** No new delivery for this long while some are missing: stop waiting and report. */
const STALL_MS = 15_000;
const log = (msg: string): void => console.log(`# crash-recovery: ${msg}`);

interface Kill {
  killAt: number;
  restartAt: number;
  readyAt: number;
  acceptedAtKill: number;
  deliveredAtKill: number;
}

interface Delivery {
  at: number;
  queueId: string | null;
}

describe('Durability: nothing accepted is ever lost across kill -9', () => {
  let sink: SmtpSink;
  let proc: PostlineProcess;

  let rig: Awaited<ReturnType<typeof startRelayToSink>> | undefined;

  before(async () => {
    rig = await startRelayToSink({ sink: { delayMs: { data: SINK_DATA_DELAY_MS } } });
    ({ sink, proc } = rig);
  });

  after(async () => {
    await rig?.close();
  });

  it(`delivers every one of ${MESSAGES} messages that got 250 after two kill -9 restarts, repeating only deliveries in flight at a kill`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const started = Date.now();
    const kills: Kill[] = [];
    const load = startCrashLoad({
      endpoint: () => proc.smtp,
      messages: MESSAGES,
      connections: CONNECTIONS,
      from: 'load@acme.test',
      to: 'rcpt@dest.test',
      largeEvery: LARGE_EVERY,
    });
    const progress = setInterval(() => log(`t=${((Date.now() - started) / 1000).toFixed(0)}s accepted=${load.acceptedCount()} at-sink=${sink.messages.length}`), 5000);
    let result: CrashLoadResult;
    try {
      for (const fraction of [1 / 3, 2 / 3]) {
        await load.whenAccepted(Math.ceil(MESSAGES * fraction));
        const kill: Kill = { killAt: Date.now(), restartAt: 0, readyAt: 0, acceptedAtKill: load.acceptedCount(), deliveredAtKill: sink.messages.length };
        await proc.kill9();
        await sleep(RESTART_PAUSE_MS);
        kill.restartAt = Date.now();
        await proc.restart();
        kill.readyAt = Date.now();
        kills.push(kill);
        log(`kill -9 #${kills.length} at accepted=${kill.acceptedAtKill} delivered=${kill.deliveredAtKill}; back after ${kill.readyAt - kill.killAt} ms`);
      }
      result = await load.done;
    } finally {
      clearInterval(progress);
    }
    const loadDoneAt = Date.now();
    assert.equal(kills.length, 2, 'both kills happened');
    for (const k of kills) {
      // Mid-run: submissions still coming, and accepted mail still waiting in the queue.
      assert.ok(k.acceptedAtKill < MESSAGES && k.deliveredAtKill < k.acceptedAtKill, `kill at accepted=${k.acceptedAtKill} delivered=${k.deliveredAtKill} was mid-run`);
    }
    assert.deepEqual(result.abandoned, [], 'every message was eventually accepted (no 5xx, no endless retries)');
    const accepted = result.accepted;

    // Every accepted submission at the sink, within a bounded wait.
    const deliveries = new Map<string, Delivery[]>();
    let counted = 0;
    let dsns = 0;
    const scan = (): void => {
      for (; counted < sink.messages.length; counted++) {
        const m = sink.messages[counted];
        if (m.mailFrom === '') {
          dsns++; // A DSN quotes the original headers; it is not a delivery of the original.
          continue;
        }
        const h = readCrashHeaders(m.raw);
        if (!h) continue;
        const list = deliveries.get(h.key) ?? [];
        list.push({ at: m.receivedAt.getTime(), queueId: h.queueId });
        deliveries.set(h.key, list);
      }
    };
    const missing = (): string[] => [...accepted.keys()].filter((k) => !deliveries.has(k));
    const deadline = Date.now() + DELIVERY_WAIT_MS;
    let lastLog = 0;
    let lastArrival = Date.now();
    let seen = sink.messages.length;
    for (;;) {
      scan();
      const left = missing().length;
      if (left === 0 || Date.now() > deadline) break;
      if (sink.messages.length !== seen) {
        seen = sink.messages.length;
        lastArrival = Date.now();
      }
      // A healthy server drains ~200 messages/s here: a long silence means it is stuck.
      if (Date.now() - lastArrival > STALL_MS) break;
      if (Date.now() - lastLog >= 5000) {
        lastLog = Date.now();
        log(`waiting: ${left} of ${accepted.size} accepted not yet at the sink`);
      }
      await sleep(200);
    }
    const deliveredAt = Date.now();
    const lost = missing();

    // The queue holds nothing queued, deferred or in flight once the sink has everything
    // (the last outcomes are committed just after the sink's last 250).
    let queue: { message_id: string; state: string; attempts: number; last_response: string | null }[] = [];
    for (let i = 0; i < 20; i++) {
      queue = await proc.cli('queue', 'list');
      if (queue.length === 0 || lost.length) break;
      await sleep(250);
    }
    // Mail committed without its 250 reaching the client (a kill cut the reply) is not waited
    // for above, and may reach the sink only now: count what arrived while the queue drained.
    scan();
    const ready = await (await fetch(`http://${proc.http!.host}:${proc.http!.port}/readyz`)).json() as { queue: Record<string, number> };
    const deliveredRows = ready.queue.delivered ?? 0;
    // A spool file outlives its message only when the kill cut DATA before the commit (an
    // orphan nobody references: garbage, not loss). One named by a delivered message leaked.
    const committedIds = new Set([...deliveries.values()].flatMap((list) => list.map((d) => d.queueId)));
    const spoolLeft = (await readdir(join(proc.dataDir, 'spool'))).filter((n) => n.endsWith('.eml'));
    const spoolLeaked = spoolLeft.filter((n) => committedIds.has(n.slice(0, -'.eml'.length)));

    // Repeats: the same submission (same queue id) at the sink more than once.
    const repeated = [...deliveries].filter(([, list]) => list.length > 1);
    const duplicates = repeated.reduce((sum, [, list]) => sum + list.length - 1, 0);
    const inWindow = (t: number, k: Kill): boolean => t >= k.killAt - INFLIGHT_WINDOW_MS && t <= k.restartAt;
    const inflightAtKills = kills.map((k) => sink.messages.filter((m) => m.mailFrom !== '' && inWindow(m.receivedAt.getTime(), k)).length);
    const duplicateBound = inflightAtKills.reduce((a, b) => a + b, 0);
    const outsideWindow = repeated.filter(([, list]) => !kills.some((k) => inWindow(list[0].at, k))).map(([key]) => key);
    // Committed but the client never saw the 250 (the kill cut the reply): it resubmitted, so
    // this message legitimately arrives under two submission keys. At most one per session per kill.
    const unacknowledged = [...deliveries.keys()].filter((k) => !accepted.has(k));
    const wrongQueueId = [...accepted.values()].filter((s) => deliveries.get(s.key)?.some((d) => d.queueId !== s.queueId)).map((s) => s.key);
    const outcomes = Object.groupBy(result.submissions, (s) => s.outcome);

    log([
      `messages=${MESSAGES} connections=${CONNECTIONS} submissions=${result.submissions.length}`,
      `accepted=${accepted.size} dropped=${outcomes.dropped?.length ?? 0} temporary=${outcomes.temporary?.length ?? 0}`,
      `delivered=${deliveries.size} lost=${lost.length} duplicates=${duplicates} (bound ${duplicateBound}: ${inflightAtKills.join('+')} in flight at the kills)`,
      `unacknowledged-delivered=${unacknowledged.length} dsns=${dsns} delivered-rows=${deliveredRows} spool-files-left=${spoolLeft.length} (of delivered messages: ${spoolLeaked.length})`,
      `backlog-at-kills=${kills.map((k) => k.acceptedAtKill - k.deliveredAtKill).join(',')} restart-ms=${kills.map((k) => k.readyAt - k.restartAt).join(',')}`,
      `load=${((loadDoneAt - started) / 1000).toFixed(1)}s drain=${((deliveredAt - loadDoneAt) / 1000).toFixed(1)}s total=${((Date.now() - started) / 1000).toFixed(1)}s`,
    ].join(' | '));
    if (repeated.length) log(`repeated: ${repeated.slice(0, 20).map(([k, l]) => `${k}×${l.length}`).join(' ')}`);

    if (lost.length) {
      const state = new Map(queue.map((r) => [r.message_id, `${r.state}/attempts=${r.attempts}`]));
      const sample = lost.slice(0, 20).map((k) => `${k}=${accepted.get(k)?.queueId}(${state.get(accepted.get(k)?.queueId ?? '') ?? 'not in queue'})`);
      log(`lost (first 20): ${sample.join(' ')}\n${proc.logs().slice(-3000)}`);
    }
    assert.deepEqual(lost, [], 'every submission that got 250 reached the sink');
    assert.deepEqual(wrongQueueId, [], 'each accepted submission arrived under the queue id its 250 named');
    assert.deepEqual(queue, [], 'nothing is left queued, deferred or in flight');
    assert.equal(dsns, 0, 'nothing bounced');
    assert.deepEqual(spoolLeaked, [], 'the spool file of a delivered message is removed');
    assert.deepEqual(outsideWindow, [], `only deliveries in the ${INFLIGHT_WINDOW_MS} ms before a kill are repeated`);
    assert.ok(duplicates <= duplicateBound, `duplicates ${duplicates} <= deliveries in flight at the kills ${duplicateBound}`);
    assert.ok(unacknowledged.length <= CONNECTIONS * kills.length, `unacknowledged-but-committed ${unacknowledged.length} <= one per session per kill`);
    // The database agrees with the sink: each committed submission is delivered exactly once in its state.
    if (deliveredRows !== deliveries.size) {
      const rows = await queryServerDb<{ message_id: string; attempts: number; last_response: string | null }>(proc, "select message_id, attempts, last_response from recipients where status = 'delivered'");
      const extra = rows.filter((r) => !committedIds.has(r.message_id));
      const attempts = extra.length ? await queryServerDb<Record<string, unknown>>(proc, `select message_id, started_at, outcome, response, port from attempts where message_id in (${extra.slice(0, 10).map(() => '?').join(', ')})`, extra.slice(0, 10).map((r) => r.message_id)) : [];
      log(`delivered rows not seen at the sink: ${JSON.stringify(extra.slice(0, 10))}\nattempts: ${JSON.stringify(attempts)}\nsink queue ids without a key: ${sink.messages.filter((m) => !readCrashHeaders(m.raw)).length}\n${proc.logs().split('\n').filter((l) => /interrupted|failed internally|cannot record/.test(l)).slice(0, 5).join('\n')}`);
    }
    assert.equal(deliveredRows, deliveries.size, 'delivered rows = distinct submissions at the sink');
  });
});
