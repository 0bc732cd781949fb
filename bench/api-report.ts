// The API bench's console table and its section of BENCHMARKS.md. As for the relay rows, the raw
// numbers are kept in an HTML comment (bench:api-data), so `--only api --write` replaces the rows
// of the shapes it ran and keeps the others; the table between the markers is regenerated.
import { readFile, writeFile } from 'node:fs/promises';
import type { ApiResult } from './api.ts';
import { machineLines, type Machine } from './machine.ts';
import { BenchmarksFileError } from './benchmarks-md.ts';
import { rate, seconds } from './report.ts';

const DATA = /<!-- bench:api-data ([\s\S]*?) -->/;
const SECTION = /(<!-- bench:api:start -->\n)[\s\S]*?(<!-- bench:api:end -->)/;

/** The targets on the 2-core machine (issue 3, "What it must show"). */
export const API_TARGETS = { batchPerS: 10_000, singleP99Ms: 25 } as const;

const ms = (v: number | null) => (v === null ? '—' : v < 10 ? v.toFixed(1) : String(Math.round(v)));
const keyOf = (r: ApiResult) => `${r.mode}|${r.messages}|${r.clients}|${r.perRequest}`;
const how = (r: ApiResult) => (r.mode === 'batch' ? `POST /messages/batch, ${r.perRequest} a request` : 'POST /messages, one a request');

/** Whether a result meets its target, as a word for the tables. */
export function verdict(r: ApiResult): string {
  if (r.error) return 'failed';
  if (r.mode === 'batch') return r.acceptedPerS !== null && r.acceptedPerS >= API_TARGETS.batchPerS ? 'met' : 'missed';
  return r.p99Ms !== null && r.p99Ms < API_TARGETS.singleP99Ms ? 'met' : 'missed';
}

const targetText = (r: ApiResult) => (r.mode === 'batch' ? `≥ ${API_TARGETS.batchPerS.toLocaleString('en-US')}/s` : `p99 < ${API_TARGETS.singleP99Ms} ms`);

export function apiTextReport(results: readonly ApiResult[]): string {
  const rows = [['API', 'Messages', 'Clients', 'Accepted/s', 'Failed', 'Took s', 'p50 ms', 'p99 ms', 'max ms', 'CPU ms/msg', 'Target']];
  for (const r of results) {
    rows.push([
      r.mode, r.messages.toLocaleString('en-US'), String(r.clients), rate(r.acceptedPerS), String(r.failed), seconds(r.elapsedMs),
      ms(r.p50Ms), ms(r.p99Ms), ms(r.maxMs), r.cpuMs === null || r.accepted === 0 ? '—' : (r.cpuMs / r.accepted).toFixed(3),
      `${targetText(r)}: ${verdict(r)}`,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 0 || i === 10 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '));
  lines.splice(1, 0, '-'.repeat(lines[0].length));
  for (const r of results) if (r.error) lines.push(`! api ${r.mode}: ${r.error.split('\n')[0]}`);
  lines.push('Latency is per HTTP request (for batch: a whole request of 500 messages).');
  return lines.join('\n');
}

function apiRows(results: readonly ApiResult[], machine: Machine, command: string): string {
  const lines = [
    ...machineLines(machine).map((l) => `- ${l}`),
    `- Last written by: \`${command}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    '| Endpoint | Messages | Clients | Accepted/s | Failed | Took | p50 | p99 | max | Postline CPU/msg | Target | Measured |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of results) {
    const cpu = r.cpuMs === null || r.accepted === 0 ? '—' : `${(r.cpuMs / r.accepted).toFixed(3)} ms`;
    lines.push(
      `| ${how(r)} | ${r.messages.toLocaleString('en-US')} | ${r.clients} | ${rate(r.acceptedPerS)} | ${r.failed} | ${seconds(r.elapsedMs)} s | ` +
        `${ms(r.p50Ms)} ms | ${ms(r.p99Ms)} ms | ${ms(r.maxMs)} ms | ${cpu} | ${targetText(r)}: **${verdict(r)}** | ${r.at.slice(0, 10)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Merges `results` into the stored API rows and rewrites the API section. */
export async function writeApiBenchmarksMd(file: string, results: readonly ApiResult[], machine: Machine, command: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  if (!SECTION.test(text) || !DATA.test(text)) {
    throw new BenchmarksFileError(`${file} lacks the bench:api markers or the bench:api-data comment`);
  }
  const stored = JSON.parse(DATA.exec(text)?.[1] ?? '[]') as ApiResult[];
  const merged = new Map(stored.map((r) => [keyOf(r), r]));
  for (const r of results) merged.set(keyOf(r), r);
  const all = [...merged.values()].sort((a, b) => a.mode.localeCompare(b.mode) || b.messages - a.messages);
  const next = text
    .replace(SECTION, (_m, start: string, end: string) => `${start}${apiRows(all, machine, command)}${end}`)
    // As in benchmarks-md.ts: "--" only inside JSON strings, so "-->" never appears.
    .replace(DATA, () => `<!-- bench:api-data ${JSON.stringify(all).replaceAll('--', '-\\u002d')} -->`);
  await writeFile(file, next);
}
