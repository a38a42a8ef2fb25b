/**
 * Every `node:diagnostics_channel` channel smtpwire publishes, in one place (names and payloads are a
 * stable contract, listed in the README's "Observability" table). Modelled on undici's
 * `undici:request:*` channels: one object identity per thing observed (a connection, a tracing
 * context) across its events, so a subscriber correlates without ids.
 *
 * Zero cost without subscribers: every call site is `if (ch.x.hasSubscribers) ch.x.publish({ … })`
 * (or the `hasSubscribers ? tracePromise(…) : fn()` form), so no payload, closure or context object
 * is built when nobody listens. `bench/channels.ts` measures it.
 *
 * Tracing channels (`diagnostics_channel.tracingChannel`, Node 20) wrap the stages that are an
 * async function call: a send, an attempt, a pool acquire, a connect, an AUTH. Their subscribers
 * get `start`, `end`, `asyncStart`, `asyncEnd` and `error` with one context object per call
 * (`context.result` / `context.error` once settled), and may `bindStore` an AsyncLocalStorage so
 * that everything published inside the call (pool waits, connection phases, transaction replies)
 * is found under it; `smtpwire/otel` builds its span tree that way.
 */
import diagnostics from 'node:diagnostics_channel';

/** The channel names (stable). Tracing channels publish on `tracing:<name>:start|end|asyncStart|asyncEnd|error`. */
export const CHANNEL_NAMES = Object.freeze({
  send: 'smtpwire:send',
  sendPrepared: 'smtpwire:send:prepared',
  attempt: 'smtpwire:attempt',
  attemptRetry: 'smtpwire:attempt:retry',
  poolAcquire: 'smtpwire:pool:acquire',
  poolWait: 'smtpwire:pool:wait',
  poolRelease: 'smtpwire:pool:release',
  connect: 'smtpwire:connection:connect',
  auth: 'smtpwire:connection:auth',
  connected: 'smtpwire:connection:connected',
  closed: 'smtpwire:connection:closed',
  transcript: 'smtpwire:transcript',
  reply: 'smtpwire:transaction:reply',
  transactionEnd: 'smtpwire:transaction:end',
  outboxJob: 'smtpwire:outbox:job',
  conformCheck: 'smtpwire:conform:check',
  dkimSign: 'smtpwire:dkim:sign',
} as const);

export const channels = {
  /** Tracing. Context `{ kind: 'message' | 'raw', host, port }`; `result`: the DeliveryResult. */
  send: diagnostics.tracingChannel(CHANNEL_NAMES.send),
  /** `{ messageId, recipients, size }` once the message is prepared (inside the send). */
  sendPrepared: diagnostics.channel(CHANNEL_NAMES.sendPrepared),
  /** Tracing. Context `{ host, attempt, messageId }` (attempt from 0); `result`: the attempt's DeliveryResult or null. */
  attempt: diagnostics.tracingChannel(CHANNEL_NAMES.attempt),
  /** Tracing. Context `{ host, signatures }` around DKIM signing (once per send, before the attempts). */
  dkimSign: diagnostics.tracingChannel(CHANNEL_NAMES.dkimSign),
  /** `{ host, attempt, delayMs, messageId, previous }`: the retry decision, published before the backoff wait. */
  attemptRetry: diagnostics.channel(CHANNEL_NAMES.attemptRetry),
  /** Tracing. Context `{ host, port }`; `result`: the connection handed out. */
  poolAcquire: diagnostics.tracingChannel(CHANNEL_NAMES.poolAcquire),
  /** `{ host, port, label, waiting }`: a checkout found every slot of its key taken and waits for one. */
  poolWait: diagnostics.channel(CHANNEL_NAMES.poolWait),
  /** `{ connection, parked }`: a connection given back (parked for reuse, or closing/destroyed). */
  poolRelease: diagnostics.channel(CHANNEL_NAMES.poolRelease),
  /** Tracing. Context `{ connection, host, port }` around `connect()` (TCP, TLS, greeting, EHLO, STARTTLS). */
  connect: diagnostics.tracingChannel(CHANNEL_NAMES.connect),
  /** Tracing. Context `{ connection, host, port, method }` around AUTH (`method`: the one asked for, or null). */
  auth: diagnostics.tracingChannel(CHANNEL_NAMES.auth),
  /** `{ host, port, secure, connection }`: greeted, EHLO said, TLS up when asked. */
  connected: diagnostics.channel(CHANNEL_NAMES.connected),
  /** `{ host, port, error, connection }`: the connection ended (error: why; ClosedError after QUIT). */
  closed: diagnostics.channel(CHANNEL_NAMES.closed),
  /** `{ host, port, direction, line }`: one protocol line, secrets redacted. */
  transcript: diagnostics.channel(CHANNEL_NAMES.transcript),
  /** `{ host, command, reply, recipient? }`: the reply to MAIL, RCPT, DATA or the final dot / BDAT LAST. */
  reply: diagnostics.channel(CHANNEL_NAMES.reply),
  /**
   * `{ host, outcome, error, handedOverAt }`: a transaction ended with a MailOutcome or an error;
   * `handedOverAt` is the `performance.now()` of the hand-over (0 when the message was not handed over).
   */
  transactionEnd: diagnostics.channel(CHANNEL_NAMES.transactionEnd),
  /** Published by `smtpwire/outbox`: `{ queue, jobId, outcome, status, durationMs }` per job attempt end. */
  outboxJob: diagnostics.channel(CHANNEL_NAMES.outboxJob),
  /**
   * `{ phase: 'start', host, port, id, group, index, total }` before a conform check runs, and
   * `{ phase: 'end', host, port, id, group, index, total, status, durationMs }` after (skipped ones too).
   */
  conformCheck: diagnostics.channel(CHANNEL_NAMES.conformCheck),
};
