// The V8 settings of src/cli/node-flags.ts are passed by every way of starting Postline
// (npm start, npm run postline, the postline command and its re-run under Node 24), and the
// command still runs through its first line (`env -S node …`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const execFileP = promisify(execFile);

describe('node flags (src/cli/node-flags.ts)', () => {
  it('npm start and npm run postline run node with them', () => {
    const scripts = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'postline']) {
      assert.ok(scripts[name].startsWith(`node ${NODE_FLAGS.join(' ')} src/cli/main.ts`), `${name}: ${scripts[name]}`);
    }
  });

  it('bin/postline.js passes them on its first line and when it re-runs itself under Node 24', () => {
    const bin = readFileSync(resolve(ROOT, 'bin/postline.js'), 'utf8');
    assert.equal(bin.split('\n')[0], `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    assert.ok(bin.includes(`spawnSync(node24, [${NODE_FLAGS.map((f) => `'${f}'`).join(', ')}, main,`), 'the re-run passes them');
  });

  it('the postline command runs when executed directly (its first line works here)', async () => {
    const { stdout } = await execFileP(resolve(ROOT, 'bin/postline.js'), ['--help'], { cwd: ROOT, timeout: 60_000 });
    assert.match(stdout, /Usage: postline/);
  });
});
