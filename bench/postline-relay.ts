// Postline as the relay under test, run the way an operator would: the CLI creates the tenant
// and its sending domain in a fresh data dir, then `start --json` serves SMTP on a loopback
// port, trusts 127.0.0.0/8 as tenant "bench", and relays everything to the sink.
import { NODE_FLAGS } from '../src/cli/node-flags.ts';
import { execFile, spawn } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { HOST, freePort } from './net.ts';
import { peakRssBytes } from './proc-stats.ts';
import type { Relay } from './relay.ts';
import { waitForExit } from './smtp-sink.ts';
import { BenchSetupError } from './tools.ts';

const run = promisify(execFile);

export interface PostlineRelayOptions {
  /** The repository root (holds src/cli/main.ts). */
  readonly root: string;
  /** An empty directory for POSTLINE_DATA_DIR. */
  readonly dataDir: string;
  readonly sinkPort: number;
  /** Parallel deliveries to the sink; the bench uses its session count. */
  readonly concurrency: number;
  /** When set, node writes a .cpuprofile there at exit (--cpu-prof). */
  readonly profileDir: string | null;
  readonly startTimeoutMs?: number;
  /** Also serve the HTTP API on a loopback port and create a `send` API key (the API bench). */
  readonly api?: boolean;
  /** Deliver from an IP pool of this many loopback addresses (127.0.0.2 …), the pool of every message (issue 5). */
  readonly sourceIps?: number;
  /** More POSTLINE_* settings: the PostgreSQL runs' POSTLINE_DATABASE_URL, node id, shared keys. */
  readonly env?: Readonly<Record<string, string>>;
  /** Create the tenant and domain first (default); false for a second node on a database that has them. */
  readonly setup?: boolean;
}

/** Where the API bench sends, when the relay was started with `api: true`. */
export interface PostlineApi {
  readonly url: string;
  readonly key: string;
}

export const TENANT = 'bench';
export const SENDER_DOMAIN = 'bench.example';

function postlineEnv(options: PostlineRelayOptions, port: number, httpPort: number | null): NodeJS.ProcessEnv {
  return {
    ...process.env,
    POSTLINE_DATA_DIR: options.dataDir,
    POSTLINE_HOSTNAME: 'relay.bench.test',
    POSTLINE_SMTP_LISTEN: `${HOST}:${port}`,
    POSTLINE_SMTPS_LISTEN: 'off',
    POSTLINE_MX_LISTEN: 'off',
    POSTLINE_HTTP_LISTEN: httpPort === null ? 'off' : `${HOST}:${httpPort}`,
    POSTLINE_RELAY_NETWORKS: `127.0.0.0/8=${TENANT}`,
    POSTLINE_RELAYHOST: `${HOST}:${options.sinkPort}`,
    POSTLINE_DELIVERY_ALLOW_PRIVATE: 'true',
    // Same parallelism towards the sink as Postfix's smtp_destination_concurrency_limit.
    POSTLINE_MAX_CONNECTIONS_PER_DESTINATION: String(options.concurrency),
    POSTLINE_LOG_LEVEL: 'warn',
    // The bench measures what one key can push through a node, not the default per-key policy
    // (http.key_rate_per_second, 1,000/s), which would otherwise be the figure measured.
    POSTLINE_API_KEY_RATE: '0',
    // bench.example is not published in any DNS; its mail is still DKIM-signed (as in production).
    POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'false',
    ...options.env,
  };
}

