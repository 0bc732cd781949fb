// A short description of the machine, printed with every run and written into BENCHMARKS.md:
// numbers from a 2-core VM and from a 64-core server are not comparable.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly postfix: string | null;
  /** Filesystem type and device of the temp dir, where both queues live. */
  readonly tmpFs: string | null;
  /** 1-minute load average when the run began: anything else running skews the numbers. */
  readonly loadAverage: number;
  /** The same when the last measurement ended (set by the runner); it includes the bench's own load. */
  readonly loadAverageEnd: number | null;
  /** Which Postline was measured: the git commit, and whether src/ had uncommitted changes. */
  readonly postline: string;
}

async function quiet(file: string, args: string[]): Promise<string | null> {
  try {
    return (await run(file, args, { timeout: 10_000 })).stdout.trim();
  } catch {
    return null;
  }
}

export async function describeMachine(postconf: string | null, tmpDir: string, root: string): Promise<Machine> {
  let cpuModel = 'unknown';
  try {
    const info = await readFile('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpuModel;
  } catch {
    // Not Linux: keep "unknown".
  }
  const df = await quiet('df', ['--output=fstype,source', tmpDir]);
  const commit = await quiet('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const dirty = await quiet('git', ['-C', root, 'status', '--porcelain', '--', 'src']);
  const postline = `${commit ?? 'no commit yet'}${dirty ? ' with uncommitted changes in src/' : ''}`;
  const fsLine = df?.split('\n')[1]?.trim().split(/\s+/);
  return {
    cpus: availableParallelism(),
    cpuModel,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    postfix: postconf ? await quiet(postconf, ['-d', '-h', 'mail_version']) : null,
    tmpFs: fsLine && fsLine.length === 2 ? `${fsLine[0]} on ${fsLine[1]}` : null,
    loadAverage: loadavg()[0],
    loadAverageEnd: null,
    postline,
  };
}

export function machineLines(m: Machine): string[] {
  return [
    `CPU: ${m.cpus} × ${m.cpuModel}`,
    `Memory: ${m.memoryGiB} GiB; kernel ${m.kernel}`,
    `Node.js ${m.node}; Postfix ${m.postfix ?? 'not installed'}; Postline ${m.postline}`,
    `Queues on: ${m.tmpFs ?? 'unknown filesystem'} (the system temp dir)`,
    `Load average (1 min): ${m.loadAverage.toFixed(2)} at start` +
      (m.loadAverageEnd === null ? '' : `, ${m.loadAverageEnd.toFixed(2)} at the end (this one includes the bench's own processes)`),
  ];
}
