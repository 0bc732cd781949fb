// Background WAL checkpoints for a SQLite store opened with `checkpoints: 'background'`:
// once a second, outside any transaction, so no commit ever copies the WAL itself.
import type { WriteLock } from '../write-lock.ts';

const INTERVAL_MS = 1000;
/** A PASSIVE pass this quick found little left to copy: the locked pass will be short. */
const QUICK_PASS_MS = 3;

/**
 * Starts the checkpoints; answers the function that stops them.
 *
 * Without `lock`: one PASSIVE checkpoint a second (writers never wait for it).
 *
 * With the process's write lock (the server's threads share one): a PASSIVE checkpoint copies
 * the WAL into the database, but a writer always commits during it, so SQLite never finds
 * the WAL all copied at the start of a write and never starts it over: the bench grew it by
 * ~20 MB/s. Appending grows the file, and an fdatasync after an append must commit the ext4
 * journal, which first writes out the checkpoint's dirty pages (data=ordered): measured, WAL
 * flushes took twice as long as flushes of frames written over old ones (p50 2.3 vs
 * 1.0–1.4 ms, p99 35–52 vs 18–26 ms), and a 202 waits for one. So: checkpoint unlocked until
 * a pass finds little left, then once more holding the write lock (no writer between, a few
 * frames to copy), after which the next writer restarts the WAL from its start and
 * overwrites it in place.
 */
/**
 * `checkpoint` runs `PRAGMA wal_checkpoint(PASSIVE)` on the thread's connection, outside any
 * transaction of it (the store passes it through kysely, which waits for the connection).
 */
export function startWalCheckpoints(checkpoint: () => unknown, lock: WriteLock | undefined, onError: (err: unknown) => void): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void (async () => {
      try {
        if (!lock) {
          await checkpoint();
          return;
        }
        for (let pass = 0; pass < 3; pass++) {
          const started = performance.now();
          await checkpoint();
          if (performance.now() - started < QUICK_PASS_MS) break;
        }
        await lock.acquire();
        try {
          await checkpoint();
        } finally {
          lock.release();
        }
      } catch (err) {
        // Busy or failing: the next round tries again; nothing depends on one checkpoint.
        onError(err);
      } finally {
        running = false;
      }
    })();
  }, INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