/** Starts Postline and waits for its `{"ready":true,…}` line. Throws BenchSetupError. */
export async function startPostlineRelay(options: PostlineRelayOptions): Promise<Relay & { readonly api: PostlineApi | null }> {
  const main = join(options.root, 'src', 'cli', 'main.ts');
  try {
    await access(main);
  } catch {
    throw new BenchSetupError('BENCH_POSTLINE_MISSING', `${main} does not exist yet, so Postline cannot be benchmarked`);
  }
  await mkdir(options.dataDir, { recursive: true });
  const port = await freePort();
  const httpPort = options.api ? await freePort() : null;
  const env = postlineEnv(options, port, httpPort);
  if (options.sourceIps) env.POSTLINE_CONFIG = await writePoolConfig(options.dataDir, options.sourceIps);
  const cli = async (args: string[]) => {
    try {
      return (await run(process.execPath, [main, ...args], { cwd: options.root, env, timeout: 60_000 })).stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string; stdout?: string };
      throw new BenchSetupError('BENCH_POSTLINE_SETUP', `postline ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
    }
  };
  if (options.setup !== false) {
    await cli(['tenant', 'create', TENANT, '--json']);
    await cli(['domain', 'add', '--tenant', TENANT, SENDER_DOMAIN, '--json']);
  }
  let key: string | null = null;
  if (options.api) {
    const created = JSON.parse(await cli(['key', 'create', '--tenant', TENANT, '--scopes', 'send', '--json'])) as { key?: unknown };
    if (typeof created.key !== 'string') throw new BenchSetupError('BENCH_POSTLINE_SETUP', 'postline key create --json printed no key');
    key = created.key;
  }

  // Started as users start it (npm start, the postline command): with the same V8 settings.
  const nodeArgs = [...NODE_FLAGS, ...(options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [])];
  const child = spawn(process.execPath, [...nodeArgs, main, 'start', '--json'], {
    cwd: options.root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (text: string) => {
    log = (log + text).slice(-16_000);
  };
  child.stderr.on('data', (chunk: Buffer) => keep(chunk.toString()));
  const lines = createInterface({ input: child.stdout });

  let stopping = false;
  child.once('exit', (code, signal) => {
    // Postline logs its own shutdown at info, below the bench's warn level: say it here.
    if (!stopping) keep(`postline exited while the bench still needed it (code ${code}, signal ${signal ?? 'none'})\n`);
  });
  const stop = async () => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM'); // Postline drains and exits; --cpu-prof is written on that exit.
    if (!(await waitForExit(child, 30_000))) {
      child.kill('SIGKILL');
      await waitForExit(child, 5_000);
    }
  };
  let http = httpPort === null ? null : `${HOST}:${httpPort}`;
  const ready = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), options.startTimeoutMs ?? 60_000);
    const finish = (value: string | null) => {
      clearTimeout(timer);
      resolve(value);
    };
    lines.on('line', (line) => {
      let parsed: { ready?: unknown; smtp?: unknown; http?: unknown } | null = null;
      try {
        parsed = JSON.parse(line) as { ready?: unknown; smtp?: unknown; http?: unknown };
      } catch {
        keep(line + '\n');
        return;
      }
      if (parsed && parsed.ready === true) {
        if (typeof parsed.http === 'string') http = parsed.http;
        finish(typeof parsed.smtp === 'string' ? parsed.smtp : `${HOST}:${port}`);
      }
      else keep(line + '\n');
    });
    child.once('exit', () => finish(null));
    child.once('error', (err) => {
      keep(err.message);
      finish(null);
    });
  });
  if (!ready || !child.pid) {
    await stop();
    throw new BenchSetupError('BENCH_POSTLINE_START', `postline start did not report ready:\n${log.trim()}`);
  }
  // Trust the ready line over our request: it names the socket actually bound.
  const reportedPort = Number(/:(\d+)$/.exec(ready)?.[1] ?? port);
  const pid = child.pid;
  return {
    name: 'postline',
    port: reportedPort,
    pid,
    api: http && key ? { url: `http://${http.replace(/^https?:\/\//, '')}`, key } : null,
    peakRssBytes: () => peakRssBytes(pid),
    logTail: async () => log.split('\n').slice(-30).join('\n'),
    stop,
    stopNow: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** A configuration file whose default pool is `count` loopback addresses of equal weight. */
async function writePoolConfig(dataDir: string, count: number): Promise<string> {
  const ips = Array.from({ length: count }, (_, i) => `      - { address: 127.0.0.${i + 2}, hostname: relay${i + 1}.bench.test }`);
  const file = join(dataDir, 'pools.yaml');
  await writeFile(file, `ip_pools:\n  default_pool: bench\n  pools:\n    - name: bench\n      ips:\n${ips.join('\n')}\n`);
  return file;
}
