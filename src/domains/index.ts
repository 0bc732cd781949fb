// What other stages (api, cli, delivery, server.ts) may use of sending domains.
export { domainSettingsOf, spfIpMechanism } from './domain-settings.ts';
export type { DomainSettings } from './domain-settings.ts';
export { RECORD_PURPOSES, RECORD_STATUSES, expectedRecords, spfRecordValue, dmarcRecordValue, returnPathHost } from './domain-records.ts';
export type { ExpectedRecord, RecordPurpose, RecordStatus } from './domain-records.ts';
export { DomainError, domainContextOf, createDomain, ensureDomainKeys, rotateDkim } from './domain-service.ts';
export type { DomainContext, DomainErrorCode, CreatedDomain } from './domain-service.ts';
export { verifyDomain } from './verify-domain.ts';
export type { VerifyResult, VerifyOptions } from './verify-domain.ts';
export { domainView } from './domain-view.ts';
export type { DomainView, DomainRecordView, DkimKeyView } from './domain-view.ts';
export { checkRecords, dkimMismatch } from './check-records.ts';
export type { DomainDnsResolver, RecordCheck } from './check-records.ts';
export { countSpfLookups, mergeSpf, spfMergeAdvice } from './spf-advice.ts';
export { dkimSignatureHeaders, dkimHeaderList, DkimSignError, DKIM_SIGNED_HEADERS, DKIM_OVERSIGNED_HEADERS } from './dkim-sign.ts';
export type { DkimSigningKey } from './dkim-sign.ts';
export { loadSigningKeys, clearSigningKeyCache, SIGNING_KEY_CACHE_TTL_MS } from './signing-keys.ts';
export { startDomainRecheck, recheckAllDomains } from './recheck-job.ts';
export type { DomainRecheckOptions, RecheckResult } from './recheck-job.ts';
