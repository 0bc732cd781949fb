// The issue-5 runs: Postline relaying the 1 KB load from an IP pool of 1 and of 4 loopback
// source addresses, against the same load without a pool, to show that choosing a source
// address and pacing cost nothing measurable while no limit is reached.
import type { RunResult } from './measure.ts';
import { textReport, times } from './report.ts';

export function sourceIpsTextReport(runs: readonly RunResult[], all: readonly RunResult[]): string {
  const lines = [textReport(runs)];
  for (const r of runs) {
    const plain = all.find((p) => p.target === 'postline' && r.label.startsWith(`${p.label},`) && p.messages === r.messages);
    if (plain?.relayedPerS && r.relayedPerS) lines.push(`Postline ${r.label} ÷ without a pool: relayed/s ${times(r.relayedPerS / plain.relayedPerS)}`);
  }
  return lines.join('\n');
}
