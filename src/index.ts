/**
 * smtpwire: an SMTP client engine on Node's own net and tls sockets, with no runtime dependency.
 * Public exports only; see README.md for the guide and the error-code table.
 */

export { CONFORM_CHECK_LIST, type ConformCheckInfo, conform } from './conform/conform.js';
export * from './conform/domain/index.js';
export {
  PROBE_PRESET,
  type ProbeAuth,
  type ProbeCertificate,
  type ProbeCheck,
  type ProbeCheckStatus,
  type ProbeChecks,
  type ProbeOptions,
  type ProbeReport,
  type ProbeTimings,
  type ProbeTls,
  probe,
} from './conform/probe.js';
export type { Evidence as ConformEvidence } from './conform/raw-session.js';
export { formatConformJunit, formatConformText } from './conform/report.js';
export {
  CONFORM_CHECK_IDS,
  CONFORM_GROUPS,
  type ConformCheck,
  type ConformCheckId,
  type ConformGroup,
  type ConformOptions,
  type ConformReport,
  type ConformServer,
  type ConformStatus,
  type ConformSummary,
} from './conform/types.js';
export { DEFAULT_PORTS, LMTP_PORT, SmtpDeliveryStatus, SmtpEncryption, type SmtpProtocol } from './enums.js';
export * as errors from './errors.js';
export {
  AbortError,
  AuthError,
  CapabilityError,
  ClosedError,
  ConnectionError,
  type ErrorCode,
  ErrorCodes,
  InvalidArgumentError,
  ProtocolError,
  ReplyError,
  SmtpError,
  TimeoutError,
  type TimeoutPhase,
  TlsError,
} from './errors.js';
export {
  Address,
  AddressCache,
  type AddressEntry,
  addressInputText,
  envelopeAddress,
  flattenAddresses,
  formatAddress,
  type Group,
  type Mailbox,
  needsSmtpUtf8,
  parseAddress,
  parseAddressList,
  toAsciiDomain,
} from './message/address.js';
export { type DkimAlgorithm, type DkimPrivateKeyInput, dkimDnsRecord } from './message/dkim/key.js';
export { dkimSign } from './message/dkim/message.js';
export {
  DEFAULT_SIGNED_HEADERS,
  type DkimCanonicalization,
  type DkimOptions,
  dkimRecordName,
} from './message/dkim/sign.js';
export type { DkimSpoolOptions } from './message/dkim/signed-body.js';
export { type BuildMessageOptions, type BuiltMessage, buildMessage } from './message/mime/index.js';
export {
  IN_MEMORY_LIMIT,
  type PreparedBody,
  type PreparedEnvelope,
  type PreparedMessage,
  type PrepareMessageOptions,
  prepareMessage,
  prepareRaw,
  type RawEnvelopeInput,
  type RawMessageInput,
  readMessageId,
} from './message/prepare.js';
export {
  type AddressInput,
  type AddressObject,
  type AlternativeInput,
  type AttachmentInput,
  type ContentEncoding,
  type IcalEventInput,
  type ListHeadersInput,
  type ListTarget,
  MESSAGE_INPUT_KEYS,
  type MessageInput,
  type MessagePriority,
} from './message/types.js';
export {
  DEFAULT_VALIDATION_LIMITS,
  resolveLimits,
  SmtpMessageValidator,
  type ValidationLimits,
  type ValidationResult,
} from './message/validator.js';
// Delivery to a domain (issue 26): MX, MTA-STS, DANE, REQUIRETLS, TLS-RPT.
export * from './mx/index.js';
export {
  DEFAULT_ACQUIRE_TIMEOUT,
  DEFAULT_HEALTH_CHECK_AFTER,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_MESSAGES_PER_CONNECTION,
  DEFAULT_STALE_TIMEOUT,
  type PoolableConnection,
  type PoolConnectionParams,
  PoolKey,
  type PoolKeyStats,
  type PoolStats,
  SmtpConnectionPool,
  type SmtpConnectionPoolOptions,
} from './pool/pool.js';
export {
  type AccessTokenProvider,
  AUTH_METHODS,
  type AuthMethod,
  type ChannelBinding,
  type Credentials,
} from './protocol/auth.js';
export { BodyEncoder, encodeBody, isWireBody, toWireBody, type WireBody } from './protocol/dot-stuff.js';
export { parseEhlo, type ServerInfo } from './protocol/extensions.js';
export { formatReply, isPermanent, isPositive, isTransient, type Reply, ReplyParser } from './protocol/reply.js';
export { saslprep } from './protocol/sasl/saslprep.js';
export {
  type MxTransportOptions,
  type RawEnvelope,
  type RawMessage,
  SEND_OPTION_KEYS,
  type SendMessageOptions,
  type SendRawOptions,
  SmtpProtocolHandler,
  type SmtpProtocolHandlerOptions,
} from './send/handler.js';
export { DeliveryResult, type DeliveryResultInit } from './send/result.js';
export {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isConnectionRefused,
  isRetryable,
  isRetryableReply,
  type RetryPolicy,
  resolveRetryPolicy,
} from './send/retry.js';
export {
  type ConnectionTimings,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_TIMEOUTS,
  type DsnOptions,
  type Envelope,
  type MailOutcome,
  type MessageBody,
  type OperationOptions,
  type Phase,
  type RecipientRejection,
  RFC5321_TIMEOUTS,
  resolveTimeouts,
  type SendMailOptions,
  SmtpConnection,
  type SmtpConnectionOptions,
  type Timeouts,
  type TransactionTimings,
  type TranscriptEntry,
} from './transport/connection.js';
export { CHANNEL_NAMES } from './util/channels.js';
export { escapeTerminalText } from './util/terminal-text.js';
