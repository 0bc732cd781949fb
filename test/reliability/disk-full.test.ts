// backend: sqlite-only
// Disk full (RFC 3463 X.3.1): with the data dir on an 8 MiB tmpfs filled to the last block,
// a submission is answered `452 4.3.1` whether its bytes go to the spool (ENOSPC) or into the
// database (SQLITE_FULL); nothing is half-stored, the database passes its integrity check,
// and once space returns the next submission gets 250 and is delivered, with no restart.
// Needs root to mount tmpfs; skipped (with the reason) where mount is not allowed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { connectSmtp, type SmtpReply } from '../helpers/smtp-talk.ts';

const dir = mkdtempSync(join(tmpdir(), 'postline-diskfull-'));
let mountError: string | null = null;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
} catch (err) {
  mountError = `cannot mount a size-limited tmpfs (needs root): ${(err as Error).message.split('\n')[0]}`;
}

async function fill(path: string): Promise<number> {
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  try {
    for (;;) {
      try {
        written += (await fh.write(chunk)).bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
    // The last blocks, smaller than a chunk.
    for (const size of [16_384, 4096, 512, 1]) {
      try {
        for (;;) written += (await fh.write(Buffer.alloc(size, 0x61))).bytesWritten;
      } catch {
        // full at this size
      }
    }
  } finally {
    await fh.close();
  }
  return written;
}

describe('Disk full: 452 4.3.1, nothing corrupted, resumes when space returns', { skip: mountError ?? false }, () => {
  let sink: SmtpSink;
  let proc: PostlineProcess;

  before(async () => {
    sink = await startSmtpSink({ host: '127.0.0.2', port: 0 });
    proc = await startPostline({
      dataDir: dir,
      tenant: { name: 'acme', domains: ['acme.test'] },
      env: {
        POSTLINE_RELAY_NETWORKS: '127.0.0.0/8=acme',
        POSTLINE_RELAYHOST: `${sink.host}:${sink.port}`,
        POSTLINE_SMTPS_LISTEN: 'off',
        POSTLINE_MX_LISTEN: 'off',
      },
    });
  });

  after(async () => {
    await proc?.stop();
    await sink?.close();
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' });
    } catch {
      // not mounted (skipped)
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function submit(subject: string, bodyBytes: number): Promise<SmtpReply> {
    const c = await connectSmtp({ host: proc.smtp.host, port: proc.smtp.port, timeoutMs: 20_000 });
    try {
      await c.ehlo('client.test');
      assert.equal((await c.send('MAIL FROM:<load@acme.test>')).code, 250);
      assert.equal((await c.send('RCPT TO:<rcpt@dest.test>')).code, 250);
      const line = 'x'.repeat(76);
      const body = `${line}\r\n`.repeat(Math.ceil(bodyBytes / 78));
      return await c.data(`From: <load@acme.test>\r\nTo: <rcpt@dest.test>\r\nSubject: ${subject}\r\n\r\n${body}`);
    } finally {
      c.close();
    }
  }

  it('answers 452 4.3.1 to a submission bound for the spool or the database while full, and 250 (then delivers) once the filler is gone', { timeout: 90_000 }, async () => {
    const ok = await submit('before-full', 1000);
    assert.equal(ok.code, 250, ok.last);
    await sink.waitFor(1, 20_000);

    const filler = join(dir, 'filler');
    await fill(filler);
    // Over the 1 MiB inline limit: the bytes go to a spool file (ENOSPC).
    const spooled = await submit('full-spool', 1_200_000);
    assert.equal(spooled.last.slice(0, 10), '452 4.3.1 ', spooled.last);
    // Under it: the bytes go into the database (SQLITE_FULL when the WAL cannot grow).
    const inline = await submit('full-db', 900_000);
    assert.equal(inline.last.slice(0, 10), '452 4.3.1 ', inline.last);

    await rm(filler);
    // No restart: the same process takes mail again, both ways.
    const small = await submit('after-full', 900_000);
    assert.equal(small.code, 250, small.last);
    const large = await submit('after-full-large', 1_200_000);
    assert.equal(large.code, 250, large.last);
    await sink.waitFor((m) => ['after-full', 'after-full-large'].every((s) => m.some((x) => x.raw.includes(`Subject: ${s}\r\n`))), 30_000);
    assert.ok(!sink.messages.some((m) => /Subject: full-(spool|db)\r\n/.test(m.raw.toString('latin1'))), 'nothing refused was delivered');

    await proc.stop();
    const db = new DatabaseSync(join(dir, 'postline.db'), { readOnly: true });
    try {
      assert.deepEqual(db.prepare('PRAGMA integrity_check').all().map((r) => r.integrity_check), ['ok']);
      const refused = db.prepare("SELECT count(*) AS n FROM messages WHERE subject LIKE 'full-%'").get() as { n: number };
      assert.equal(refused.n, 0, 'no row for a refused message');
    } finally {
      db.close();
    }
  });
});
