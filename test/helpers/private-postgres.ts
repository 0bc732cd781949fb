// A PostgreSQL cluster of a test's own (Debian's postgresql-15 binaries, a temporary data
// directory, a loopback port), so the test can stop and start it for real without touching
// the server the rest of the suite shares. As root (CI) it runs as the `postgres` user, since
// initdb and postgres refuse to run as root.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';

const BIN = '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  readonly url: string;
  readonly port: number;
  /** Stops the server: `immediate` is a crash (recovery at the next start), `fast` a clean shutdown. */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  destroy(): void;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join('/tmp', 'postline-pg-'));
  const data = join(dir, 'data');
  const run = (args: string[]) => {
    const [cmd, ...rest] = args;
    if (!root) return execFileSync(join(BIN, cmd), rest, { stdio: 'pipe' });
    const quoted = [join(BIN, cmd), ...rest].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    return execFileSync('su', ['postgres', '-c', quoted], { stdio: 'pipe' });
  };
  if (root) {
    const ids = execFileSync('id', ['-u', 'postgres']).toString().trim();
    const gid = execFileSync('id', ['-g', 'postgres']).toString().trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  const user = root ? 'postgres' : userInfo().username;
  run(['initdb', '-D', data, '-A', 'trust', '-U', user, '--no-sync']);
  const port = await freePort();
  const start = () => {
    run(['pg_ctl', '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on`, 'start']);
  };
  start();
  return {
    url: `postgres://${user}@127.0.0.1:${port}/postgres`,
    port,
    stop(mode = 'immediate') {
      run(['pg_ctl', '-D', data, '-m', mode, '-w', 'stop']);
    },
    start,
    destroy() {
      try {
        run(['pg_ctl', '-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
