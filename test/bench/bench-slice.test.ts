// backend: sqlite-only
// The benchmark's CI slice: `npm run bench` on a few thousand messages and contacts, so the
// bench code and its tools (wrk, smtp-sink) keep working between full runs. It checks that
// every message was accepted and every contact imported and expanded, never speed: numbers
// are measured by `npm run bench` and kept in BENCHMARKS.md, not asserted here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

describe('npm run bench, CI slice (api and contacts)', () => {
  it('accepts every message through the batch and single-send paths, and imports and expands every contact', { timeout: 300_000 }, async () => {
    const { stdout } = await run(process.execPath, [
      'bench/run.ts', '--only', 'api,contacts', '--api-batch-count', '2000', '--api-single-count', '2000', '--contacts-count', '5000', '--json',
    ], { cwd: root, timeout: 280_000, maxBuffer: 16 * 1024 * 1024 });
    const out = JSON.parse(stdout.slice(stdout.indexOf('{')));
    assert.equal(out.api.length, 2, stdout);
    for (const r of out.api) {
      assert.equal(r.error, null, `${r.mode}: ${r.error}`);
      assert.ok(r.accepted >= 2000, `${r.mode}: ${r.accepted} accepted`);
      assert.equal(r.failed, 0);
      assert.ok(r.p99Ms > 0 && r.acceptedPerS > 0);
    }
    const single = out.api.find((r: { mode: string }) => r.mode === 'single');
    assert.equal(single.client, 'wrk');
    assert.ok(single.warmup.messages >= 200, 'a warm-up ran first');
    const [contacts] = out.contacts;
    assert.equal(contacts.error, null);
    assert.deepEqual(contacts.phases.map((p: { phase: string; count: number }) => [p.phase, p.count]), [['import', 5000], ['expand', 5000]]);
  });
});
