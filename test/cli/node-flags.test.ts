// The V8 settings of src/cli/node-flags.ts are passed by every way of starting Postline
// (npm start, npm run postline, the postline command and its re-run under Node 24).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = resolve(ROOT, 'bin/postline.js');
const execFileP = promisify(execFile);

describe('node flags (src/cli/node-flags.ts)', () => {
  let dir: string;
  let preload: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'postline-flags-'));
    // Loaded into every node process started below (NODE_OPTIONS): records what each ran with.
    preload = join(dir, 'record.mjs');
    writeFileSync(preload, `import { appendFileSync } from 'node:fs';\nappendFileSync(process.env.FLAGS_RECORD, JSON.stringify({ pid: process.pid, execArgv: process.execArgv }) + '\\n');\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the postline command (`--help`) as given and answers what its last process ran with. */
  async function run(file: string, args: string[], label: string): Promise<{ pid: number; execArgv: string[] }> {
    const record = join(dir, `${label}.jsonl`);
    const { stdout } = await execFileP(file, [...args, '--help'], {
      cwd: ROOT, timeout: 60_000, env: { ...process.env, FLAGS_RECORD: record, NODE_OPTIONS: `--import ${pathToFileURL(preload).href}` },
    });
    assert.match(stdout, /Usage: postline/);
    return JSON.parse(readFileSync(record, 'utf8').trim().split('\n').at(-1)!) as { pid: number; execArgv: string[] };
  }

  it('npm start and npm run postline run node with them', () => {
    const scripts = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'postline']) {
      assert.ok(scripts[name].startsWith(`node ${NODE_FLAGS.join(' ')} src/cli/main.ts`), `${name}: ${scripts[name]}`);
    }
  });

  it('bin/postline.js lists the same flags', () => {
    assert.ok(readFileSync(BIN, 'utf8').includes(`const NODE_FLAGS = [${NODE_FLAGS.map((f) => `'${f}'`).join(', ')}];`));
  });

  it('the postline command, run directly, runs Postline with them', async () => {
    const last = await run(BIN, [], 'direct');
    for (const flag of NODE_FLAGS) assert.ok(last.execArgv.includes(flag), `${flag} in ${JSON.stringify(last.execArgv)}`);
  });

  it('keeps a setting given on node\'s command line (a larger heap)', async () => {
    const last = await run(process.execPath, ['--max-old-space-size=4096', BIN], 'override');
    assert.ok(last.execArgv.includes('--max-old-space-size=4096'), JSON.stringify(last.execArgv));
    assert.ok(!last.execArgv.includes('--max-old-space-size=1536'), JSON.stringify(last.execArgv));
    assert.ok(last.execArgv.includes('--max-semi-space-size=16'), JSON.stringify(last.execArgv));
  });
});
