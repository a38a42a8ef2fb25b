/**
 * SmtpOutbox: the producer side. Queues messages as BullMQ jobs (JSON, nothing secret), reads their
 * results, lists and resolves UNKNOWN outcomes, and forwards the queue's events.
 */
import { EventEmitter } from 'node:events';
import { type JobsOptions, Queue, QueueEvents } from 'bullmq';
import { SmtpDeliveryStatus } from '../enums.js';
import { ErrorCodes, InvalidArgumentError, SmtpError } from '../errors.js';
import {
  assertKnownKeys,
  nonNegativeInteger,
  OUTBOX_OPTION_KEYS,
  OUTBOX_SEND_KEYS,
  OUTBOX_SEND_RAW_KEYS,
} from '../options.js';
import type { RawEnvelope, SendMessageOptions } from '../send/handler.js';
import { DEFAULT_MAX_RETRIES } from '../send/retry.js';
import {
  checkConnection,
  DEFAULT_QUEUE_NAME,
  type OpenedConnection,
  type OutboxConnection,
  openConnection,
} from './connection.js';
import { jobIdFor, messageJobData, type OutboxJobData, rawJobData } from './job-data.js';
import type { HandOverStorage } from './store.js';
import { OUTBOX_BACKOFF_TYPE, resultJson, statusOfReason } from './worker.js';

/** Options of {@link SmtpOutbox}. */
export interface SmtpOutboxOptions {
  /**
   * ioredis options (Sentinel: `sentinels` + `name`; Cluster: `{ cluster: [nodes] }`), a `redis://` URL
   * (both need the optional peer ioredis), or an ioredis `Redis` / `Cluster` or a node-redis client, Sentinel or
   * Cluster instance.
   * Or PostgreSQL (the optional peer pg): a `postgres://` URL or `{ postgres: URL | pool options }`.
   */
  connection: OutboxConnection;
  /** Default `smtpwire-outbox`. Use a `{hash tag}` (e.g. `{mail}`) on Redis Cluster. */
  queueName?: string;
  /** BullMQ key prefix; default `bull`. */
  prefix?: string;
  /**
   * BullMQ job options for every job (`attempts`, `removeOnComplete`, …). Default: 4 attempts (the
   * handler's 3 retries), the worker's backoff. Removing finished jobs also ends their idempotency.
   */
  defaultJobOptions?: JobsOptions;
}

/** Options of one `send` / `sendRaw`. */
export interface OutboxSendOptions {
  /** The job's id; default derived from the Message-ID. Submitting an id again adds nothing. */
  jobId?: string;
  /** ms before the job may run. */
  delay?: number;
  /** BullMQ priority: 1 is the highest; default none (first in, first out). */
  priority?: number;
}

/** Options of `sendRaw`. */
export interface OutboxSendRawOptions extends OutboxSendOptions {
  /** The Message-ID when the message's header has none to read. */
  messageId?: string;
}

/** What `send` takes: the `sendMessage` options that can be stored as JSON (attachments by `path` or `data`). */
export type QueueableMessage = Omit<SendMessageOptions, 'signal' | 'onBeforeHandOver' | 'retry'>;

/** A job not finished yet, or gone. */
export type OutboxJobState = 'waiting' | 'delayed' | 'prioritized' | 'active' | 'waiting-children' | 'not-found';

/** A job reported UNKNOWN and not resolved. */
export interface UnknownOutcome {
  jobId: string;
  messageId: string | null;
  since: Date;
  result: Record<string, unknown> | null;
}

/**
 * The outbox. Events (once a listener is attached): `completed` (jobId, result JSON), `failed` (jobId,
 * reason, status) for a permanent failure, `unknown` (jobId, reason) for an outcome an operator must resolve,
 * `error` for Redis trouble (emitted only when listened to; the connection recovers by itself).
 */
export class SmtpOutbox extends EventEmitter {
  readonly queueName: string;
  /** The queue and store, built as soon as the driver is loaded. */
  readonly #opened: Promise<{ queue: Queue; connection: OpenedConnection; store: HandOverStorage }>;
  /** The same, once connected: what every operation waits for. */
  readonly #ready: Promise<{ queue: Queue; connection: OpenedConnection; store: HandOverStorage }>;
  #connected = false;
  readonly #options: SmtpOutboxOptions;
  #events: Promise<{ events: QueueEvents; connection: OpenedConnection }> | null = null;
  #closing: Promise<void> | null = null;
  /** Aborted by close(): an open still waiting for its server (PostgreSQL) gives up. */
  readonly #abort = new AbortController();

