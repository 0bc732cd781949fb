// Turns run results into the console table and the Postline ÷ Postfix ratios.
import { RELAY_PATHS, type RelayPath } from './args.ts';
import type { RunResult } from './measure.ts';

export const PATH_NAMES: Record<RelayPath, string> = {
  baseline: 'smtp-source → smtp-sink (no relay)',
  postfix: 'smtp-source → Postfix → smtp-sink',
  postline: 'smtp-source → Postline → smtp-sink',
  'postline-pg': 'smtp-source → Postline on PostgreSQL, 1 node → smtp-sink',
  'postline-pg-2nodes': 'smtp-source ×2 → Postline on PostgreSQL, 2 nodes → smtp-sink',
};

export const rate = (v: number | null) => (v === null ? '—' : Math.round(v).toLocaleString('en-US'));
export const seconds = (ms: number | null) => (ms === null ? '—' : (ms / 1000).toFixed(1));
export const mib = (bytes: number | null) => (bytes === null ? '—' : `${Math.round(bytes / 2 ** 20)} MiB`);
/** CPU milliseconds spent per relayed message: the cost that stays when cores are added. */
export const cpuPerMessage = (r: RunResult) => (r.cpuMs === null || r.relayed === 0 ? null : r.cpuMs / r.relayed);
/** PostgreSQL rows: the database server's CPU ms per relayed message, on top of Postline's own. */
export const dbCpuPerMessage = (r: RunResult) => (r.dbCpuMs === undefined || r.dbCpuMs === null || r.relayed === 0 ? null : r.dbCpuMs / r.relayed);

/** "1.53", or "2.10 + 0.80 db" where the database's share was measured apart. */
export function cpuCell(r: RunResult, unit = ''): string {
  const own = cpuPerMessage(r);
  if (own === null) return '—';
  const db = dbCpuPerMessage(r);
  if (r.dbCpuMs === undefined) return `${own.toFixed(2)}${unit}`;
  return `${own.toFixed(2)}${unit} + ${db === null ? '?' : db.toFixed(2)}${unit} db`;
}

/** Groups results by load shape (size and count), in the order they were run. */
export function groupByScenario(results: readonly RunResult[]): RunResult[][] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const key = `${r.label}|${r.messages}|${r.sessions}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => [...g].sort((a, b) => RELAY_PATHS.indexOf(a.target) - RELAY_PATHS.indexOf(b.target)));
}

export interface Ratio {
  readonly label: string;
  readonly messages: number;
  readonly accepted: number | null;
  readonly relayed: number | null;
}

const div = (a: number | null | undefined, b: number | null | undefined) => (a && b ? a / b : null);

/** Postline's rate divided by Postfix's, per load shape where both ran; above 1 means Postline is faster. */
export function ratios(results: readonly RunResult[], over: RelayPath = 'postfix', of: RelayPath = 'postline'): Ratio[] {
  return groupByScenario(results).flatMap((group) => {
    const num = group.find((r) => r.target === of);
    const den = group.find((r) => r.target === over);
    if (!num || !den) return [];
    return [{ label: num.label, messages: num.messages, accepted: div(num.acceptedPerS, den.acceptedPerS), relayed: div(num.relayedPerS, den.relayedPerS) }];
  });
}

export const times = (v: number | null) => (v === null ? '—' : `${v.toFixed(2)}×`);

function pad(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '));
}

/** The console table printed at the end of a run. */
export function textReport(results: readonly RunResult[]): string {
  const rows = [['Size', 'Relay', 'Messages', 'Accepted/s', 'Relayed/s', 'Accept s', 'Relay s', 'CPU s', 'CPU ms/msg', 'Peak mem']];
  for (const group of groupByScenario(results)) {
    for (const r of group) {
      rows.push([
        r.label,
        r.target,
        r.messages.toLocaleString('en-US'),
        rate(r.acceptedPerS),
        rate(r.relayedPerS),
        seconds(r.acceptedMs),
        seconds(r.relayedMs),
        seconds(r.cpuMs),
        cpuCell(r),
        r.peakRssBytes === null ? '—' : mib(r.peakRssBytes) + (r.peakRssSampled ? '*' : ''),
      ]);
    }
  }
  const lines = pad(rows);
  lines.splice(1, 0, '-'.repeat(lines[0].length));
  for (const r of results) if (r.error) lines.push(`! ${r.target} ${r.label}: ${r.error.split('\n')[0]}`);
  if (results.some((r) => r.peakRssSampled)) lines.push('* sum of the PSS of all the relay\'s processes, sampled every 2 s');
  if (results.some((r) => r.dbCpuMs !== undefined)) {
    lines.push('postline-pg*: CPU s is Postline\'s (both nodes\'); "+ N db" is the CPU ms/msg of the PostgreSQL backends serving its database; peak mem of 2 nodes is the sum of their peaks');
  }
  for (const q of ratios(results)) {
    lines.push(`Postline ÷ Postfix, ${q.label} × ${q.messages.toLocaleString('en-US')}: accepted/s ${times(q.accepted)}, relayed/s ${times(q.relayed)}`);
  }
  for (const q of ratios(results, 'baseline', 'postfix')) {
    lines.push(`Postfix ÷ baseline, ${q.label} × ${q.messages.toLocaleString('en-US')}: accepted/s ${times(q.accepted)}`);
  }
  for (const line of postgresRatioLines(results)) lines.push(line);
  return lines.join('\n');
}

/** PostgreSQL ÷ SQLite, and 2 nodes ÷ 1 node, per load shape where both ran. */
export function postgresRatioLines(results: readonly RunResult[]): string[] {
  const lines: string[] = [];
  for (const q of ratios(results, 'postline', 'postline-pg')) {
    lines.push(`Postline PostgreSQL ÷ SQLite, ${q.label} × ${q.messages.toLocaleString('en-US')}: accepted/s ${times(q.accepted)}, relayed/s ${times(q.relayed)}`);
  }
  for (const q of ratios(results, 'postline-pg', 'postline-pg-2nodes')) {
    lines.push(`Postline PostgreSQL 2 nodes ÷ 1 node, ${q.label} × ${q.messages.toLocaleString('en-US')}: accepted/s ${times(q.accepted)}, relayed/s ${times(q.relayed)}`);
  }
  return lines;
}
