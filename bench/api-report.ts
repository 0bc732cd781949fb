// The API bench's console table and its section of BENCHMARKS.md. As for the relay rows, the raw
// numbers are kept in an HTML comment (bench:api-data), so `--only api --write` replaces the rows
// of the shapes it ran and keeps the others; the table between the markers is regenerated.
import type { ApiResult } from './api.ts';
import type { Machine } from './machine.ts';
import { machineHeader, mergeSection } from './benchmarks-md.ts';
import { rate, seconds } from './report.ts';


/** The issue's targets on the 2-core machine (issue 3, "What it must show"). */
export const API_TARGETS = { batchPerS: 10_000, singleP99Ms: 25 } as const;

const ms = (v: number | null) => (v === null ? '—' : v < 10 ? v.toFixed(1) : String(Math.round(v)));
const keyOf = (r: ApiResult) => `${r.mode}|${r.messages}|${r.clients}|${r.perRequest}`;
const how = (r: ApiResult) => `${r.mode === 'batch' ? `POST /messages/batch, ${r.perRequest} a request` : 'POST /messages, one a request'}${r.client ? ` (${r.client})` : ''}`;

/** Whether a result meets its target, as a word for the tables. */
export function verdict(r: ApiResult): string {
  if (r.error) return 'failed';
  if (r.mode === 'batch') return r.acceptedPerS !== null && r.acceptedPerS >= API_TARGETS.batchPerS ? 'met' : 'missed';
  return r.p99Ms !== null && r.p99Ms < API_TARGETS.singleP99Ms ? 'met' : 'missed';
}

const targetText = (r: ApiResult) => (r.mode === 'batch' ? `≥ ${API_TARGETS.batchPerS.toLocaleString('en-US')}/s` : `p99 < ${API_TARGETS.singleP99Ms} ms`);

export function apiTextReport(results: readonly ApiResult[]): string {
  const rows = [['API', 'Client', 'Messages', 'Clients', 'Accepted/s', 'Failed', 'Took s', 'p50 ms', 'p99 ms', 'max ms', 'CPU ms/msg', 'Target']];
  for (const r of results) {
    rows.push([
      r.mode, r.client ?? 'node', r.messages.toLocaleString('en-US'), String(r.clients), rate(r.acceptedPerS), String(r.failed), seconds(r.elapsedMs),
      ms(r.p50Ms), ms(r.p99Ms), ms(r.maxMs), r.cpuMs === null || r.accepted === 0 ? '—' : (r.cpuMs / r.accepted).toFixed(3),
      `${targetText(r)}: ${verdict(r)}`,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => (i <= 1 || i === 11 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '));
  lines.splice(1, 0, '-'.repeat(lines[0].length));
  for (const r of results) if (r.error) lines.push(`! api ${r.mode}: ${r.error.split('\n')[0]}`);
  lines.push('Latency is per HTTP request (for batch: a whole request of 500 messages); single sends are driven by wrk, batches by our Node client.');
  return lines.join('\n');
}

function apiRows(results: readonly ApiResult[], machine: Machine, command: string): string {
  const lines = [
    ...machineHeader(machine, command),
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
  await mergeSection(file, 'api', results, keyOf, (all) => apiRows(all, machine, command), (a, b) => a.mode.localeCompare(b.mode) || b.messages - a.messages);
}
