// delivery.thread_nice: the delivery thread runs at a lower priority than the thread that
// accepts mail (Linux), so that under CPU contention a 250/202 is not held up by delivery.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';

/** nice of every thread of `pid`, by thread id (/proc/<pid>/task/<tid>/stat field 19). */
function threadNice(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

describe('delivery.thread_nice', () => {
  let postline: PostlineProcess | null = null;
  after(async () => {
    await postline?.cleanup();
  });

  it('lowers only the delivery thread (nice 5 by default; the main thread stays at 0)', async () => {
    postline = await startPostline();
    const nice = threadNice(postline.child.pid!);
    assert.equal(nice.get(postline.child.pid!), 0, 'the main (SMTP/API) thread');
    assert.equal([...nice.values()].filter((n) => n === 5).length, 1, `one thread at nice 5: ${JSON.stringify([...nice])}`);
  });
});
