// The contacts bench's stand-in for the server's delivery thread, as far as the database
// goes: a connection of its own that checkpoints the WAL in the background under the
// process's write lock (store/sqlite/wal-checkpoints.ts, what `checkpoints: 'background'`
// runs), so the measured thread's commits never checkpoint, as in `postline start`. It opens
// the file with node:sqlite alone, not the whole store, so its own memory stays small.
import { parentPort, workerData } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';
import { startWalCheckpoints } from '../src/store/sqlite/wal-checkpoints.ts';
import { WriteLock } from '../src/store/write-lock.ts';

const { file, writeLockBuffer } = workerData as { file: string; writeLockBuffer: SharedArrayBuffer };
const db = new DatabaseSync(file);
db.exec('PRAGMA busy_timeout = 5000');
const stop = startWalCheckpoints(() => db.exec('PRAGMA wal_checkpoint(PASSIVE)'), new WriteLock(writeLockBuffer), () => undefined);
parentPort!.once('message', () => {
  stop();
  db.close();
  parentPort!.close();
});
parentPort!.postMessage('ready');
