// Tenants, SMTP credentials and API keys (sending domains: domain-commands.ts).
import type { Command } from 'commander';
import { createTenant, findTenant, listTenants, createCredential, StoreError } from '../store/index.ts';
import { hashPassword, randomSecret } from '../security/password-hash.ts';
import { output, type GlobalOptions } from './main.ts';
import { createApiKey } from '../api/index.ts';
import { withStore } from './open-cli-store.ts';
import { CLI_ACTOR, recordAudit } from '../security/index.ts';

async function tenantOrFail(store: Parameters<Parameters<typeof withStore>[1]>[0], name: string) {
  const tenant = await findTenant(store.db, name);
  if (!tenant) throw new StoreError('TENANT_NOT_FOUND', `no tenant named "${name}" (create it with: postline tenant create ${name})`);
  return tenant;
}

export function registerAdminCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
  const tenant = program.command('tenant').description('manage tenants (an app, a shop, a newsletter)');
  tenant.command('create <name>')
    .description('create a tenant')
    .option('--sandbox', 'keep this tenant\'s outbound mail instead of sending it (capture mode)')
    .action(async (name: string, o: { sandbox?: boolean }) => withStore(g(), async (store) => {
      const t = await store.write(async (trx) => {
        const created = await createTenant(trx, name, { sandbox: o.sandbox });
        await recordAudit(trx, CLI_ACTOR, 'tenant.created', { tenantId: created.id, id: created.id }, { name, sandbox: o.sandbox === true });
        return created;
      });
      output(g(), { id: t.id, name: t.name, sandbox: t.sandbox === 1, created_at: new Date(Number(t.created_at)).toISOString() }, `created tenant ${t.name} (${t.id})`);
    }));
  tenant.command('list').description('list tenants').action(async () => withStore(g(), async (store) => {
    const rows = await listTenants(store.db);
    output(g(), rows.map((t) => ({ id: t.id, name: t.name, sandbox: t.sandbox === 1 })), rows.map((t) => `${t.id}  ${t.name}`).join('\n') || '(no tenants)');
  }));

  program.command('credential').description('SMTP credentials')
    .command('create')
    .description('create SMTP AUTH credentials for a tenant (the password is shown once)')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .option('--username <username>', 'username (default: generated)')
    .action(async (o: { tenant: string; username?: string }) => withStore(g(), async (store) => {
      const t = await tenantOrFail(store, o.tenant);
      const username = o.username ?? `${t.name}-${randomSecret(6).toLowerCase().replace(/[^a-z0-9]/g, '')}`;
      const password = randomSecret(24);
      const passwordHash = await hashPassword(password);
      const cred = await store.write(async (trx) => {
        const created = await createCredential(trx, t.id, username, passwordHash);
        await recordAudit(trx, CLI_ACTOR, 'smtp_credential.created', { tenantId: t.id, id: created.id }, { username });
        return created;
      });
      output(g(), { id: cred.id, tenant: t.name, username, password }, `username: ${username}\npassword: ${password}\n(store the password now: it is not shown again)`);
    }));

  program.command('key').description('API keys')
    .command('create')
    .description('create an API key for a tenant (the key is shown once)')
    .requiredOption('--tenant <name>', 'tenant name or id')
    .option('--name <name>', 'a label for the key', 'cli')
    .option('--scopes <list>', 'comma-separated: send, read, manage', 'send,read')
    .action(async (o: { tenant: string; name: string; scopes: string }) => withStore(g(), async (store) => {
      const t = await tenantOrFail(store, o.tenant);
      const scopes = o.scopes.split(',').map((x) => x.trim()).filter(Boolean);
      const bad = scopes.filter((x) => !['send', 'read', 'manage'].includes(x));
      if (bad.length || scopes.length === 0) throw new StoreError('SCOPES_INVALID', `--scopes takes send, read and/or manage (got "${o.scopes}")`);
      const key = await createApiKey(store, t.id, { name: o.name, scopes: scopes as ('send' | 'read' | 'manage')[] });
      output(g(), key, `key: ${key.key}\nscopes: ${scopes.join(', ')}\n(store the key now: it is not shown again)`);
    }));
}
