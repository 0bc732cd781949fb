import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runCli } from '../helpers/postline.ts';
import { listMemberCounts, findTenant, findListByName } from '../../src/store/index.ts';
import { openTestStore } from '../helpers/backend.ts';

describe('postline contacts import (CLI)', () => {
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postline-cli-contacts-'));
    env = { POSTLINE_DATA_DIR: dir, POSTLINE_LOG_LEVEL: 'silent' };
    await runCli(env, ['tenant', 'create', 'acme']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('imports a file into a list it creates by name and prints the job counts; a second run finds the rows already there', async () => {
    const file = join(dir, 'people.csv');
    writeFileSync(file, 'email,name,plan\nann@example.test,Ann,gold\nbad-address,Bob,\nann@example.test,Ann twice,\ncat@example.test,Cat,silver\n');
    const first = await runCli(env, ['contacts', 'import', file, '--list', 'Newsletter', '--tenant', 'acme']);
    assert.deepEqual([first.list, first.rows, first.imported, first.existing, first.rejected], ['Newsletter', 4, 2, 0, 2]);
    assert.match(first.job_id, /^imp_/);
    const second = await runCli(env, ['contacts', 'import', file, '--list', 'Newsletter', '--tenant', 'acme']);
    assert.deepEqual([second.list_id, second.imported, second.existing, second.rejected], [first.list_id, 0, 2, 2]);
    const store = await openTestStore({ dataDir: dir });
    try {
      const t = (await findTenant(store.db, 'acme'))!;
      const list = (await findListByName(store.db, t.id, 'Newsletter'))!;
      assert.deepEqual(await listMemberCounts(store.db, list.id), { subscribed: 2, unsubscribed: 0, unconfirmed: 0 });
    } finally {
      await store.close();
    }
  });

  it('fails naming the unknown tenant', async () => {
    await assert.rejects(runCli(env, ['contacts', 'import', '-', '--list', 'x', '--tenant', 'nobody']), /no tenant named "nobody"/);
  });
});
