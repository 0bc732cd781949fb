// `npm run bench`: the relay benchmark, then the HTTP API's acceptance (bench/api.ts). For each load shape it measures smtp-source straight into
// smtp-sink (the ceiling of the tools themselves), then through a private Postfix instance,
// then through Postline, each relay fresh and pointed at a fresh sink. Everything is on
// 127.0.0.1 and under one temp dir that is removed at the end, even after an error or Ctrl-C.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { runApiScenario, type ApiResult } from './api.ts';
import { sourceIpsTextReport } from './source-ips-report.ts';
import { contactsTextReport, runContactsBench, writeContactsBenchmarksMd, type ContactsBenchResult } from './contacts.ts';
import { apiTextReport, writeApiBenchmarksMd } from './api-report.ts';
import { BenchUsageError, USAGE, parseBenchArgs, type BenchOptions, type RelayPath, type Scenario } from './args.ts';
import { writeBenchmarksMd } from './benchmarks-md.ts';
import { describeMachine, machineLines } from './machine.ts';
import { measure, type RunResult } from './measure.ts';
import { startPostfixRelay } from './postfix-relay.ts';
import { startPostlineRelay } from './postline-relay.ts';
import { startPostlinePgRelay } from './postline-pg-relay.ts';
import { dropStaleBenchDatabases, postgresProblem } from './postgres-db.ts';
import type { Relay } from './relay.ts';
import { textReport } from './report.ts';
import { startSink, type Sink } from './smtp-sink.ts';
import { BenchSetupError, findPostfixTools, type PostfixTools } from './tools.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');

const log = (line: string) => process.stderr.write(line + '\n');

type Stoppable = Pick<Relay, 'stop' | 'stopNow'>;
/** Processes that must not outlive the benchmark, stopped in reverse order. */
const live = new Set<{ relay?: Stoppable; sink?: Pick<Sink, 'stop' | 'stopNow'> }>();
/** The temp dir, until it is removed (or kept with --keep-temp). */
let tempDir: string | null = null;

function failedRun(target: RelayPath, scenario: Scenario, sessions: number, error: string): RunResult {
  return {
    target, label: scenario.label, messages: scenario.messages, bytes: scenario.bytes, sessions,
    accepted: 0, relayed: 0, acceptedMs: null, relayedMs: null, acceptedPerS: null, relayedPerS: null,
    cpuMs: null, peakRssBytes: null, peakRssSampled: false, error, at: new Date().toISOString(),
  };
}

async function runOne(target: RelayPath, scenario: Scenario, index: number, tmp: string, tools: PostfixTools, options: BenchOptions, sourceIps = 0): Promise<RunResult> {
  log(`▶ ${target} ${scenario.label}: ${scenario.messages.toLocaleString('en-US')} messages over ${options.sessions} sessions, a new connection each`);
  const handle: { relay?: Relay; sink?: Sink } = {};
  live.add(handle);
  try {
    handle.sink = await startSink(tools.smtpSink);
    if (target === 'postfix') {
      handle.relay = await startPostfixRelay({
        postfixBin: tools.postfix as string, dir: join(tmp, `postfix-${index}`), sinkPort: handle.sink.port, concurrency: options.sessions,
      });
    } else if (target === 'postline') {
      handle.relay = await startPostlineRelay({
        root: ROOT, dataDir: join(tmp, `postline-${index}`), sinkPort: handle.sink.port, concurrency: options.sessions,
        profileDir: options.profile ? RESULTS_DIR : null, sourceIps,
      });
    } else if (target === 'postline-pg' || target === 'postline-pg-2nodes') {
      // Issue 7: the same load through Postline on a fresh PostgreSQL database, 1 node or 2 sharing it.
      handle.relay = await startPostlinePgRelay({
        root: ROOT, dir: join(tmp, `postline-pg-${index}`), sinkPort: handle.sink.port, concurrency: options.sessions,
        nodes: target === 'postline-pg' ? 1 : 2, pgUrl: options.pgUrl, profileDir: options.profile ? RESULTS_DIR : null,
      });
    }
    const result = await measure({
      smtpSource: tools.smtpSource, target, scenario, sessions: options.sessions, timeoutMs: options.timeoutMs,
      sink: handle.sink, relay: handle.relay ?? null, progress: log,
    });
    if (result.error && handle.relay) log(`  ${target} log (last lines):\n${await handle.relay.logTail()}`);
    return result;
  } catch (err) {
    if (!(err instanceof BenchSetupError)) throw err;
    log(`  ✗ ${err.code}: ${err.message}`);
    return failedRun(target, scenario, options.sessions, `${err.code}: ${err.message}`);
  } finally {
    await handle.relay?.stop();
    await handle.sink?.stop();
    live.delete(handle);
  }
}

/** The URL without its password, for log lines. */
function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

