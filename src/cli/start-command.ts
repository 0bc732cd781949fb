import { startServer, createLogger } from '../server.ts';
import { configFrom, type GlobalOptions } from './main.ts';

const ROLES: Record<string, string> = {
  smtp: 'submission, STARTTLS + AUTH',
  smtps: 'submission, implicit TLS + AUTH',
  mx: 'inbound MX for hosted domains',
  http: 'HTTP API, /healthz, /readyz',
};

export async function startCommand(opts: GlobalOptions): Promise<void> {
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
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    server.stop().then(() => process.exit(0), (err) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
