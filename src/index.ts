/**
 * smtpwire: an SMTP client engine on Node's own net and tls sockets, with no runtime dependency.
 * Public exports only; see README.md for the guide and the error-code table.
 */

import type { ProbeOptions, ProbeReport } from './conform/probe.js';

export type {
  ProbeAuth,
  ProbeCertificate,
  ProbeCheck,
  ProbeCheckStatus,
  ProbeChecks,
  ProbeOptions,
  ProbeReport,
  ProbeTimings,
  ProbeTls,
} from './conform/probe.js';

/**
 * Probes a server (see conform/probe.ts). Loaded on first call: importing the package root must not
 * load `node:tls` (the probe module imports it eagerly).
 */
export async function probe(options: ProbeOptions): Promise<ProbeReport> {
  const mod = await import('./conform/probe.js');
  return mod.probe(options);
}
export { DEFAULT_PORTS, SmtpDeliveryStatus, SmtpEncryption } from './enums.js';
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
  type RawEnvelope,
  type RawMessage,
  SEND_OPTION_KEYS,
  type SendMessageOptions,
  type SendRawOptions,
  SmtpProtocolHandler,
  type SmtpProtocolHandlerOptions,
} from './handler.js';
export {
  type AddressEntry,
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
} from './message/prepare.js';
export { type AddressInput, type AttachmentInput, MESSAGE_INPUT_KEYS, type MessageInput } from './message/types.js';
export {
  DEFAULT_VALIDATION_LIMITS,
  resolveLimits,
  SmtpMessageValidator,
  type ValidationLimits,
  type ValidationResult,
} from './message/validator.js';
export {
  DEFAULT_ACQUIRE_TIMEOUT,
  DEFAULT_HEALTH_CHECK_AFTER,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_MESSAGES_PER_CONNECTION,
  DEFAULT_STALE_TIMEOUT,
  type PoolableConnection,
  type PoolConnectionParams,
  type PoolKeyStats,
  type PoolStats,
  SmtpConnectionPool,
  type SmtpConnectionPoolOptions,
} from './pool/pool.js';
export { type AccessTokenProvider, AUTH_METHODS, type AuthMethod, type Credentials } from './protocol/auth.js';
export { BodyEncoder, encodeBody } from './protocol/dot-stuff.js';
export { parseEhlo, type ServerInfo } from './protocol/extensions.js';
export { formatReply, isPermanent, isPositive, isTransient, type Reply, ReplyParser } from './protocol/reply.js';
export { DeliveryResult, type DeliveryResultInit } from './result.js';
export {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  isRetryableReply,
  type RetryPolicy,
  resolveRetryPolicy,
} from './retry.js';
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
  resolveTimeouts,
  type SendMailOptions,
  SmtpConnection,
  type SmtpConnectionOptions,
  type Timeouts,
  type TransactionTimings,
  type TranscriptEntry,
} from './transport/connection.js';
