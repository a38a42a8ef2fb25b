/**
 * smtpwire: an SMTP client engine on Node's own net and tls sockets, with no runtime dependency.
 * Public exports only; see README.md for the guide and the error-code table.
 */
export { SmtpEncryption, SmtpDeliveryStatus, DEFAULT_PORTS } from './enums.js';
export { DeliveryResult, type DeliveryResultInit } from './result.js';
export {
  SmtpProtocolHandler,
  type SmtpProtocolHandlerOptions,
  type SendMessageOptions,
  type SendRawOptions,
  type RawEnvelope,
  type RawMessage,
} from './handler.js';
export * from './pool.js';
export { SmtpMessageValidator, DEFAULT_VALIDATION_LIMITS, resolveLimits, type ValidationLimits, type ValidationResult } from './validator.js';
export {
  SmtpConnection,
  DEFAULT_TIMEOUTS,
  DEFAULT_CHUNK_SIZE,
  resolveTimeouts,
  type SmtpConnectionOptions,
  type Timeouts,
  type Phase,
  type Envelope,
  type DsnOptions,
  type MessageBody,
  type MailOutcome,
  type RecipientRejection,
  type OperationOptions,
  type SendMailOptions,
  type TranscriptEntry,
  type ConnectionTimings,
} from './connection.js';
export { buildMessage, type BuildMessageOptions, type BuiltMessage } from './mime/index.js';
export {
  parseAddress,
  parseAddressList,
  formatAddress,
  flattenAddresses,
  envelopeAddress,
  needsSmtpUtf8,
  toAsciiDomain,
  type Mailbox,
  type Group,
  type AddressEntry,
} from './address.js';
export type { AttachmentInput, MessageInput, AddressInput } from './message-types.js';
export { type AuthMethod, type Credentials, type AccessTokenProvider, AUTH_METHODS } from './auth.js';
export { type Reply, ReplyParser, formatReply, isPositive, isTransient, isPermanent } from './reply.js';
export { type ServerInfo, parseEhlo } from './extensions.js';
export { BodyEncoder, encodeBody } from './dot-stuff.js';
export { DEFAULT_RETRY_POLICY, isRetryable, isRetryableReply, backoffDelay, resolveRetryPolicy, type RetryPolicy } from './retry.js';
export {
  SmtpError,
  ReplyError,
  ProtocolError,
  ConnectionError,
  TimeoutError,
  TlsError,
  AuthError,
  CapabilityError,
  InvalidArgumentError,
  ClosedError,
  AbortError,
  ErrorCodes,
  type ErrorCode,
  type TimeoutPhase,
} from './errors.js';
export {
  probe,
  type ProbeOptions,
  type ProbeChecks,
  type ProbeReport,
  type ProbeCheck,
  type ProbeCheckStatus,
  type ProbeCertificate,
  type ProbeTls,
  type ProbeAuth,
  type ProbeTimings,
} from './probe.js';
export * as errors from './errors.js';
