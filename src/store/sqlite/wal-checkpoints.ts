// Background WAL checkpoints for a SQLite store opened with `checkpoints: 'background'`:
// four times a second, outside any transaction, so no commit ever copies the WAL itself.
//
// Why 250 ms: the last pass holds the write lock (below), and its fsync of the database
// file flushes what was copied since the pass before. Once a second, at ~20 MB of WAL a
// second (API bench, 50 clients, ~9,000 sends/s), that locked pass took 6-23 ms (median
// ~12) and held every commit meanwhile: the once-a-second stall was most of the single-send
// p99. Every 250 ms: median 0.7 ms, max 7; p99 19-21 → 15-16 ms. The relay bench (1,263-1,278
// relayed/s) and the contacts bench measured no slower.
import type { WriteLock } from '../write-lock.ts';

const INTERVAL_MS = 250;
/** A PASSIVE pass this quick found little left to copy: the locked pass will be short. */
const QUICK_PASS_MS = 3;

/**
 * Starts the checkpoints; answers the function that stops them.
 *
 * Without `lock`: one PASSIVE checkpoint every 250 ms (writers never wait for it).
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
 * `lockedCheckpoint`, when given, runs the pass under the write lock at once, answering false
 * when it cannot (a transaction of the connection is open): holding the lock, no write
 * transaction can be, and waiting in kysely's queue behind the thread's reads would hold
 * the lock for nothing.
 */
export function startWalCheckpoints(checkpoint: () => unknown, lock: WriteLock | undefined, onError: (err: unknown) => void, lockedCheckpoint?: () => boolean): () => void {
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
          if (!lockedCheckpoint?.()) await checkpoint();
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
