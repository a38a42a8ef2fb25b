/**
 * `smtpwire/outbox`: a durable outbox on BullMQ + Redis (bullmq is an optional peer dependency; nothing
 * else in smtpwire imports it). Producers call `SmtpOutbox.send`; `SmtpOutboxWorker` processes (or the
 * CLI, `smtpwire outbox-worker`) send through an SmtpProtocolHandler. See README "Outbox".
 */

export type { OutboxConnection } from './connection.js';
export { bullmqConnection, DEFAULT_QUEUE_NAME } from './connection.js';
export { OUTBOX_JOB_CHANNEL, type OutboxJobMessage, type OutboxJobOutcome } from './diagnostics.js';
export {
  type OutboxJobState,
  type OutboxSendOptions,
  type OutboxSendRawOptions,
  type QueueableMessage,
  SmtpOutbox,
  type SmtpOutboxOptions,
  type UnknownOutcome,
} from './outbox.js';
export { SmtpOutboxWorker, type SmtpOutboxWorkerOptions } from './worker.js';
