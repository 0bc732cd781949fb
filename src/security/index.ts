// What other stages may use from security/: password hashing, sealing secrets at rest,
// the key that seals them, and the audit log helper's types.
export { hashPassword, verifyPassword, randomSecret } from './password-hash.ts';
export { sealSecret, openSecret, openSecretOrPlain, isSealed, SecretBoxError, SECRET_KEY_BYTES } from './secret-box.ts';
export { loadSecretKey, secretKeyOf } from './secret-key.ts';
export type { SecretKeySource } from './secret-key.ts';
export { sealWebhookSecret, openWebhookSecret } from './webhook-secret-seal.ts';
export { AUDIT_ACTIONS, CLI_ACTOR, recordAudit } from './audit-log.ts';
export type { AuditAction, AuditActor, AuditTarget } from './audit-log.ts';
