// One measurement: smtp-source pushes `messages` into the relay (or straight into the sink for
// the baseline) and we time two moments from its start: when smtp-source exits (every message
// accepted) and when the sink's counter reaches the total (every message relayed).
import { setTimeout as sleep } from 'node:timers/promises';
import type { RelayPath, Scenario } from './args.ts';
import { sampleTree, type TreeSample } from './proc-stats.ts';
import type { Relay } from './relay.ts';
import type { Sink } from './smtp-sink.ts';
import { startSource, type SourceRun } from './smtp-source.ts';

export interface RunResult {
  /** baseline, postfix, postline (on SQLite), postline-pg, postline-pg-2nodes. */
  readonly target: RelayPath;
  readonly label: string;
  readonly messages: number;
  readonly bytes: number;
  readonly sessions: number;
  /** Messages the relay said 250 to, and messages the sink received. */
  readonly accepted: number;
  readonly relayed: number;
  /** From smtp-source's start to its exit, and to the sink's last message; null if not reached. */
  readonly acceptedMs: number | null;
  readonly relayedMs: number | null;
  readonly acceptedPerS: number | null;
  readonly relayedPerS: number | null;
  /** CPU time (user + system) the relay's processes used during the run (all nodes'). */
  readonly cpuMs: number | null;
  /** PostgreSQL rows: CPU time of the server processes connected to the run's database; absent elsewhere. */
  readonly dbCpuMs?: number | null;
  readonly peakRssBytes: number | null;
  /** True when the peak is the largest of 2 s samples of the tree's summed PSS (Postfix). */
  readonly peakRssSampled: boolean;
  readonly error: string | null;
  readonly at: string;
}

