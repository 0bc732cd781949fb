export { openStore, storeOptionsOf, isPostgresUrl, redactUrl, StoreUnavailableError, UnmakeableBodyError } from './open-store.ts';
export { storeErrorKind } from './store-errors.ts';
export type { StoreErrorKind } from './store-errors.ts';
export type { Store, StoreOptions, BodyRenderer, DeferredBody } from './open-store.ts';
export type { Database, RecipientStatus, MessageOrigin, Stream, TenantTable, DomainTable, CredentialTable, MessageTable, RecipientTable, TemplateTable, IdempotencyKeyTable, ApiKeyTable, ApiKeyScope } from './database.ts';
export type { StoredBody, BodyWriter } from './spool.ts';
export { newId, newPublicId } from './ids.ts';
export { StoreError, createTenant, findTenant, listTenants, createCredential, findCredential, touchCredential, getSetting, putSetting } from './repos/tenants.ts';
export {
  addDomain, listDomains, listDomainsPage, deleteDomain, findDomainByName, getDomain, listAllDomainsPage, updateDomainCheck, ensureVerificationToken, newVerificationToken,
  insertDkimKeys, listDkimKeys, listDkimKeysFor, listDkimSelectors, listActiveDkimKeys, moveDkimKey,
} from './repos/domains.ts';
export type { DomainCheckUpdate } from './repos/domains.ts';
export type { DkimKeyTable, DkimAlgorithm, DkimKeyStatus } from './database.ts';
export { insertMessage, insertMessages, getMessage, getMessageMeta, getMessageForDelivery, listRecipients, listAttempts, bodyPathIfFinal } from './repos/messages.ts';
export type { NewMessage, NewRecipient } from './repos/messages.ts';
export { claimDue, deferClaims, cancelClaims, recordMadeSize, nextDueAt, releaseLeases, renewLeases, recordOutcomes, markDelayDsn, listQueue, retryNow, cancelMessage, queueCounts } from './repos/queue.ts';
export type { ClaimedRecipient, RecipientUpdate, NewAttempt, QueueFilter } from './repos/queue.ts';
export { insertEvents, listEventsForMessage } from './repos/events.ts';
export type { NewEvent } from './repos/events.ts';
export { insertApiKey, findApiKey, findApiKeyWithTenant, listApiKeys, revokeApiKey, touchApiKey } from './repos/api-keys.ts';
export type { PageRequest, ApiKeyWithTenant } from './repos/api-keys.ts';
export { getTenant, listTenantsPage, updateTenant, deleteTenant, listCredentialsPage, deleteCredential } from './repos/tenant-admin.ts';
export type { DeleteTenantResult } from './repos/tenant-admin.ts';
export { insertTemplate, findTemplate, listTemplates, updateTemplate, deleteTemplate } from './repos/templates.ts';
export type { TemplateFields } from './repos/templates.ts';
export { findIdempotencyKey, saveIdempotencyKey, purgeIdempotencyKeys } from './repos/idempotency.ts';
export type { WebhookTable, WebhookDeliveryTable, WebhookAttemptTable, WebhookDeliveryStatus, EventTable, AttemptTable, EventCountTable } from './database.ts';
export {
  WEBHOOK_CURSOR_SETTING, insertWebhook, getWebhook, listWebhooksPage, updateWebhook, deleteWebhook, listEnabledWebhooks, getWebhooksByIds,
  disableWebhook, readEventsInRange, maxEventId, maxCommittedEventId, insertDeliveries, findDueDeliveries, leaseDeliveries, recordDeliveryAttempt, getDelivery,
  listDeliveriesPage, listAttemptsFor, replayDelivery, replayFailedSince, deliveryCounts, deleteDeliveriesBefore,
  sealPlaintextWebhookSecrets,
} from './repos/webhooks.ts';
export type { WebhookChange, DeliveryResult, WebhookAttemptRow } from './repos/webhooks.ts';
export {
  getTenantMessage, listMessagesPage, recipientCounts, listEventsPage, listMessageEvents, eventCountsByHour, eventCountsInRange, readEventHeads, addEventCounts, HOUR_MS,
  deleteEventsBefore, clearBodiesBefore, openRecipientCounts, deleteOrphanEventCounts,
} from './repos/message-queries.ts';
export type { MessageSummary, MessageFilter, EventFilter, EventRow } from './repos/message-queries.ts';
export { WriteLock } from './write-lock.ts';
export type { AuditLogTable } from './database.ts';
export { insertAuditEntry, listAuditLogPage } from './repos/audit-log.ts';
export type { AuditEntryRow, NewAuditEntry, AuditLogFilter } from './repos/audit-log.ts';
export type { SuppressionTable, SuppressionReason } from './database.ts';
export {
  SUPPRESSION_STREAMS, SUPPRESSION_REASONS, MAX_SUPPRESSION_DESCRIPTION_CHARS, normaliseSuppressionAddress, suppressedAmong, addSuppressions, getSuppression, removeSuppression,
  listSuppressionsPage, purgeExpiredSuppressions,
} from './repos/suppressions.ts';
export type { NewSuppression, SuppressionHit, AddSuppressionsResult, SuppressionFilter } from './repos/suppressions.ts';
export { countSoftBounce, resetSoftBounces } from './repos/soft-bounces.ts';
export type { SoftBounceTable } from './database.ts';
export type { UserTable, UserRole, SessionTable } from './database.ts';
export {
  normaliseUserEmail, insertUser, getUser, findUserByEmail, listUsersPage, updateUser, deleteUser, touchUserLogin,
  insertSession, findLiveSession, deleteSession, deleteUserSessions, purgeExpiredSessions,
} from './repos/users.ts';
export type { SessionWithUser, UserListFilter } from './repos/users.ts';
export { OPEN_STATUSES, queueByDestination, listQueueRecipients, retrySelection, cancelSelection, tenantQueueCounts } from './repos/queue-view.ts';
export type { OpenStatus, DestinationGroup, QueueSelection, QueueRecipientRow } from './repos/queue-view.ts';
export { listCapturedPage, deleteCaptured } from './repos/captured.ts';
export type { CapturedMessageRow } from './repos/captured.ts';
export type {
  IpPoolTable, IpPoolAddressTable, IpAddressTable, IpHourlyCountTable, IpThrottleTable, IpThrottleKind, TenantSendingTable, TenantHourlyCountTable, MtaStsPolicyTable,
} from './database.ts';
export {
  listIpPools, getIpPool, createIpPool, replaceIpPoolMembers, deleteIpPool, tenantsUsingPool, ensureIpAddresses, warmupStarts, addIpCounts, ipCountsSince,
  purgeHourlyCounts, putIpThrottle, activeIpThrottles, listTenantSending, getTenantSending, putTenantSending, addTenantCounts, tenantCountsSince,
  getMtaStsPolicy, putMtaStsPolicy,
} from './repos/ip-pools.ts';
export type { IpPoolMemberInput, StoredIpPool, TenantSendingPatch } from './repos/ip-pools.ts';
export type {
  ContactTable, ContactStatus, ContactListTable, ListMemberTable, ListMemberStatus, ContactImportJobTable, ContactImportRejectionTable, ImportRejectReason,
  SegmentTable, CampaignTable, CampaignStatus, CampaignLedgerTable, TrackingEventTable, CampaignLinkHostTable,
} from './database.ts';
export {
  CONTACT_ROWS_PER_STATEMENT, upsertContacts, addListMembers, membersAddedByJob, markMembersForJob, removeListMember, setListMemberStatus, getContact, findContactByEmail, listContactsPage,
  updateContact, deleteContact, setContactStatuses, confirmListMember, insertList, getList, findListByName, listListsPage, updateList, deleteList, listMemberCounts, listMembersPage,
} from './repos/contacts.ts';
export type { ContactInput, UpsertedContact, ConfirmTemplate } from './repos/contacts.ts';
export { insertImportJob, recordImportBatch, finishImportJob, getImportJob, listImportRejections } from './repos/contact-imports.ts';
export type { ImportRejection } from './repos/contact-imports.ts';
export { countAudience, audiencePage, insertSegment, getSegment, listSegmentsPage, updateSegment, deleteSegment } from './repos/segments.ts';
export type { SegmentCondition, SegmentOp, SegmentValue, Audience } from './repos/segments.ts';
export {
  insertCampaign, getCampaign, getCampaignById, listCampaignsPage, updateCampaignIf, deleteCampaign, campaignWaitingMessages, runnableCampaigns, insertLedger, advanceCampaign, ledgerCounts,
  ledgerByMessage, campaignDeliveryCounts, campaignEventCounts, campaignHardBounces, pruneLedger, abVariantStats,
} from './repos/campaigns.ts';
export type { NewCampaign, LedgerEntry } from './repos/campaigns.ts';
export { insertTrackingEvent, countTrackingFor, campaignTrackingCounts, campaignClicksByUrl, campaignTrackingSeries, getLinkHost, listLinkHosts, putLinkHost, deleteLinkHost } from './repos/tracking.ts';
export type { NewTrackingEvent, TrackingCounts } from './repos/tracking.ts';
export { takeClusterLease, dropClusterLease, listClusterLeases } from './repos/cluster-leases.ts';
export type { ClusterLeaseTable } from './database.ts';
