// Dashboard users from the command line: the same account functions as the users API
// (web/user-accounts.ts), audited with the CLI as the actor. The first admin is made here:
//   postline user create ops@example.com --password '…' --admin
import type { Command } from 'commander';
import { StoreError, findTenant, listUsersPage, type UserRole } from '../store/index.ts';
import { CLI_ACTOR } from '../security/index.ts';
import { USER_ROLES, createUser, deleteUserAccount, findUserAccount, userView } from '../web/index.ts';
import { output, type GlobalOptions } from './main.ts';
import { withStore } from './open-cli-store.ts';

const LIST_PAGE_ROWS = 500;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

interface CreateOptions {
  password?: string;
  passwordStdin?: boolean;
  admin?: boolean;
  tenant?: string;
  role?: string;
}

export function registerUserCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
  const user = program.command('user').description('manage dashboard users (instance admins and tenant users)');

  user.command('create <email>')
    .description('create a dashboard user: an instance admin (--admin) or a user of one tenant (--tenant NAME --role owner|viewer)')
    .option('--password <password>', `the password (at least 10 characters); visible to other local users in the process list: prefer --password-stdin`)
    .option('--password-stdin', 'read the password from standard input')
    .option('--admin', 'an instance admin (what the admin token may do)')
    .option('--tenant <name>', 'the tenant (name or id) of a tenant user')
    .option('--role <role>', `the tenant user's role: ${USER_ROLES.join(' or ')} (default viewer)`)
    .action(async (email: string, o: CreateOptions) => withStore(g(), async (store) => {
      if (o.admin && (o.tenant !== undefined || o.role !== undefined)) throw new StoreError('ARGUMENT_INVALID', '--admin takes no --tenant or --role');
      if (!o.admin && o.tenant === undefined) throw new StoreError('ARGUMENT_MISSING', 'give --admin, or --tenant NAME (with --role owner|viewer)');
      if (o.role !== undefined && !(USER_ROLES as readonly string[]).includes(o.role)) throw new StoreError('ARGUMENT_INVALID', `--role must be one of ${USER_ROLES.join(', ')}`);
      if ((o.password === undefined) === (o.passwordStdin !== true)) throw new StoreError('ARGUMENT_MISSING', 'give the password with --password PW or --password-stdin');
      const password = o.password ?? await readStdin();
      const created = await createUser(store, o.admin
        ? { email, password, admin: true }
        : { email, password, tenant: o.tenant!, role: (o.role ?? 'viewer') as UserRole }, CLI_ACTOR);
      output(g(), created, `created ${created.is_admin ? 'admin' : `${created.role} of tenant ${o.tenant}`} ${created.email} (${created.id})`);
    }));

  user.command('list')
    .description('list dashboard users')
    .option('--tenant <name>', 'only the users of this tenant')
    .action(async (o: { tenant?: string }) => withStore(g(), async (store) => {
      let tenantId: string | undefined;
      if (o.tenant !== undefined) {
        const t = await findTenant(store.db, o.tenant);
        if (!t) throw new StoreError('TENANT_NOT_FOUND', `no tenant named "${o.tenant}"`);
        tenantId = t.id;
      }
      const users = [];
      for (let afterId: string | undefined; ;) {
        const page = await listUsersPage(store.db, { tenantId }, { afterId, limit: LIST_PAGE_ROWS });
        users.push(...page.map(userView));
        if (page.length < LIST_PAGE_ROWS) break;
        afterId = page[page.length - 1].id;
      }
      output(g(), users, users.map((u) => `${u.id}  ${u.email}  ${u.is_admin ? 'admin' : `${u.role} of ${u.tenant_id}`}`).join('\n') || '(no users)');
    }));

  user.command('delete <user>')
    .description('delete a dashboard user (by email or id) and end its sessions')
    .action(async (idOrEmail: string) => withStore(g(), async (store) => {
      const u = await findUserAccount(store, idOrEmail);
      if (!u) throw new StoreError('USER_NOT_FOUND', `no user "${idOrEmail}"`);
      await deleteUserAccount(store, u.id, CLI_ACTOR);
      output(g(), { deleted: userView(u) }, `deleted ${u.email} (${u.id})`);
    }));
}
