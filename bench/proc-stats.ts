// CPU time and memory of a process tree, read from /proc (Linux only; elsewhere the
// numbers are reported as unknown). Postfix is a tree of short- and long-lived daemons under
// `master`, Postline one node process; the same sum covers both.
import { readdir, readFile } from 'node:fs/promises';

/** USER_HZ: the unit of utime/stime in /proc/PID/stat; 100 on every mainstream Linux build. */
const CLOCK_TICKS_PER_S = 100;
const PAGE_BYTES = 4096;

interface StatLine {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime + cutime + cstime: own time plus that of reaped children. */
  readonly cpuTicks: number;
  readonly rssBytes: number;
}

/** Parses /proc/PID/stat (proc(5)); the command name in parentheses may itself hold spaces. */
function parseStat(pid: number, text: string): StatLine | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  // Fields after the name, counting from 3 (state) as in proc(5): ppid is 4, utime 14 … cstime 17, rss 24.
  const f = text.slice(close + 2).split(' ');
  const num = (field: number) => Number(f[field - 3]);
  return { pid, ppid: num(4), cpuTicks: num(14) + num(15) + num(16) + num(17), rssBytes: num(24) * PAGE_BYTES };
}

async function readStat(pid: number): Promise<StatLine | null> {
  try {
    return parseStat(pid, await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // Exited between readdir and read.
  }
}

export interface TreeSample {
  /** CPU time of the whole tree since each process started, in ms (reaped children included). */
  readonly cpuMs: number;
  /**
   * Memory of the tree: the sum of proportional set sizes (PSS, a shared page split between its
   * users), so forty smtpd processes sharing libc are not counted forty times. Falls back to
   * summed RSS where smaps_rollup is unreadable (kernels before 4.14, or another user's process).
   */
  readonly memoryBytes: number;
  readonly processes: number;
}

async function pssBytes(pid: number): Promise<number | null> {
  try {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    const match = /^Pss:\s+(\d+) kB$/m.exec(rollup);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples `rootPid` and all its descendants; null when /proc is unavailable or root is gone. */
export async function sampleTree(rootPid: number): Promise<TreeSample | null> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return null;
  }
  const stats = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => readStat(Number(n))));
  const children = new Map<number, StatLine[]>();
  let root: StatLine | null = null;
  for (const s of stats) {
    if (!s) continue;
    if (s.pid === rootPid) root = s;
    const list = children.get(s.ppid) ?? [];
    list.push(s);
    children.set(s.ppid, list);
  }
  if (!root) return null;
  const tree: StatLine[] = [];
  const stack = [root];
  while (stack.length > 0 && tree.length < 10_000) {
    const s = stack.pop() as StatLine;
    tree.push(s);
    stack.push(...(children.get(s.pid) ?? []));
  }
  const pss = await Promise.all(tree.map((s) => pssBytes(s.pid)));
  let cpuTicks = 0;
  let memoryBytes = 0;
  tree.forEach((s, i) => {
    cpuTicks += s.cpuTicks;
    memoryBytes += pss[i] ?? s.rssBytes;
  });
  return { cpuMs: (cpuTicks * 1000) / CLOCK_TICKS_PER_S, memoryBytes, processes: tree.length };
}

/** CPU time of one process so far, in ms (a PostgreSQL backend's, say); null once it is gone. */
export async function cpuMsOf(pid: number): Promise<number | null> {
  const s = await readStat(pid);
  return s ? (s.cpuTicks * 1000) / CLOCK_TICKS_PER_S : null;
}

/** VmHWM: the kernel's own peak resident set of one process, in bytes. */
export async function peakRssBytes(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}
