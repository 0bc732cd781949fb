#!/usr/bin/env -S node --max-semi-space-size=16 --max-old-space-size=1536
// The `postline` command. Postline runs its TypeScript directly on Node.js 24 (type
// stripping); when this launcher finds an older Node first on the PATH it re-runs itself
// with the Node 24 that `npm install` put in node_modules. Both run with the V8 settings of
// src/cli/node-flags.ts (the first line passes them; so does the re-run).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);
if (major >= 24) {
  await import(main);
} else {
  const node24 = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node24)) {
    process.stderr.write(`postline needs Node.js 24 or newer (this is ${process.version}); run npm install in ${root}\n`);
    process.exit(1);
  }
  const r = spawnSync(node24, ['--max-semi-space-size=16', '--max-old-space-size=1536', main, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
