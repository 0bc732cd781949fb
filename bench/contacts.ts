// The contacts bench (`npm run bench -- --only contacts`): imports N generated contacts into
// a list through the streaming CSV import, then expands a campaign to all of them into the
// queue (ledger, message, event per contact; tracking and unsubscribe links on), each phase in
// a fresh process (bench/contacts-worker.ts, run with the server's V8 settings) so its peak
// RSS is its own. Targets (issue 9):
// import ≥ 50,000 rows/s, expansion ≥ 20,000 messages/s, RSS under 300 MB for both.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NODE_FLAGS } from '../src/cli/node-flags.ts';
import type { Machine } from './machine.ts';
import { machineHeader, mergeSection } from './benchmarks-md.ts';

const execFileP = promisify(execFile);

export interface ContactsPhaseResult {
  readonly phase: 'import' | 'expand';
  readonly count: number;
  readonly ms: number;
  readonly perS: number;
  readonly peakRssBytes: number;
}

export interface ContactsBenchResult {
  readonly contacts: number;
  readonly phases: ContactsPhaseResult[];
  readonly error: string | null;
  readonly at: string;
}

export interface ContactsBenchOptions {
  readonly root: string;
  readonly dataDir: string;
  readonly contacts: number;
  readonly timeoutMs: number;
  readonly progress: (line: string) => void;
}

export async function runContactsBench(options: ContactsBenchOptions): Promise<ContactsBenchResult> {
  const dir = join(options.dataDir, 'contacts-bench');
  await mkdir(dir, { recursive: true });
  const worker = join(options.root, 'bench', 'contacts-worker.ts');
  const phases: ContactsPhaseResult[] = [];
  try {
    for (const [phase, args] of [['import', [String(options.contacts)]], ['expand', []]] as const) {
      options.progress(`▶ contacts ${phase}: ${options.contacts.toLocaleString('en-US')} contacts`);
      const { stdout } = await execFileP(process.execPath, [...NODE_FLAGS, worker, phase, dir, ...args], { cwd: options.root, timeout: options.timeoutMs, maxBuffer: 1024 * 1024 });
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as ContactsPhaseResult;
      options.progress(`  ${r.count.toLocaleString('en-US')} in ${(r.ms / 1000).toFixed(1)} s: ${r.perS.toLocaleString('en-US')}/s, peak RSS ${Math.round(r.peakRssBytes / 1048576)} MB`);
      phases.push(r);
    }
    return { contacts: options.contacts, phases, error: null, at: new Date().toISOString() };
  } catch (err) {
    return { contacts: options.contacts, phases, error: (err as Error).message.slice(0, 500), at: new Date().toISOString() };
  }
}

export function contactsTextReport(results: readonly ContactsBenchResult[]): string {
  const lines = ['Contacts and campaigns', 'phase      contacts      time      rate/s   peak RSS'];
  for (const r of results) {
    for (const p of r.phases) {
      lines.push(`${p.phase.padEnd(8)} ${r.contacts.toLocaleString('en-US').padStart(10)} ${`${(p.ms / 1000).toFixed(1)} s`.padStart(9)} ${p.perS.toLocaleString('en-US').padStart(11)} ${`${Math.round(p.peakRssBytes / 1048576)} MB`.padStart(10)}`);
    }
    if (r.error) lines.push(`  error: ${r.error}`);
  }
  return lines.join('\n');
}

/** The issue's targets (issue 9, "What it must show"). */
export const CONTACTS_TARGETS = { importPerS: 50_000, expandPerS: 20_000, peakRssBytes: 300 * 1024 * 1024 } as const;

function contactsRows(results: readonly ContactsBenchResult[], machine: Machine, command: string): string {
  const lines = [
    ...machineHeader(machine, command),
    '| Phase | Contacts | Took | Rate/s | Peak RSS | Target | Measured |',
    '|---|---:|---:|---:|---:|---|---|',
  ];
  for (const r of results) {
    for (const p of r.phases) {
      const want = p.phase === 'import' ? CONTACTS_TARGETS.importPerS : CONTACTS_TARGETS.expandPerS;
      const met = p.perS >= want && p.peakRssBytes < CONTACTS_TARGETS.peakRssBytes;
      lines.push(
        `| ${p.phase} | ${r.contacts.toLocaleString('en-US')} | ${(p.ms / 1000).toFixed(1)} s | ${p.perS.toLocaleString('en-US')} | ${Math.round(p.peakRssBytes / 1048576)} MB | ` +
          `≥ ${want.toLocaleString('en-US')}/s, < 300 MB: **${met ? 'met' : 'missed'}** | ${r.at.slice(0, 10)} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** Merges `results` (by contact count; failed runs are not kept) into the stored rows and rewrites the contacts section. */
export async function writeContactsBenchmarksMd(file: string, results: readonly ContactsBenchResult[], machine: Machine, command: string): Promise<void> {
  await mergeSection(file, 'contacts', results.filter((r) => !r.error), (r) => r.contacts, (all) => contactsRows(all, machine, command), (a, b) => b.contacts - a.contacts);
}
