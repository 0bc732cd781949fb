// Contacts from the command line: `postline contacts import FILE --list NAME --tenant NAME`
// runs the same streaming import as POST /api/v1/lists/{id}/import (campaigns/contact-
// import.ts), creating the list when it does not exist, with progress on stderr; the file is
// read as a stream, so its size is bounded by the disk, not memory. "-" reads stdin.
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { StoreError, findListByName, findTenant, getList, insertList, type Store, type TenantTable } from '../store/index.ts';
import { importContactsCsv, type ContactImportProgress } from '../campaigns/index.ts';
import { output, type GlobalOptions } from './main.ts';
import { withStore } from './open-cli-store.ts';

const PROGRESS_INTERVAL_MS = 1000;

async function tenantOrFail(store: Store, name: string): Promise<TenantTable> {
  const tenant = await findTenant(store.db, name);
  if (!tenant) throw new StoreError('TENANT_NOT_FOUND', `no tenant named "${name}" (create it with: postline tenant create ${name})`);
  return tenant;
}

export function registerContactCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
  const contacts = program.command('contacts').description('contacts and lists of a tenant (bulk mail)');

  contacts.command('import <file>')
    .description('import a CSV file into a list (header row: email, then name and attribute columns); "-" reads stdin')
    .requiredOption('--list <name>', 'list name or id (created when no list has this name)')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .action(async (file: string, o: { list: string; tenant: string }) => withStore(g(), async (store) => {
      const t = await tenantOrFail(store, o.tenant);
      const list = (await getList(store.db, t.id, o.list)) ?? (await findListByName(store.db, t.id, o.list))
        ?? (await store.write((trx) => insertList(trx, t.id, { name: o.list, description: null, optIn: 'single' }, Date.now())));
      let lastAt = Date.now();
      const job = await importContactsCsv(store, t.id, list.id, file === '-' ? process.stdin : createReadStream(file), {
        onProgress: (p: ContactImportProgress) => {
          if (Date.now() - lastAt < PROGRESS_INTERVAL_MS) return;
          lastAt = Date.now();
          process.stderr.write(`${file}: ${p.rows} rows: ${p.imported} imported, ${p.existing} already on the list, ${p.rejected} rejected\n`);
        },
      });
      output(g(), { job_id: job.id, list_id: list.id, list: list.name, rows: job.rows, imported: job.imported, existing: job.existing, rejected: job.rejected },
        `${job.rows} rows into list "${list.name}" (${list.id}): ${job.imported} imported, ${job.existing} already on the list, ${job.rejected} rejected (job ${job.id}; rejected rows: GET /api/v1/lists/${list.id}/imports/${job.id}/rejected)`);
    }));
}
