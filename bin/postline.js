#!/usr/bin/env node
// The `postline` command. Postline runs its TypeScript directly on Node.js 24 (type
// stripping); when this launcher finds an older Node first on the PATH it re-runs itself
// with the Node 24 that `npm install` put in node_modules. Either way Postline runs with the
// V8 settings of src/cli/node-flags.ts (kept equal to this list by test/cli/node-flags.test.ts):
// a Node 24 started without them replaces itself (execve: same process id, so signals and
// service managers see one process) with one started with them. A setting given on node's own
// command line (e.g. a larger --max-old-space-size) is kept.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NODE_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=1536'];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);
const flagName = (flag) => flag.split('=')[0];
const missing = NODE_FLAGS.filter((flag) => !process.execArgv.some((given) => flagName(given) === flagName(flag)));
if (major >= 24) {
  if (missing.length > 0 && typeof process.execve === 'function') {
    process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], process.env);
  }
  await import(main);
} else {
  const node24 = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node24)) {
    process.stderr.write(`postline needs Node.js 24 or newer (this is ${process.version}); run npm install in ${root}\n`);
    process.exit(1);
  }
  const r = spawnSync(node24, [...NODE_FLAGS, main, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
