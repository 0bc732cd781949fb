// Message bytes: small messages are kept in memory and stored inline in the database row
// (one fsync, the WAL's, covers them); past `inlineLimitBytes` the writer switches to a
// spool file, fsync'd before the row that names it is committed.
import { Writable } from 'node:stream';
import { mkdir, unlink, readdir } from 'node:fs';
import { open as openAsync, type FileHandle } from 'node:fs/promises';
import { createReadStream, type ReadStream } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';


export interface StoredBody {
  readonly size: number;
  /** The bytes, when the message fits under the inline limit. */
  readonly inline: Buffer | null;
  /** Relative spool path, when it did not. */
  readonly path: string | null;
}

export class Spool {
  readonly dir: string;
  readonly inlineLimitBytes: number;

  constructor(dir: string, options: { inlineLimitBytes?: number } = {}) {
    this.dir = dir;
    this.inlineLimitBytes = options.inlineLimitBytes ?? 1024 * 1024;
  }

  async init(): Promise<void> {
    await promisify(mkdir)(this.dir, { recursive: true });
  }

  /** A writable for one message's bytes; `result()` resolves once the bytes are durable. */
  createWriter(id: string): BodyWriter {
    return new BodyWriter(this, id);
  }

  open(path: string): ReadStream {
    return createReadStream(join(this.dir, path), { highWaterMark: 256 * 1024 });
  }

  /** Makes new spool file names durable (a file's fsync does not cover its directory entry). */
  async syncDir(): Promise<void> {
    const handle = await openAsync(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async remove(path: string): Promise<void> {
    await promisify(unlink)(join(this.dir, path)).catch(() => undefined);
  }

  async list(): Promise<string[]> {
    return (await promisify(readdir)(this.dir)).filter((n) => n.endsWith('.eml'));
  }
}

export class BodyWriter extends Writable {
  readonly #spool: Spool;
  readonly #name: string;
  #chunks: Buffer[] = [];
  #size = 0;
  #fd: FileHandle | null = null;
  #result: StoredBody | null = null;

  constructor(spool: Spool, id: string) {
    super({ highWaterMark: 256 * 1024 });
    this.#spool = spool;
    this.#name = `${id}.eml`;
  }

  get size(): number {
    return this.#size;
  }

  /** The stored body; valid after 'finish'. */
  get result(): StoredBody {
    if (!this.#result) throw new Error('body not finished');
    return this.#result;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#size += chunk.length;
    if (this.#fd === null && this.#size <= this.#spool.inlineLimitBytes) {
      this.#chunks.push(chunk);
      cb();
      return;
    }
    void this.#toFile(chunk).then(() => cb(), cb);
  }

  async #toFile(chunk: Buffer): Promise<void> {
    if (this.#fd === null) {
      this.#fd = await openAsync(join(this.#spool.dir, this.#name), 'w', 0o600);
      const pending = this.#chunks;
      this.#chunks = [];
      for (const c of pending) await this.#fd.write(c);
    }
    await this.#fd.write(chunk);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#fd === null) {
      this.#result = { size: this.#size, inline: Buffer.concat(this.#chunks, this.#size), path: null };
      this.#chunks = [];
      cb();
      return;
    }
    const fd = this.#fd;
    fd.sync()
      .then(() => fd.close())
      .then(() => {
        this.#fd = null;
        this.#result = { size: this.#size, inline: null, path: this.#name };
        cb();
      }, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#chunks = [];
    if (this.#fd !== null) {
      const fd = this.#fd;
      this.#fd = null;
      fd.close()
        .catch(() => undefined)
        .then(() => this.#spool.remove(this.#name))
        .then(() => cb(err), () => cb(err));
      return;
    }
    cb(err);
  }
}

