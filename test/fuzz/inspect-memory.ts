// Memory of a server child process, measured after a full garbage collection. The child runs
// with `--inspect=127.0.0.1:0` (loopback only, tests only); we ask it over the inspector
// protocol to collect garbage and report process.memoryUsage(), so "back to baseline" compares
// live heap, not whatever V8 has not yet given back.
import { readFile } from 'node:fs/promises';

export interface MemoryFigures {
  /** V8 heap in use after a full GC, MB. */
  readonly heapMb: number;
  /** Resident set size (VmRSS) after that GC, MB. */
  readonly rssMb: number;
}

export const INSPECT_ENV = { NODE_OPTIONS: '--inspect=127.0.0.1:0' } as const;

/** The inspector WebSocket address the child printed on its stderr. */
export function inspectorUrl(logs: string): string {
  const m = /Debugger listening on (ws:\/\/\S+)/.exec(logs);
  if (!m) throw Object.assign(new Error('the server printed no inspector address (NODE_OPTIONS=--inspect missing?)'), { code: 'FUZZ_NO_INSPECTOR' });
  return m[1];
}

async function call(ws: WebSocket, id: number, method: string, params: object = {}): Promise<any> {
  return new Promise((resolve, reject) => {
    const onMessage = (ev: MessageEvent) => {
      const msg = JSON.parse(String(ev.data));
      if (msg.id !== id) return;
      ws.removeEventListener('message', onMessage);
      if (msg.error) reject(new Error(msg.error.message));
      else resolve(msg.result);
    };
    ws.addEventListener('message', onMessage);
    ws.send(JSON.stringify({ id, method, params }));
  });
}

/** Forces a full GC in the child, then reads its heap and RSS. */
export async function measureAfterGc(url: string, pid: number): Promise<MemoryFigures> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${url}`)), { once: true });
  });
  try {
    await call(ws, 1, 'HeapProfiler.collectGarbage');
    await call(ws, 2, 'HeapProfiler.collectGarbage');
    const res = await call(ws, 3, 'Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
    return { heapMb: Number(res.result.value) / 2 ** 20, rssMb: rssKb / 1024 };
  } finally {
    ws.close();
  }
}
