// `postline migrate --from sqlite:PATH --to postgres://…`: moves an instance from SQLite to
// PostgreSQL (src/store/copy-database.ts), printing progress on stderr and a row count per
// table on both sides at the end. Exit status 1 unless every count matches.
import type { Command } from 'commander';
import { copyDatabase, type CopyProgress } from '../store/copy-database.ts';
import { redactUrl } from '../store/index.ts';
import { output, type GlobalOptions } from './main.ts';

/** Without a terminal (a log, CI): one line per table at most this often, plus when it finishes. */
const LOG_INTERVAL_MS = 3000;
/** On a terminal: the line is redrawn at most this often. */
const TTY_INTERVAL_MS = 100;

interface MigrateOptions {
  from: string;
  to: string;
  batchSize?: string;
}

function progressPrinter(): (p: CopyProgress) => void {
  const tty = process.stderr.isTTY === true;
  let lastAt = 0;
  return (p) => {
    const now = Date.now();
    const line = `${p.table}: copied ${p.copied}/${p.total}`;
    if (p.done) {
      process.stderr.write(tty ? `\r\x1b[K${line}\n` : `${line}\n`);
      lastAt = 0;
    } else if (now - lastAt >= (tty ? TTY_INTERVAL_MS : LOG_INTERVAL_MS)) {
      // The first report of a table (0/N) waits for the interval like any other, so a small table prints once.
      if (lastAt !== 0 || tty) process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
      lastAt = now;
    }
  };
}

export function registerMigrateCommand(program: Command): void {
  program.command('migrate')
    .description('copy a stopped SQLite instance (every table, spooled bodies included) into an empty PostgreSQL database, then compare row counts')
    .requiredOption('--from <url>', 'the source: sqlite:PATH (its spool is in the same directory, or --data-dir)')
    .requiredOption('--to <url>', 'the target: postgres://USER:PASSWORD@HOST:PORT/DATABASE, empty')
    .option('--batch-size <rows>', 'rows per INSERT (default 1000)')
    .action(async (opts: MigrateOptions) => {
      const g = program.opts<GlobalOptions>();
      const batchRows = opts.batchSize === undefined ? undefined : Number(opts.batchSize);
      if (batchRows !== undefined && !(Number.isInteger(batchRows) && batchRows > 0)) throw new Error(`--batch-size must be a positive integer, not "${opts.batchSize}"`);
      const controller = new AbortController();
      const abort = () => controller.abort();
      process.once('SIGINT', abort);
      process.once('SIGTERM', abort);
      const started = Date.now();
      process.stderr.write(`migrating ${opts.from} to ${redactUrl(opts.to)}\n`);
      try {
        const report = await copyDatabase({
          from: opts.from, to: opts.to, sourceDataDir: g.dataDir, batchRows, onProgress: progressPrinter(), signal: controller.signal,
        });
        for (const id of report.missingBodies) process.stderr.write(`warning: message ${id}: spool file gone (removed once delivered); copied without its body\n`);
        const mismatched = Object.entries(report.tables).filter(([, c]) => c.source !== c.target);
        const human = [
          ...Object.entries(report.tables).map(([t, c]) => `${t.padEnd(28)} ${String(c.source).padStart(10)} ${String(c.target).padStart(10)}${c.source === c.target ? '' : '  MISMATCH'}`),
          `${report.spooledBodies} spooled bodies moved into the database; ${((Date.now() - started) / 1000).toFixed(1)} s`,
          report.verified ? 'verified: every table has as many rows on the target as in the source' : `NOT verified: ${mismatched.map(([t]) => t).join(', ')} differ`,
        ].join('\n');
        output(g, { tables: report.tables, verified: report.verified, spooled_bodies: report.spooledBodies, missing_bodies: report.missingBodies }, `${'table'.padEnd(28)} ${'source'.padStart(10)} ${'target'.padStart(10)}\n${human}`);
        if (!report.verified) process.exitCode = 1;
        // DKIM keys and webhook secrets were copied sealed: only the instance key opens them.
        else process.stderr.write('next: give every PostgreSQL node the instance key (security.secret_key, or the source\'s <data_dir>/secret.key), then start them with database.url set to the target\n');
      } finally {
        process.off('SIGINT', abort);
        process.off('SIGTERM', abort);
      }
    });
}
