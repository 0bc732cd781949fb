// Who did what: administrative actions go to the audit_log table in the same transaction
// as the change, so a change is never without its entry nor an entry without its change.
// Details never hold secrets (passwords, keys, webhook secrets): only names and ids.
import type { Kysely } from 'kysely';
import { insertAuditEntry, type Database } from '../store/index.ts';

export const AUDIT_ACTIONS = [
  'tenant.created', 'tenant.updated', 'tenant.deleted',
  'api_key.created', 'api_key.revoked',
  'smtp_credential.created', 'smtp_credential.deleted',
  'domain.added', 'domain.removed', 'domain.verified', 'domain.dkim_rotated',
  'webhook.created', 'webhook.updated', 'webhook.deleted',
  'suppression.added', 'suppression.removed', 'suppression.imported',
  // Released or withdrawn mail: cancelling a message (API DELETE /messages/{id}, `postline queue
  // delete`) and making deferred mail due now (`postline queue retry`).
  'message.cancelled', 'queue.retried',
  // Dashboard users (src/web/): created, changed (password or role) or deleted by an admin or the CLI; each sign-in.
  'user.created', 'user.updated', 'user.deleted', 'user.signed_in',
  // The capture inbox emptied (API DELETE /api/v1/inbox).
  'inbox.cleared',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** The principal behind an action: the admin token, a tenant API key (its id), the CLI, or a dashboard user (its id). */
export interface AuditActor {
  readonly kind: 'admin' | 'key' | 'cli' | 'user';
  readonly id: string | null;
  /** The client address of an API request; null for the CLI. */
  readonly ip: string | null;
}

export const CLI_ACTOR: AuditActor = Object.freeze({ kind: 'cli', id: null, ip: null });

export interface AuditTarget {
  /** The tenant the action concerns. */
  readonly tenantId: string | null;
  /** The id of the thing acted on (key, credential, domain, webhook, tenant). */
  readonly id: string | null;
}

/** Writes one entry; call it inside the store.write that makes the change. */
export async function recordAudit(trx: Kysely<Database>, actor: AuditActor, action: AuditAction, target: AuditTarget, details?: Record<string, unknown>, now = Date.now()): Promise<void> {
  await insertAuditEntry(trx, {
    at: now, actor_kind: actor.kind, actor_id: actor.id, tenant_id: target.tenantId, action, target: target.id,
    details: details === undefined ? null : JSON.stringify(details), ip: actor.ip,
  });
}
