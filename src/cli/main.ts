// The `postline` command: `start` runs the server; the rest are thin clients over the same
// store functions the server uses. Every command takes --json for scripts.
import { Command, Option } from 'commander';
import { loadConfig, ConfigError, type Config } from '../config/index.ts';
import { registerAdminCommands } from './admin-commands.ts';
import { registerDomainCommands } from './domain-commands.ts';
import { registerQueueCommands } from './queue-commands.ts';
import { registerSuppressionCommands } from './suppression-commands.ts';
import { registerUserCommands } from './user-commands.ts';
import { registerDoctorCommand } from './doctor-command.ts';
import { registerContactCommands } from './contact-commands.ts';
import { registerMigrateCommand } from './migrate-command.ts';
import { startCommand } from './start-command.ts';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  dataDir?: string;
  /** `start --roles smtp,api,…` (the `roles` setting). */
  roles?: string;
}

export function configFrom(opts: GlobalOptions): Readonly<Config> {
  const overrides: Record<string, unknown> = {};
  if (opts.dataDir) overrides.data_dir = opts.dataDir;
  if (opts.roles) overrides.roles = opts.roles.split(',').map((r) => r.trim()).filter(Boolean);
  return loadConfig({ file: opts.config, overrides });
}

/** Prints a result: JSON for --json, else the human text. */
export function output(opts: GlobalOptions, value: unknown, human: string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

const program = new Command();
program
  .name('postline')
  .description('Postline: self-hosted mail delivery (SMTP + HTTP in, durable queue, delivery to MX hosts).\nDocs: docs/configuration.md, docs/cli.md')
  .addOption(new Option('-c, --config <file>', 'configuration file (YAML); default $POSTLINE_CONFIG'))
  .option('--data-dir <dir>', 'data directory (overrides data_dir / POSTLINE_DATA_DIR)')
  .option('--json', 'machine-readable output, one JSON document per result')
  .showHelpAfterError();

program.command('start')
  .description('start the all-in-one server (SMTP submission, MX, HTTP, delivery) on the configured store')
  .option('--roles <list>', 'what this node runs, comma-separated: smtp, api, web, worker (default: all; the roles setting)')
  .action(async (cmdOpts: { roles?: string }) => startCommand({ ...program.opts<GlobalOptions>(), ...cmdOpts }));

registerAdminCommands(program);
registerDomainCommands(program);
registerQueueCommands(program);
registerSuppressionCommands(program);
registerUserCommands(program);
registerDoctorCommand(program);
registerContactCommands(program);
registerMigrateCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const message = err instanceof ConfigError ? err.message : `postline: ${(err as Error).message}`;
  if (program.opts<GlobalOptions>().json) {
    process.stdout.write(`${JSON.stringify({ error: { code: (err as { code?: string }).code ?? 'POSTLINE_ERROR', message } })}\n`);
  }
  process.stderr.write(`${message}\n`);
  process.exitCode = 1;
}
