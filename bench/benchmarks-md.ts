// `--write`: merges a run into BENCHMARKS.md. The file keeps every row's raw numbers in an
// HTML comment, so running only one relay later (`--only postline --write`) replaces that
// relay's rows and keeps the others; the tables between the markers are regenerated.
import { readFile, writeFile } from 'node:fs/promises';
import { RELAY_PATHS } from './args.ts';
import type { Machine } from './machine.ts';
import { machineLines } from './machine.ts';
import type { RunResult } from './measure.ts';
import { PATH_NAMES, cpuCell, groupByScenario, mib, postgresRatioLines, rate, ratios, seconds, times } from './report.ts';

const DATA = /<!-- bench:data ([\s\S]*?) -->/;
const section = (name: string) => new RegExp(`(<!-- bench:${name}:start -->\\n)[\\s\\S]*?(<!-- bench:${name}:end -->)`);

export class BenchmarksFileError extends Error {
  readonly code = 'BENCH_MD_MARKERS';
}

const keyOf = (r: RunResult) => `${r.target}|${r.label}|${r.messages}|${r.sessions}`;

function resultRows(results: readonly RunResult[]): string {
  const lines = [
    '| Size | Messages | Path | Accepted/s | Relayed/s | Relayed in | Relay CPU | CPU/msg | Peak memory | Measured |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const group of groupByScenario(results)) {
    const first = group[0];
    for (const target of RELAY_PATHS) {
      const r = group.find((g) => g.target === target);
      const head = `| ${first.label} | ${first.messages.toLocaleString('en-US')} | ${PATH_NAMES[target]} |`;
      if (!r) {
        lines.push(`${head} pending | pending | | | | | |`);
        continue;
      }
      const failed = r.error ? ` (failed: ${r.error.split('\n')[0].replaceAll('|', '/').slice(0, 120)})` : '';
      lines.push(
        `${head} ${rate(r.acceptedPerS)} | ${rate(r.relayedPerS)}${failed} | ${seconds(r.relayedMs)} s | ` +
          `${r.cpuMs === null ? '—' : `${seconds(r.cpuMs)} s`} | ${cpuCell(r, ' ms')} | ` +
          `${r.peakRssBytes === null ? '—' : mib(r.peakRssBytes) + (r.peakRssSampled ? '*' : '')} | ${r.at.slice(0, 10)} |`,
      );
    }
  }
  lines.push('', '\\* PSS summed over all of Postfix\'s processes (a shared page is split between its users), sampled every 2 s; Postline\'s figure is the kernel\'s VmHWM of its one process (with 2 nodes, the sum of both nodes\' VmHWM). On PostgreSQL, "+ N ms db" is the CPU per message of the PostgreSQL backends serving the run\'s database, on top of Postline\'s own.', '');
  const q = ratios(results);
  if (q.length === 0) lines.push('Postline ÷ Postfix: pending (no run with both).');
  for (const r of q) {
    lines.push(`- Postline ÷ Postfix, ${r.label} × ${r.messages.toLocaleString('en-US')}: accepted/s **${times(r.accepted)}**, relayed/s **${times(r.relayed)}**`);
  }
  for (const r of ratios(results, 'baseline', 'postfix')) {
    lines.push(`- Postfix ÷ baseline, ${r.label} × ${r.messages.toLocaleString('en-US')}: accepted/s ${times(r.accepted)}`);
  }
  for (const line of postgresRatioLines(results)) lines.push(`- ${line}`);
  return lines.join('\n') + '\n';
}

/** Merges `results` into the file's stored rows and rewrites the machine and results sections. */
export async function writeBenchmarksMd(file: string, results: readonly RunResult[], machine: Machine, command: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  if (!section('machine').test(text) || !section('results').test(text) || !DATA.test(text)) {
    throw new BenchmarksFileError(`${file} lacks the bench:machine / bench:results markers or the bench:data comment`);
  }
  const stored = JSON.parse(DATA.exec(text)?.[1] ?? '[]') as RunResult[];
  const merged = new Map(stored.map((r) => [keyOf(r), r]));
  for (const r of results) merged.set(keyOf(r), r);
  const all = [...merged.values()];
  const machineText = `${machineHeader(machine, command).join('\n')}\n`;
  const next = text
    .replace(section('machine'), (_m, start: string, end: string) => `${start}${machineText}${end}`)
    .replace(section('results'), (_m, start: string, end: string) => `${start}${resultRows(all)}${end}`)
    // "--" can only occur inside JSON strings, where \u002d reads back the same; so "-->" never appears.
    .replace(DATA, () => `<!-- bench:data ${JSON.stringify(all).replaceAll('--', '-\\u002d')} -->`);
  await writeFile(file, next);
}

/** The machine and the command, as the first lines of a section. */
export function machineHeader(machine: Machine, command: string): string[] {
  return [
    ...machineLines(machine).map((l) => `- ${l}`),
    `- Last written by: \`${command}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
  ];
}

/**
 * For the API and contacts sections: merges `results` into the rows stored in the comment
 * `bench:<name>-data` (a result replaces the stored one with the same key) and regenerates the
 * table between the `bench:<name>` markers from all of them.
 */
export async function mergeSection<T>(file: string, name: string, results: readonly T[], keyOf: (r: T) => string | number, render: (all: T[]) => string, order?: (a: T, b: T) => number): Promise<void> {
  const data = new RegExp(`<!-- bench:${name}-data ([\\s\\S]*?) -->`);
  const text = await readFile(file, 'utf8');
  if (!section(name).test(text) || !data.test(text)) {
    throw new BenchmarksFileError(`${file} lacks the bench:${name} markers or the bench:${name}-data comment`);
  }
  const stored = JSON.parse(data.exec(text)?.[1] ?? '[]') as T[];
  const merged = new Map(stored.map((r) => [keyOf(r), r]));
  for (const r of results) merged.set(keyOf(r), r);
  const all = [...merged.values()];
  if (order) all.sort(order);
  const next = text
    .replace(section(name), (_m, start: string, end: string) => `${start}${render(all)}${end}`)
    // As above: "--" only inside JSON strings, so "-->" never appears.
    .replace(data, () => `<!-- bench:${name}-data ${JSON.stringify(all).replaceAll('--', '-\\u002d')} -->`);
  await writeFile(file, next);
}