  /** @throws InvalidArgumentError naming the option at fault. */
  constructor(options: SmtpOutboxOptions) {
    super();
    if (!options || typeof options !== 'object')
      throw new InvalidArgumentError('options are required', { field: 'options' });
    assertKnownKeys(options, OUTBOX_OPTION_KEYS, 'SmtpOutbox options');
    this.queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
    checkConnection(options.connection);
    this.#options = options;
    this.#opened = this.#open(options);
    this.#ready = this.#opened.then(async (opened) => {
      await opened.queue.waitUntilReady();
      this.#connected = true;
      return opened;
    });
    this.#opened.catch(() => {});
    this.#ready.catch(() => {});
    this.on('newListener', (event: string) => {
      if (event === 'completed' || event === 'failed' || event === 'unknown') this.#listen();
    });
  }

  async #open(options: SmtpOutboxOptions) {
    // The driver is loaded on first use (an optional peer), so the queue opens asynchronously.
    const connection = await openConnection(options.connection, { blocking: false, signal: this.#abort.signal });
    try {
      const queue = new Queue(
        this.queueName,
        {
          connection: connection.bullmq as never,
          ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
          defaultJobOptions: {
            attempts: DEFAULT_MAX_RETRIES + 1,
            backoff: { type: OUTBOX_BACKOFF_TYPE },
            ...options.defaultJobOptions,
          },
        },
        // Typed as BullMQ's Redis default: the methods used here are the same on every backend.
        connection.backend as undefined,
      );
      queue.on('error', (err) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
      });
      return { queue, connection, store: connection.handOver(queue) };
    } catch (err) {
      await connection.close();
      throw err;
    }
  }

  async #queue(): Promise<Queue> {
    return (await this.#ready).queue;
  }

  /**
   * Queues one message (the `sendMessage` options, JSON-safe). Resolves with the job id.
   * @throws InvalidArgumentError for what cannot be queued (a stream, a Buffer, a function, `dkim`, …).
   */
  async send(message: QueueableMessage, options: OutboxSendOptions = {}): Promise<string> {
    assertKnownKeys(options, OUTBOX_SEND_KEYS, 'SmtpOutbox.send options');
    const data = messageJobData(message);
    return this.#add(data, jobIdFor(options.jobId, data.message.messageId), options);
  }

  /**
   * Queues a prepared message (string or bytes; never a stream) for the given envelope.
   * @throws InvalidArgumentError as `send`.
   */
  async sendRaw(envelope: RawEnvelope, message: string | Uint8Array, options: OutboxSendRawOptions = {}) {
    assertKnownKeys(options, OUTBOX_SEND_RAW_KEYS, 'SmtpOutbox.sendRaw options');
    const data = rawJobData(envelope, message, options.messageId);
    return this.#add(data, jobIdFor(options.jobId, data.messageId), options);
  }

  async #add(data: OutboxJobData, jobId: string | undefined, options: OutboxSendOptions): Promise<string> {
    // options.ts's rule: the same value gets the same error here as anywhere else.
    for (const key of ['delay', 'priority'] as const)
      if (options[key] !== undefined) nonNegativeInteger(options[key], undefined, key);
    const job = await (await this.#queue()).add('send', data, {
      ...(jobId === undefined ? {} : { jobId }),
      ...(options.delay ? { delay: options.delay } : {}),
      ...(options.priority ? { priority: options.priority } : {}),
    });
    return job.id!;
  }

  /**
   * The job's DeliveryResult JSON (`result.toJSON()`: `status` says success, failed, unknown, …) once it
   * finished, else its state (`waiting`, `active`, `delayed`, … or `not-found`).
   */
  async getResult(jobId: string): Promise<Record<string, unknown> | OutboxJobState> {
    // The state first: a job read before it finished would show no return value under a later state.
    const { queue, store } = await this.#ready;
    const state = await queue.getJobState(jobId);
    if (state !== 'completed' && state !== 'failed') return state === 'unknown' ? 'not-found' : state;
    const job = await queue.getJob(jobId);
    if (!job) return 'not-found';
    if (state === 'completed') return job.returnvalue as Record<string, unknown>;
    const record = await store.read(jobId);
    if (record.result && record.state !== 'handing-over') return record.result;
    const messageId = record.messageId ?? messageIdOf(job.data);
    // Failed outside the worker's own decisions (e.g. BullMQ's stalled limit): a claim without an
    // outcome means the message may have left.
    const status = record.state === 'handing-over' ? SmtpDeliveryStatus.UNKNOWN : SmtpDeliveryStatus.FAILED;
    return resultJson(status, messageId, { smtpError: job.failedReason, retryCount: job.attemptsMade });
  }

  /**
   * Jobs whose outcome is unknown and not resolved, oldest first: those reported UNKNOWN, and those BullMQ
   * ended without the worker while their claim was open (failed for too many stalls, or removed): such a
   * claim is marked UNKNOWN here, so it stays listed until resolved.
   */
  async listUnknown(): Promise<UnknownOutcome[]> {
    const { queue, store } = await this.#ready;
    for (const { jobId } of await store.listClaims()) {
      const state = await queue.getJobState(jobId);
      if (state !== 'failed' && state !== 'unknown') continue;
      const record = await store.read(jobId);
      if (record.state !== 'handing-over' || record.token === null) continue;
      const job = state === 'failed' ? await queue.getJob(jobId) : undefined;
      const result = resultJson(SmtpDeliveryStatus.UNKNOWN, record.messageId, {
        smtpError: `the job ended (${job?.failedReason ?? 'removed'}) while its hand-over was claimed and had no outcome: the message may have been delivered`,
        retryCount: job?.attemptsMade ?? 0,
      });
      await store.abandoned(jobId, record.token, result);
    }
    const out: UnknownOutcome[] = [];
    for (const { jobId, since } of await store.listUnknown()) {
      const record = await store.read(jobId);
      out.push({ jobId, since, messageId: record.messageId, result: record.result });
    }
    return out;
  }

  /**
   * An operator's decision on an UNKNOWN job (after checking the recipient's mailbox or the server's
   * log for its Message-ID): `'resend'` forgets the hand-over and runs the job again; `'drop'` removes it
   * from the unknown list and leaves the job failed.
   */
  async resolveUnknown(jobId: string, decision: 'resend' | 'drop'): Promise<void> {
    if (decision !== 'resend' && decision !== 'drop')
      throw new InvalidArgumentError("decision must be 'resend' or 'drop'", { field: 'decision' });
    const { queue, store } = await this.#ready;
    if (!(await store.forget(jobId)))
      throw new SmtpError(`job ${jobId} is not UNKNOWN (its hand-over is in progress or settled): nothing to resolve`, {
        code: ErrorCodes.INVALID_STATE,
      });
    if (decision === 'resend') {
      const job = await queue.getJob(jobId);
      if (job && (await job.getState()) === 'failed') await job.retry('failed');
    }
  }

  /** Closes the event listener and the queue's Redis connection (queued jobs stay in Redis). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort(new Error('the outbox was closed'));
      const listening = await this.#events?.catch(() => null);
      await listening?.events.close();
      await listening?.connection.close();
      const opened = await this.#opened.catch(() => null);
      if (!opened) return;
      if (this.#connected) await opened.queue.close();
      else {
        // Never connected (Redis down, a wrong password, an untrusted certificate): BullMQ's close would wait
        // for the connection; cut it instead (nothing was queued through it). A caller's client is the caller's
        // to close, and BullMQ's disconnect settles only then: not waited for.
        await opened.connection.close();
        void opened.queue.disconnect().catch(() => {});
      }
      await opened.connection.close();
    })();
    return this.#closing;
  }

  #listen(): void {
    if (this.#events || this.#closing) return;
    this.#events = this.#ready.then(async ({ queue }) => {
      const connection = await openConnection(this.#options.connection, { blocking: true, signal: this.#abort.signal });
      const events = new QueueEvents(
        this.queueName,
        {
          connection: connection.bullmq as never,
          ...(queue.opts.prefix === undefined ? {} : { prefix: queue.opts.prefix }),
        },
        connection.backend as undefined,
      );
      this.#wire(events);
      return { events, connection };
    });
    this.#events.catch(() => {});
  }

  #wire(events: QueueEvents): void {
    events.on('error', () => {});
    events.on('completed', ({ jobId, returnvalue }) => this.emit('completed', jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => {
      const status = statusOfReason(failedReason);
      // Emitted once per job, when it is moved to failed (a retry with attempts left is not a failure).
      if (status === SmtpDeliveryStatus.UNKNOWN) this.emit('unknown', jobId, failedReason);
      else this.emit('failed', jobId, failedReason, status);
    });
  }

  /** Resolves once the queue is connected (and the event listener, when one was attached). */
  async waitUntilReady(): Promise<void> {
    await this.#ready;
    await (await this.#events)?.events.waitUntilReady();
  }
}

function messageIdOf(data: unknown): string | null {
  const d = data as { message?: { messageId?: unknown }; messageId?: unknown } | null;
  const id = d?.message?.messageId ?? d?.messageId;
  return typeof id === 'string' ? id : null;
}