export interface MeasureOptions {
  readonly smtpSource: string;
  readonly target: RelayPath;
  readonly scenario: Scenario;
  readonly sessions: number;
  readonly timeoutMs: number;
  readonly sink: Sink;
  readonly relay: Relay | null;
  readonly progress: (line: string) => void;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const perS = (count: number, ms: number | null) => (ms && ms > 0 ? (count * 1000) / ms : null);

/** The relay's process trees summed (one per node); null when any is gone. */
async function sampleRelay(relay: Relay): Promise<TreeSample | null> {
  const samples = await Promise.all((relay.pids ?? [relay.pid]).map((pid) => sampleTree(pid)));
  let sum: TreeSample = { cpuMs: 0, memoryBytes: 0, processes: 0 };
  for (const s of samples) {
    if (!s) return null;
    sum = { cpuMs: sum.cpuMs + s.cpuMs, memoryBytes: sum.memoryBytes + s.memoryBytes, processes: sum.processes + s.processes };
  }
  return sum;
}

/** `total` split as evenly as possible into `parts` (the first ones get the remainder). */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** One smtp-source per port (several nodes), each with its share of the messages and sessions; read as one. */
function startSources(bin: string, ports: readonly number[], scenario: Scenario, sessions: number): SourceRun {
  if (ports.length === 1) return startSource(bin, { port: ports[0], messages: scenario.messages, bytes: scenario.bytes, sessions });
  const messages = split(scenario.messages, ports.length);
  const perSession = split(sessions, ports.length);
  const runs = ports.map((port, i) => startSource(bin, { port, messages: messages[i], bytes: scenario.bytes, sessions: Math.max(1, perSession[i]) }));
  return {
    sent: () => runs.reduce((n, r) => n + r.sent(), 0),
    // Accepted when the last one exits; the first failure's code and message otherwise.
    done: Promise.all(runs.map((r) => r.done)).then((all) => ({
      at: Math.max(...all.map((d) => d.at)),
      code: all.find((d) => d.code !== 0)?.code ?? 0,
      stderr: all.map((d) => d.stderr).filter(Boolean).join('\n'),
    })),
    kill: async () => {
      await Promise.all(runs.map((r) => r.kill()));
    },
  };
}

export async function measure(options: MeasureOptions): Promise<RunResult> {
  const { scenario, sink, relay } = options;
  const base = sink.received();
  const before = relay ? await sampleRelay(relay) : null;
  const dbBefore = (await relay?.databaseCpuMs?.()) ?? null;
  let sampledPeak = before?.memoryBytes ?? 0;

  const t0 = Date.now();
  const deadline = t0 + options.timeoutMs;
  const source = startSources(options.smtpSource, relay ? (relay.ports ?? [relay.port]) : [sink.port], scenario, options.sessions);
  const name = `${options.target.padEnd(18)} ${scenario.label.padStart(6)}`;
  let lastMemory: number | null = null;
  const report = () => {
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    const memory = lastMemory === null ? '' : `  mem ${Math.round(lastMemory / 2 ** 20)} MiB`;
    options.progress(
      `  ${name}  accepted ${fmt(source.sent()).padStart(7)}/${fmt(scenario.messages)}` +
        `  relayed ${fmt(sink.received() - base).padStart(7)}/${fmt(scenario.messages)}  ${seconds} s${memory}`,
    );
  };
  let sampling = false;
  const ticker = setInterval(() => {
    report();
    if (!relay || sampling) return;
    sampling = true;
    // Also keeps the database's per-backend CPU current, so a backend that exits later still counts.
    void Promise.all([sampleRelay(relay), relay.databaseCpuMs?.()])
      .then(([s]) => {
        if (!s) return;
        lastMemory = s.memoryBytes;
        if (s.memoryBytes > sampledPeak) sampledPeak = s.memoryBytes;
      })
      .finally(() => {
        sampling = false;
      });
  }, 2000);

  let error: string | null = null;
  let acceptedMs: number | null = null;
  let relayedMs: number | null = null;
  try {
    const ac = new AbortController();
    const timedOut = sleep(Math.max(0, deadline - Date.now()), null, { signal: ac.signal }).catch(() => null);
    const finished = await Promise.race([source.done, timedOut]);
    ac.abort();
    if (!finished) {
      await source.kill();
      error = `timed out after ${options.timeoutMs / 1000} s with ${source.sent()} accepted`;
    } else if (finished.code !== 0) {
      error = `smtp-source exited with ${finished.code}: ${finished.stderr || 'no message'}`;
    } else {
      acceptedMs = finished.at - t0;
    }
    // After a failure, still wait (briefly) for what was accepted, so the numbers say how far it got.
    const expected = error ? source.sent() : scenario.messages;
    const waitUntil = error ? Math.min(deadline, Date.now() + 30_000) : deadline;
    const relayedAt = await sink.waitFor(base + expected, waitUntil);
    if (relayedAt !== null && !error) relayedMs = relayedAt - t0;
    if (relayedAt === null && !error) {
      error = `timed out after ${options.timeoutMs / 1000} s: the sink has ${sink.received() - base} of ${expected}`;
    }
  } finally {
    clearInterval(ticker);
  }
  report();

  const after = relay ? await sampleRelay(relay) : null;
  const dbAfter = (await relay?.databaseCpuMs?.()) ?? null;
  if (after && after.memoryBytes > sampledPeak) sampledPeak = after.memoryBytes;
  const exactPeak = relay ? await relay.peakRssBytes() : null;
  const accepted = source.sent();
  return {
    target: options.target,
    label: scenario.label,
    messages: scenario.messages,
    bytes: scenario.bytes,
    sessions: options.sessions,
    accepted,
    relayed: sink.received() - base,
    acceptedMs,
    relayedMs,
    acceptedPerS: perS(scenario.messages, acceptedMs),
    relayedPerS: perS(scenario.messages, relayedMs),
    cpuMs: before && after ? after.cpuMs - before.cpuMs : null,
    ...(relay?.databaseCpuMs ? { dbCpuMs: dbBefore !== null && dbAfter !== null ? dbAfter - dbBefore : null } : {}),
    peakRssBytes: exactPeak ?? (relay ? sampledPeak || null : null),
    peakRssSampled: relay !== null && exactPeak === null,
    error,
    at: new Date(t0).toISOString(),
  };
}
