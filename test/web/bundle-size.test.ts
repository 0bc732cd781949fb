import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(import.meta.dirname, '../..');
const ASSETS = join(ROOT, 'web/dist/assets');
/** The stated budget (issue 6): all the dashboard's JavaScript, gzipped. */
const BUDGET_GZIP_BYTES = 300 * 1024;

describe('dashboard size budget', () => {
  before(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-ui-if-stale.ts')], { stdio: 'inherit' });
  });

  it(`ships under ${BUDGET_GZIP_BYTES / 1024} KB of JavaScript gzipped`, () => {
    const js = readdirSync(ASSETS).filter((f) => f.endsWith('.js'));
    assert.ok(js.length > 0, 'the build wrote JavaScript');
    const gzipped = js.reduce((n, f) => n + gzipSync(readFileSync(join(ASSETS, f)), { level: 9 }).length, 0);
    assert.ok(gzipped < BUDGET_GZIP_BYTES, `${gzipped} bytes gzipped is over the budget of ${BUDGET_GZIP_BYTES}`);
  });
});