async function stopAll(): Promise<void> {
  for (const handle of [...live].reverse()) {
    await handle.relay?.stop().catch(() => undefined);
    await handle.sink?.stop().catch(() => undefined);
  }
  live.clear();
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof BenchUsageError) && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') !== true) throw err;
    log(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let tools: PostfixTools;
  try {
    tools = await findPostfixTools(options.targets);
  } catch (err) {
    if (!(err instanceof BenchSetupError)) throw err;
    log(`bench: ${err.message}`);
    return 2;
  }

  const tmp = await mkdtemp(join(tmpdir(), 'postline-bench-'));
  tempDir = options.keepTemp ? null : tmp;
  // Postfix's daemons run as the postfix user and must reach their queue under this dir.
  await chmod(tmp, 0o755);
  let machine = await describeMachine(tools.postconf, tmp, ROOT);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  log(`Postline benchmark (${command})`);
  for (const line of machineLines(machine)) log(`  ${line}`);
  if (machine.loadAverage > machine.cpus / 2) {
    log(`  warning: load average ${machine.loadAverage.toFixed(2)} on ${machine.cpus} cores; other work will skew the numbers`);
  }
  if (options.profile) await mkdir(RESULTS_DIR, { recursive: true });

  // Postline's relay rows: on SQLite, then on PostgreSQL (1 and 2 nodes) when it answers.
  const postlinePaths: RelayPath[] = options.backends.includes('sqlite') ? ['postline'] : [];
  if (options.backends.includes('postgres') && options.targets.includes('postline') && options.scenarios.length > 0) {
    const problem = await postgresProblem(options.pgUrl);
    if (problem) log(`  PostgreSQL not reachable at ${redactedUrl(options.pgUrl)} (${problem}): skipping the Postline-on-PostgreSQL rows`);
    else {
      const stale = await dropStaleBenchDatabases(options.pgUrl);
      if (stale.length > 0) log(`  dropped ${stale.length} database(s) left by earlier bench runs: ${stale.join(', ')}`);
      postlinePaths.push('postline-pg', 'postline-pg-2nodes');
    }
  }
  const paths: RelayPath[] = options.targets.flatMap((t) => (t === 'postline' ? postlinePaths : [t]));

  const results: RunResult[] = [];
  // Issue 5: the 1 KB load again, from an IP pool of N source addresses (--source-ips).
  const sourceIpResults: RunResult[] = [];
  const apiResults: ApiResult[] = [];
  const contactsResults: ContactsBenchResult[] = [];
  try {
    let index = 0;
    for (const scenario of options.scenarios) {
      for (const target of paths) {
        results.push(await runOne(target, scenario, index++, tmp, tools, options));
        await sleep(1000); // Let the last connections' sockets close before the next run.
      }
    }
    for (const n of options.scenarios.length > 0 ? options.sourceIps : []) {
      const scenario = { ...options.scenarios[0], label: `${options.scenarios[0].label}, ${n} source IP${n === 1 ? '' : 's'}` };
      sourceIpResults.push(await runOne('postline', scenario, index++, tmp, tools, options, n));
      await sleep(1000);
    }
    for (const scenario of options.apiScenarios) {
      apiResults.push(await runApiScenario(scenario, index++, {
        root: ROOT, dataDir: tmp, smtpSink: tools.smtpSink, profileDir: options.profile ? RESULTS_DIR : null,
        timeoutMs: options.timeoutMs, progress: log,
        track: (handle) => {
          live.add(handle);
          return () => live.delete(handle);
        },
      }));
      await sleep(1000);
    }
    if (options.contacts > 0) contactsResults.push(await runContactsBench({ root: ROOT, dataDir: tmp, contacts: options.contacts, timeoutMs: options.timeoutMs, progress: log }));
  } finally {
    await stopAll();
    if (options.keepTemp) log(`temp dir kept: ${tmp}`);
    else await rm(tmp, { recursive: true, force: true });
    tempDir = null;
  }

  machine = { ...machine, loadAverageEnd: loadavg()[0] };
  log(`  load average at the end: ${machine.loadAverageEnd?.toFixed(2)}`);
  if (options.json) process.stdout.write(JSON.stringify({ machine, command, results, sourceIps: sourceIpResults, api: apiResults, contacts: contactsResults }, null, 2) + '\n');
  else {
    if (results.length > 0) process.stdout.write(`\n${textReport(results)}\n`);
    if (sourceIpResults.length > 0) process.stdout.write(`\n${sourceIpsTextReport(sourceIpResults, results)}\n`);
    if (apiResults.length > 0) process.stdout.write(`\n${apiTextReport(apiResults)}\n`);
    if (contactsResults.length > 0) process.stdout.write(`\n${contactsTextReport(contactsResults)}\n`);
  }
  await mkdir(RESULTS_DIR, { recursive: true });
  const saved = join(RESULTS_DIR, `run-${new Date().toISOString().replaceAll(':', '-').slice(0, 19)}.json`);
  await writeFile(saved, JSON.stringify({ machine, command, results, sourceIps: sourceIpResults, api: apiResults, contacts: contactsResults }, null, 2) + '\n');
  log(`results saved to ${saved}`);
  if (options.profile) log(`CPU profiles of Postline: ${RESULTS_DIR}/*.cpuprofile (open in Chrome DevTools → Performance)`);
  if (options.write) {
    if (results.length > 0) await writeBenchmarksMd(join(ROOT, 'BENCHMARKS.md'), results, machine, command);
    if (apiResults.length > 0) await writeApiBenchmarksMd(join(ROOT, 'BENCHMARKS.md'), apiResults, machine, command);
    if (contactsResults.length > 0) await writeContactsBenchmarksMd(join(ROOT, 'BENCHMARKS.md'), contactsResults, machine, command);
    log('BENCHMARKS.md updated');
  }
  return results.some((r) => r.error) || sourceIpResults.some((r) => r.error) || apiResults.some((r) => r.error) || contactsResults.some((r) => r.error) ? 1 : 0;
}

// Ctrl-C or a CI timeout: stop the relays (Postfix's master is a daemon and would survive us).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\nbench: ${signal}, stopping relays`);
    const force = setTimeout(() => process.exit(130), 30_000);
    void stopAll()
      .then(() => (tempDir ? rm(tempDir, { recursive: true, force: true }) : undefined))
      .finally(() => {
        clearTimeout(force);
        process.exit(130);
      });
  });
}
process.on('exit', () => {
  for (const handle of live) {
    handle.relay?.stopNow();
    handle.sink?.stopNow();
  }
});

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
