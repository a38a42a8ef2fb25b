/** Delivery to a domain (`transport: 'mx'`) and the policies around it: the public names. */
export { type DnsLookup, DnsResolver, type DnsResolverOptions, type DnsServer } from '../dns/client.js';
export {
  type DnsMessage,
  type DnsRecord,
  decodeMessage,
  encodeMessage,
  encodeQuery,
  RecordType,
} from '../dns/message.js';
export { DnsError } from '../errors.js';
export { type DaneRequirement, lookupTlsa, type TlsaRecord, verifyDane } from './dane.js';
export { type MxSendOptions, SmtpMxHandler, type SmtpMxHandlerOptions } from './handler.js';
export {
  MemoryStsCache,
  MtaSts,
  mxMatches,
  parseStsPolicy,
  parseStsTxt,
  type StsCache,
  type StsCacheEntry,
  type StsMode,
  type StsPolicy,
} from './mta-sts.js';
export { decideTls, type TlsPlan } from './policy.js';
export { type MxHost, type MxResolution, resolveMx } from './resolve.js';
export { type DomainOutcome, MxDeliveryResult, type RecipientOutcome, type TlsUsed } from './results.js';
export {
  buildReport,
  lookupTlsRpt,
  parseTlsRptTxt,
  postTlsRptReport,
  type ReportMeta,
  type RptResultType,
  type RptSession,
  TlsRptCollector,
} from './tls-rpt.js';
