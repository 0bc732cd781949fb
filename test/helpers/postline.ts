// Starts a real Postline server as a child process (`postline start --json`) on ephemeral
// loopback ports with its own data dir, and drives the CLI against the same data dir.
// Tests get real sockets, real fsync, and can `kill -9` the process.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { dropTestDatabase, withBackend } from './backend.ts';
import { startSmtpSink, type SinkOptions, type SmtpSink } from './smtp-sink.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');
const execFileP = promisify(execFile);

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface PostlineOptions {
  /** POSTLINE_* settings; listeners default to ephemeral ports on 127.0.0.1. */
  readonly env?: Record<string, string>;
  readonly dataDir?: string;
  /** Tenant to create before start, with its sending domains and one SMTP credential. */
  readonly tenant?: { name: string; domains: string[] };
}

export interface PostlineProcess {
  readonly dataDir: string;
  smtp: Endpoint;
  smtps: Endpoint;
  mx: Endpoint;
  http: Endpoint | null;
  readonly credential: { username: string; password: string } | null;
  readonly env: Record<string, string>;
  child: ChildProcess;
  /** Everything the server wrote to stderr (its log). */
  logs(): string;
  /** Runs `postline --json ARGS…` against this data dir; returns the parsed JSON. */
  cli(...args: string[]): Promise<any>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL (kill -9) and wait for exit. */
  kill9(): Promise<void>;
  /** Start again on the same data dir (new ports unless fixed by env). */
  restart(): Promise<void>;
  /** Stop and remove the data dir. */
  cleanup(): Promise<void>;
}

function endpoint(value: string | null): Endpoint | null {
  if (!value) return null;
  const i = value.lastIndexOf(':');
  return { host: value.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(value.slice(i + 1)) };
}

export async function runCli(env: Record<string, string>, args: string[]): Promise<any> {
  env = await withBackend(env);
  const { stdout } = await execFileP(process.execPath, [MAIN, '--json', ...args], { env: { ...process.env, ...env }, cwd: ROOT, maxBuffer: 256 * 1024 * 1024 });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

export async function startPostline(options: PostlineOptions = {}): Promise<PostlineProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'postline-test-'));
  const env: Record<string, string> = {
    POSTLINE_DATA_DIR: dataDir,
    POSTLINE_HOSTNAME: 'mta.postline.test',
    POSTLINE_SMTP_LISTEN: '127.0.0.1:0',
    POSTLINE_SMTPS_LISTEN: '127.0.0.1:0',
    POSTLINE_MX_LISTEN: '127.0.0.1:0',
    POSTLINE_HTTP_LISTEN: '127.0.0.1:0',
    POSTLINE_LOG_LEVEL: 'info',
    POSTLINE_DELIVERY_ALLOW_PRIVATE: 'true',
    // Most tests send from domains they add without publishing DNS records; the tests of
    // issue 4 (test/feedback/domain-loop.test.ts) set this back to true and verify for real.
    POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'false',
    ...options.env,
  };
  Object.assign(env, await withBackend(env));
  let credential: { username: string; password: string } | null = null;
  if (options.tenant) {
    await runCli(env, ['tenant', 'create', options.tenant.name]);
    for (const d of options.tenant.domains) await runCli(env, ['domain', 'add', '--tenant', options.tenant.name, d]);
    const c = await runCli(env, ['credential', 'create', '--tenant', options.tenant.name]);
    credential = { username: c.username, password: c.password };
  }
  let log = '';
  const proc: PostlineProcess = {
    dataDir, credential, env,
    smtp: { host: '', port: 0 }, smtps: { host: '', port: 0 }, mx: { host: '', port: 0 }, http: null,
    child: null as unknown as ChildProcess,
    logs: () => log,
    cli: (...args) => runCli(env, args),
    async stop() {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      const exited = once(proc.child, 'exit');
      proc.child.kill('SIGTERM');
      await exited;
    },
    async kill9() {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      const exited = once(proc.child, 'exit');
      proc.child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await proc.stop();
      await launch();
    },
    async cleanup() {
      await proc.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
      if (!options.env?.POSTLINE_DATABASE_URL) await dropTestDatabase(env.POSTLINE_DATABASE_URL);
    },
  };
  async function launch(): Promise<void> {
    const child = spawn(process.execPath, [MAIN, 'start', '--json'], { env: { ...process.env, ...env }, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.child = child;
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.length > 4_000_000) log = log.slice(-2_000_000);
    });
    const ready = await new Promise<Record<string, string | null>>((resolveReady, reject) => {
      let buf = '';
      const onData = (d: Buffer) => {
        buf += d.toString();
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          child.stdout!.off('data', onData);
          try {
            resolveReady(JSON.parse(buf.slice(0, nl)));
          } catch (err) {
            reject(err);
          }
        }
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`postline exited with ${code} before it was ready:\n${log}`)));
    });
    child.stdout!.resume();
    proc.smtp = endpoint(ready.smtp)!;
    proc.smtps = endpoint(ready.smtps)!;
    proc.mx = endpoint(ready.mx)!;
    proc.http = endpoint(ready.http);
  }
  await launch();
  return proc;
}

/**
 * The set-up most delivery tests share: a sink on 127.0.0.2 and a Postline relaying
 * everything to it, for tenant `acme` (acme.test), whose loopback clients submit without
 * AUTH. `close()` stops both and removes the data dir.
 */
export async function startRelayToSink(options: { sink?: SinkOptions; env?: Record<string, string> } = {}): Promise<{ sink: SmtpSink; proc: PostlineProcess; close(): Promise<void> }> {
  const sink = await startSmtpSink({ host: '127.0.0.2', port: 0, ...options.sink });
  const proc = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    env: {
      POSTLINE_RELAY_NETWORKS: '127.0.0.0/8=acme',
      POSTLINE_RELAYHOST: `${sink.host}:${sink.port}`,
      POSTLINE_SMTPS_LISTEN: 'off',
      POSTLINE_MX_LISTEN: 'off',
      ...options.env,
    },
  });
  return {
    sink, proc,
    async close() {
      await proc.cleanup();
      await sink.close();
    },
  };
}
