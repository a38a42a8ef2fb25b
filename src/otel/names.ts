/**
 * The span, attribute and metric names of `smtpwire/otel` (a stable contract, listed in the README).
 * OpenTelemetry's semantic conventions have no SMTP namespace: the general attributes are theirs
 * (`server.*`, `network.protocol.name`, `tls.*`, `error.type`); the mail-specific ones live under
 * `smtp.*`; pool metrics follow the shape of `db.client.connection.*`.
 */

/**
 * Metric rows are kept per `server.address`: at most this many distinct hosts (an MX handler meets new ones
 * without end); later hosts share the row `_OTHER` (the conventions' overflow value), so memory and the
 * backend's series stay bounded. Spans always carry the real host.
 */
export const MAX_METRIC_HOSTS = 500;
export const OVERFLOW_HOST = '_OTHER';

export const SPAN = Object.freeze({
  send: 'smtp.send',
  attempt: 'smtp.attempt',
  acquire: 'smtp.pool.acquire',
  connect: 'smtp.connect',
  auth: 'smtp.auth',
  dkim: 'smtp.dkim.sign',
  /** Children of `smtp.connect`, one per step of the handshake (`smtp.connect.tcp`, …). */
  phasePrefix: 'smtp.connect.',
});

export const ATTR = Object.freeze({
  serverAddress: 'server.address',
  serverPort: 'server.port',
  protocolName: 'network.protocol.name',
  tlsVersion: 'tls.protocol.version',
  tlsResumed: 'tls.resumed',
  errorType: 'error.type',
  sendKind: 'smtp.send.kind',
  status: 'smtp.delivery.status',
  replyCode: 'smtp.reply.code',
  replyClass: 'smtp.reply.class',
  enhancedCode: 'smtp.reply.enhanced_code',
  command: 'smtp.command',
  recipients: 'smtp.recipients.count',
  messageSize: 'smtp.message.size',
  messageId: 'smtp.message.id',
  bytesSent: 'smtp.message.bytes_sent',
  via: 'smtp.transaction.via',
  stage: 'smtp.transaction.stage',
  attemptNumber: 'smtp.attempt.number',
  retryCount: 'smtp.retry.count',
  retryScheduled: 'smtp.retry.scheduled',
  retryDelay: 'smtp.retry.delay_ms',
  authMechanism: 'smtp.auth.mechanism',
  dkimSignatures: 'smtp.dkim.signatures',
  poolWaiting: 'smtp.pool.waiting',
  connectionState: 'state',
  outboxQueue: 'smtp.outbox.queue',
  outboxOutcome: 'smtp.outbox.outcome',
});

export const METRIC = Object.freeze({
  sends: 'smtp.client.sends',
  sendDuration: 'smtp.client.send.duration',
  attempts: 'smtp.client.attempts',
  retries: 'smtp.client.retries',
  bytesSent: 'smtp.client.bytes_sent',
  connectionCount: 'smtp.client.connection.count',
  pendingRequests: 'smtp.client.connection.pending_requests',
  waitTime: 'smtp.client.connection.wait_time',
  waits: 'smtp.client.connection.waits',
  connectDuration: 'smtp.client.connect.duration',
  dkimDuration: 'smtp.client.dkim.sign.duration',
  tlsHandshakes: 'smtp.client.tls.handshakes',
  tlsResumptionRatio: 'smtp.client.tls.resumption_ratio',
  outboxJobs: 'smtp.outbox.jobs',
  outboxJobDuration: 'smtp.outbox.job.duration',
  outboxIdle: 'smtp.outbox.idle_time',
});

/** `2xx`, `4xx`, `5xx`, or `none` when no reply decided it (a connection failure, an UNKNOWN). */
export function replyClass(code: number | null | undefined): string {
  return typeof code === 'number' && code >= 200 && code < 600 ? `${Math.floor(code / 100)}xx` : 'none';
}

/** `TLSv1.3` → `1.3` (the form of `tls.protocol.version`). */
export function tlsVersion(protocol: string | null | undefined): string | undefined {
  if (!protocol) return undefined;
  return protocol.startsWith('TLSv') ? protocol.slice(4) : protocol;
}
