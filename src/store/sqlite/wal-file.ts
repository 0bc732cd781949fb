// The SQLite write-ahead log, opened a second time so that it can be fsync'd on the thread
// pool. fsync flushes the file (the inode), whichever descriptor asks, so frames SQLite
// appended through its own descriptor are on disk when our fsync returns. Checkpoints sync
// the main database themselves before the WAL is reused (synchronous=NORMAL in WAL mode).
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export class WalFile {
  readonly #path: string;
  #handle: FileHandle;
  #checkedAt = 0;

  private constructor(path: string, handle: FileHandle) {
    this.#path = path;
    this.#handle = handle;
  }

  /** Opens `<db>-wal` (SQLite creates it in WAL mode) and makes its directory entry durable. */
  static async open(dbPath: string): Promise<WalFile> {
    const path = `${dbPath}-wal`;
    const handle = await open(path, 'a');
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return new WalFile(path, handle);
  }

  async sync(): Promise<void> {
    await this.#handle.datasync();
    // Were the WAL deleted and recreated (a last connection closing elsewhere), our
    // descriptor would point at a dead file: reopen and flush the live one. Checked at
    // most every 250 ms: the stat would otherwise cost as much as the flush.
    const now = Date.now();
    if (now - this.#checkedAt < 250) return;
    this.#checkedAt = now;
    const stat = await this.#handle.stat();
    if (stat.nlink === 0) {
      await this.#handle.close().catch(() => undefined);
      this.#handle = await WalFile.reopen(this.#path);
      await this.#handle.sync();
    }
  }

  private static reopen(path: string): Promise<FileHandle> {
    return open(path, 'a');
  }

  async close(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
  }
}
