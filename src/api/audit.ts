// The audit helper for route handlers: records the request's principal and client address
// with the action (security/audit-log.ts). Call it inside the store.write of the change.
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.ts';
import { recordAudit, type AuditAction, type AuditActor, type AuditTarget } from '../security/index.ts';
import { principalOf } from './auth.ts';

/** Who is behind a request, for the audit log. */
export function auditActorOf(request: FastifyRequest): AuditActor {
  const p = principalOf(request);
  // A dashboard session acts as its user (admin or tenant user), recorded by user id.
  if (p.userId !== undefined) return { kind: 'user', id: p.userId, ip: request.ip };
  return p.kind === 'admin' ? { kind: 'admin', id: null, ip: request.ip } : { kind: 'key', id: p.keyId, ip: request.ip };
}

export async function audit(trx: Kysely<Database>, request: FastifyRequest, action: AuditAction, target: AuditTarget, details?: Record<string, unknown>): Promise<void> {
  await recordAudit(trx, auditActorOf(request), action, target, details);
}
