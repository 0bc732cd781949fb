import { startServer, createLogger } from '../server.ts';
import { configFrom, type GlobalOptions } from './main.ts';

const ROLES: Record<string, string> = {
  smtp: 'submission, STARTTLS + AUTH',
  smtps: 'submission, implicit TLS + AUTH',
  mx: 'inbound MX for hosted domains',
  http: 'HTTP API, /healthz, /readyz',
};

/** Beyond shutdown_timeout: delivery's own drain (up to 10 s) and closing the store. */
const SHUTDOWN_MARGIN_MS = 15_000;

export async function startCommand(opts: GlobalOptions): Promise<void> {
  // libuv's thread pool (4 threads by default, one per process) runs the WAL fsyncs that every
  // 250/202 waits for, and also scrypt and spool I/O of both threads: with 4, an fsync could
  // queue behind them. 8, not more: each pool thread keeps what it allocated (glibc arenas),
  // and 16 added ~180 MB of RSS in the SMTP fuzz. Read when the pool first starts, later.
  process.env.UV_THREADPOOL_SIZE ??= '8';
  const config = configFrom(opts);
  const log = createLogger(config);
  const server = await startServer(config, log);
  const ready = {
    ready: true,
    smtp: server.listening.smtp ?? null,
    smtps: server.listening.smtps ?? null,
    mx: server.listening.mx ?? null,
    http: server.listening.http ?? null,
    data_dir: server.dataDir,
    admin_token_file: server.adminTokenFile,
    pid: process.pid,
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(ready)}\n`);
  else {
    process.stdout.write([
      `Postline is running (pid ${process.pid}), data in ${server.dataDir}`,
      ...Object.entries(server.listening).map(([k, v]) => `  ${k.padEnd(6)} listening on ${v.padEnd(20)} ${ROLES[k] ?? ''}`.trimEnd()),
      server.adminTokenFile ? `  admin token in ${server.adminTokenFile}` : '  admin token from configuration',
      '  stop with Ctrl-C',
      '',
    ].join('\n'));
  }
  let stopping = false;
  // The log is asynchronous (log/create-logger.ts): flush it before exit, or the last lines,
  // the ones that say why the process stopped, are lost.
  const exit = (code: number) => log.flush(() => process.exit(code));
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, shutdown_timeout_ms: config.shutdown_timeout }, 'shutting down');
    const force = setTimeout(() => {
      log.error({ signal }, 'shutdown took too long; exiting');
      exit(1);
    }, config.shutdown_timeout + SHUTDOWN_MARGIN_MS);
    force.unref();
    server.stop(config.shutdown_timeout).then(() => {
      log.info('stopped');
      exit(0);
    }, (err) => {
      log.error({ err }, 'shutdown failed');
      exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP reloads the TLS certificate and key, and the configuration: the settings that can
  // change live are applied, the others are named in the log as needing a restart.
  process.on('SIGHUP', () => {
    if (stopping) return;
    server.reloadTls().catch((err: unknown) => log.error({ err }, 'TLS reload failed; the previous certificate stays in use'));
    try {
      server.reloadConfig(configFrom(opts));
    } catch (err) {
      log.error({ err: (err as Error).message }, 'configuration reload failed; the running configuration stays in use');
    }
  });
}
