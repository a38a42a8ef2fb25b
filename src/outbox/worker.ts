/**
 * SmtpOutboxWorker: takes outbox jobs from the BullMQ queue and sends them through one
 * SmtpProtocolHandler (its pool, its credentials), one SMTP attempt per job attempt.
 *
 * The hand-over protocol (why a crash never causes a silent duplicate):
 * 1. A run after a stall (the worker died, or lost its lock and BullMQ's stalled check gave the job to
 *    another) reads the job's hand-over record first: `delivered` → complete with the recorded result;
 *    `handing-over` (a run stopped between its claim and its outcome) or `unknown` → UNKNOWN; nothing sent.
 * 2. Just before the final dot, `onBeforeHandOver` claims the hand-over in Redis or PostgreSQL (atomic;
 *    refused while another run holds it, after a delivery, or while UNKNOWN: the same decisions as 1, so a
 *    first run skips the read); only then does the dot leave.
 * 3. After the reply, the outcome is recorded; then BullMQ completes or fails the job.
 * A crash between 2 and 3 leaves `handing-over`: the re-run reports UNKNOWN, whether or not the dot
 * left. A false UNKNOWN is possible; a resend of a message that may have been delivered is not.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { realpathSync } from 'node:fs';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { SmtpDeliveryStatus } from '../enums.js';
import { ErrorCodes, InvalidArgumentError } from '../errors.js';
import {
  assertKnownKeys,
  checkLimiter,
  nonNegativeInteger,
  OUTBOX_WORKER_OPTION_KEYS,
  positiveInteger,
} from '../options.js';
import type { DeliveryProgress } from '../send/delivery.js';
import { type SendMessageOptions, SmtpProtocolHandler, type SmtpProtocolHandlerOptions } from '../send/handler.js';
import { DeliveryResult } from '../send/result.js';
import { backoffDelay } from '../send/retry.js';
import { openJobFiles } from './attachment-files.js';
import { claimReplicated, nameConnection } from './claim-replicas.js';
import {
  checkConnection,
  DEFAULT_QUEUE_NAME,
  type OpenedConnection,
  type OutboxConnection,
  openConnection,
} from './connection.js';
import { type OutboxJobOutcome, publishJob } from './diagnostics.js';
import { type QueuedMessage, readJobData } from './job-data.js';
import type { HandOverRecord, HandOverStorage, HandOverStore } from './store.js';

/** Options of {@link SmtpOutboxWorker}. */
export interface SmtpOutboxWorkerOptions {
  /**
   * ioredis options (Sentinel: `sentinels` + `name`; Cluster: `{ cluster: [nodes] }`), a `redis://` URL
   * (both need the optional peer ioredis), or an ioredis `Redis` / `Cluster` or a node-redis client, Sentinel or
   * Cluster instance.
   * Or PostgreSQL (the optional peer pg): a `postgres://` URL or `{ postgres: URL | pool options }`.
   * BullMQ needs `maxRetriesPerRequest: null` on a worker's connection: it is set on what this worker opens,
   * and an ioredis instance without it is duplicated with it (the caller's instance stays untouched).
   */
  connection: OutboxConnection;
  /** Default `smtpwire-outbox`. Use a `{hash tag}` (e.g. `{mail}`) on Redis Cluster. */
  queueName?: string;
  /** BullMQ key prefix; default `bull`. */
  prefix?: string;
  /** The handler every job is sent through: server, credentials, TLS, pool, retryPolicy (delays, codes). */
  handler: SmtpProtocolHandlerOptions;
  /** Jobs in flight in this worker; default 10 (also the handler's default poolSize). */
  concurrency?: number;
  /** BullMQ's global rate limit, shared by every worker of the queue: at most `max` jobs per `duration` ms. */
  limiter?: { max: number; duration: number };
  /** BullMQ job lock in ms (renewed every half); a worker silent this long is presumed dead. Default 30,000. */
  lockDuration?: number;
  /** How often BullMQ looks for jobs of dead workers, in ms. Default 30,000. */
  stalledInterval?: number;
  /**
   * Re-runs of a stalled job before BullMQ fails it. Default 10: a re-run is safe here (it reports UNKNOWN
   * instead of resending), so a crash loop should not fail a job whose message was never handed over.
   */
  maxStalledCount?: number;
  /**
   * The directory attachments given by `path` in job data must lie under (checked after resolving links).
   * Job data is untrusted input to a worker that holds credentials: without this option a job naming a
   * local file (`/proc/self/environ`, a key file) is refused as INVALID instead of mailed out.
   */
  attachmentRoot?: string;
  /**
   * Replicas that must have each hand-over claim (Redis `WAIT`, at most 1 s) before its final dot is written;
   * default 0. With Sentinel or a Cluster, set it to 1 (and run 2 replicas, so one is left after a failover): a
   * replica promoted after the primary crashed then holds every claim whose dot may have left, so no job is sent
   * a second time. Short of it the claim is released and the job retried. On a Cluster the `WAIT` goes to the
   * primary serving the queue's slot.
   */
  claimReplicas?: number;
}

/** How long a claim waits for its replicas (`claimReplicas`) before the hand-over is refused. */
const CLAIM_WAIT_MS = 1000;

/** How long `close()` lets Redis be unreachable before it stops waiting for it. */
const REDIS_DOWN_GRACE_MS = 5000;
const REDIS_WATCH_MS = 500;

const EMPTY_RECORD: HandOverRecord = Object.freeze({
  state: null,
  token: null,
  messageId: null,
  attempt: null,
  at: null,
  result: null,
});

/** The backoff type outbox jobs carry; the worker computes it from its handler's retryPolicy. */
export const OUTBOX_BACKOFF_TYPE = 'smtpwire';

/** The status a failed job's reason starts with, e.g. `unknown: connection closed after the final dot`. */
export function failedReason(result: Record<string, unknown>): string {
  return `${String(result.status)}: ${String(result.smtp_error ?? '')}`.trimEnd();
}

/** The status of a `failedReason`, or null for a reason this module did not write (e.g. BullMQ's stall limit). */
export function statusOfReason(reason: string | undefined): string | null {
  const m = /^([a-z_]+):/.exec(reason ?? '');
  return m && (Object.values(SmtpDeliveryStatus) as string[]).includes(m[1]!) ? m[1]! : null;
}

/**
 * Sends outbox jobs. Start it, keep it running; `close()` on SIGTERM. Emits `error` for Redis trouble
 * (it reconnects by itself) only when someone listens: an unheard error never crashes a worker.
 */
export class SmtpOutboxWorker extends EventEmitter {
  readonly queueName: string;
  readonly #ready: Promise<{ worker: Worker; connection: OpenedConnection; store: HandOverStorage }>;
  readonly #handler: SmtpProtocolHandler;
  /** Resolves with the store once open; `#process` runs only after that. */
  readonly #store: Promise<HandOverStorage>;
  readonly #attachmentRoot: string | null;
  #closing: Promise<void> | null = null;
  /** Aborted by close(): an open still waiting for its server (PostgreSQL) gives up. */
  readonly #abort = new AbortController();
  #counter: Queue | null = null;
  readonly #claimReplicas: number;

  /** @throws InvalidArgumentError naming the option at fault (handler options included). */
  constructor(options: SmtpOutboxWorkerOptions) {
    super();
    if (!options || typeof options !== 'object')
      throw new InvalidArgumentError('options are required', { field: 'options' });
    assertKnownKeys(options, OUTBOX_WORKER_OPTION_KEYS, 'SmtpOutboxWorker options');
    // options.ts's rules: the same value gets the same error here as anywhere else.
    const concurrency = positiveInteger(options.concurrency, 10, 'concurrency');
    const lockDuration =
      options.lockDuration === undefined ? undefined : positiveInteger(options.lockDuration, undefined, 'lockDuration');
    const stalledInterval =
      options.stalledInterval === undefined
        ? undefined
        : positiveInteger(options.stalledInterval, undefined, 'stalledInterval');
    const maxStalledCount = nonNegativeInteger(options.maxStalledCount, 10, 'maxStalledCount');
    const limiter = checkLimiter(options.limiter);
    const claimReplicas = nonNegativeInteger(options.claimReplicas, 0, 'claimReplicas');
    this.#claimReplicas = claimReplicas;
    if (!options.handler || typeof options.handler !== 'object')
      throw new InvalidArgumentError('handler options are required (the SMTP server to send through)', {
        field: 'handler',
      });
    if (
      options.attachmentRoot !== undefined &&
      (typeof options.attachmentRoot !== 'string' || options.attachmentRoot === '')
    )
      throw new InvalidArgumentError('attachmentRoot must be a directory path', { field: 'attachmentRoot' });
    this.#attachmentRoot = options.attachmentRoot === undefined ? null : attachmentRootPath(options.attachmentRoot);
    this.#handler = new SmtpProtocolHandler({ poolSize: concurrency, ...options.handler });
    // The handler resolved the policy (and refused a bad one): its backoff is the jobs' backoff.
    const policy = this.#handler.retryPolicy;
    const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
    this.queueName = queueName;
    checkConnection(options.connection);
    const workerOptions = {
      concurrency,
      maxStalledCount,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(lockDuration === undefined ? {} : { lockDuration }),
      ...(stalledInterval === undefined ? {} : { stalledInterval }),
      ...(limiter === undefined ? {} : { limiter: { max: limiter.max, duration: limiter.duration } }),
      settings: {
        // Retry n waits the handler policy's n-th delay (1 s, 5 s, 30 s by default, jittered).
        backoffStrategy: (attemptsMade: number) => backoffDelay(Math.max(0, attemptsMade - 1), policy),
      },
    };
    this.#ready = (async () => {
      // The driver is loaded on first use (an optional peer), so the worker starts asynchronously.
      const connection = await openConnection(options.connection, { blocking: true, signal: this.#abort.signal });
      if (claimReplicas > 0 && !connection.command) {
        await connection.close();
        throw new InvalidArgumentError('claimReplicas needs a Redis connection (it sends WAIT)', {
          field: 'claimReplicas',
        });
      }
      // Typed as BullMQ's Redis default: the methods used here are the same on every backend.
      const worker = new Worker(
        queueName,
        (job) => this.#run(job),
        { connection: connection.bullmq as never, ...workerOptions },
        connection.backend as undefined,
      );
      worker.on('error', (err) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
      });
      const store = connection.handOver(worker);
      return { worker, connection, store };
    })();
    this.#store = this.#ready.then(async ({ worker, store }) => {
      await worker.waitUntilReady();
      return store;
    });
    this.#store.catch(() => {});
  }

  /**
   * The queue's job counts (`waiting`, `active`, `delayed`, `prioritized`, `completed`, `failed`), all workers
   * together: for progress lines and health checks.
   */
  async counts(): Promise<Record<string, number>> {
    const { worker, connection } = await this.#ready;
    this.#counter ??= new Queue(
      this.queueName,
      {
        connection: connection.bullmq as never,
        ...(worker.opts.prefix === undefined ? {} : { prefix: worker.opts.prefix }),
      },
      connection.backend as undefined,
    );
    return this.#counter.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  }

  /** Resolves once connected to Redis and taking jobs. */
  async waitUntilReady(): Promise<void> {
    await this.#store;
  }

  /**
   * Graceful: takes no new job, finishes the jobs in flight, closes the handler's pool and Redis. With Redis
   * unreachable for {@link REDIS_DOWN_GRACE_MS}, BullMQ's close would wait for a command queued until Redis
   * returns: the connections are cut instead (jobs in flight are re-run after their lock expires, which the
   * hand-over records keep safe).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort(new Error('the worker was closed'));
      const opened = await this.#ready.catch(() => null);
      if (opened) {
        const { worker, connection } = opened;
        // Redis only: a PostgreSQL pool fails its queries while the server is down instead of queueing them.
        const client = connection.store as { status?: string } | null;
        let down = 0;
        const watch = setInterval(() => {
          if (!client) return;
          down = client.status === 'ready' || client.status === 'connect' ? 0 : down + 1;
          if (down * REDIS_WATCH_MS >= REDIS_DOWN_GRACE_MS) void worker.disconnect().catch(() => {});
        }, REDIS_WATCH_MS);
        try {
          await worker.close();
        } finally {
          clearInterval(watch);
        }
      }
      await this.#counter?.close();
      await this.#handler.close();
      await opened?.connection.close();
    })();
    return this.#closing;
  }

  /** One attempt, published on the `smtpwire:outbox:job` channel when it ends. */
  async #run(job: Job): Promise<Record<string, unknown>> {
    const started = performance.now();
    let error: unknown;
    try {
      return await this.#process(job);
    } catch (err) {
      error = err;
      throw err;
    } finally {
      publishJob(() => ({
        queue: this.queueName,
        jobId: job.id!,
        ...attemptOutcome(error, job.attemptsMade + 1 >= (job.opts.attempts ?? 1)),
        durationMs: performance.now() - started,
      }));
    }
  }

  async #process(job: Job): Promise<Record<string, unknown>> {
    const store = await this.#store;
    const jobId = job.id!;
    const data = readJobData(job.data);
    const messageId = data.kind === 'message' ? data.message.messageId : data.messageId;
    const token = randomUUID();
    // A run after a stall (its worker died or lost its lock) reads the record first, so an in-doubt job costs
    // no SMTP traffic. Any other run skips the round trip: the claim before the dot refuses it just the same.
    const stalled = job.stalledCounter > 0 || job.attemptsStarted > job.attemptsMade + 1;
    let before = stalled ? await store.read(jobId) : EMPTY_RECORD;
    if (before.state === 'delivered' && before.result) return before.result;
    if (before.state === 'handing-over' || before.state === 'unknown') {
      const result = resultJson(SmtpDeliveryStatus.UNKNOWN, messageId ?? before.messageId, {
        smtpError:
          before.state === 'unknown'
            ? 'reported UNKNOWN before; resolve it (resolveUnknown) to send again'
            : `a run of attempt ${before.attempt} stopped after claiming the hand-over and before recording its outcome (worker crash or lost lock): the message may have been delivered; not resent`,
        retryCount: job.attemptsMade,
      });
      // A claim released meanwhile (its run was alive after all) handed nothing over: this run sends.
      before = await this.#markAbandoned(store, jobId, before, result);
      if (before.state === 'delivered' && before.result) return before.result;
      if (before.state === 'handing-over' || before.state === 'unknown')
        throw new UnrecoverableError(failedReason(result));
    }
    if (data.kind === 'invalid') {
      const result = resultJson(SmtpDeliveryStatus.INVALID, messageId, { smtpError: data.reason });
      await store.record(jobId, token, 'not-delivered', result);
      throw new UnrecoverableError(failedReason(result));
    }
    // Files named by path are opened now, by handle, and read from those handles (attachment-files.ts).
    const files = data.kind === 'message' ? await openJobFiles(data.message, this.#attachmentRoot) : null;
    if (files && !files.ok) {
      const result = resultJson(SmtpDeliveryStatus.INVALID, messageId, { smtpError: files.reason });
      await store.record(jobId, token, 'not-delivered', result);
      throw new UnrecoverableError(failedReason(result));
    }
    try {
      return await this.#send(job, store, token, data, files?.message ?? null, messageId);
    } finally {
      await files?.close();
    }
  }

  async #send(
    job: Job,
    store: HandOverStorage,
    token: string,
    data: Exclude<ReturnType<typeof readJobData>, { kind: 'invalid' }>,
    message: QueuedMessage | null,
    messageId: string | null,
  ): Promise<Record<string, unknown>> {
    const jobId = job.id!;
    let refused = false;
    let claimed = false;
    const onBeforeHandOver = async (): Promise<void> => {
      const replicated = this.#claimReplicas > 0 ? await this.#replicatedClaim(store, jobId) : null;
      if (!(await store.claim(jobId, token, messageId, job.attemptsMade + 1))) {
        refused = true;
        throw new Error('another run of this job is handing its message over');
      }
      claimed = true;
      if (replicated) await replicated();
    };
    // An earlier attempt of this job delivered to some recipients: this one goes to the rest alone (#settle).
    const progress = (job.data as { resume?: DeliveryProgress } | null)?.resume;
    const resume = progress === undefined ? {} : { resume: progress };
    let delivery: DeliveryResult;
    try {
      delivery =
        data.kind === 'message'
          ? await this.#handler.sendMessage({
              ...(message as unknown as SendMessageOptions),
              retry: false,
              onBeforeHandOver,
              ...resume,
            })
          : await this.#handler.sendRaw(data.envelope, data.raw, {
              retry: false,
              onBeforeHandOver,
              ...(data.messageId === null ? {} : { messageId: data.messageId }),
              ...resume,
            });
    } catch (err) {
      // The handler answers every delivery outcome; a throw here is job data it could not even read. Past the
      // claim the dot may have left: the claim stays open (the next run reports UNKNOWN), never 'not-delivered'.
      if (claimed || !(err instanceof TypeError || err instanceof InvalidArgumentError)) throw err;
      const result = resultJson(SmtpDeliveryStatus.INVALID, messageId, { smtpError: (err as Error).message });
      await store.record(jobId, token, 'not-delivered', result);
      throw new UnrecoverableError(failedReason(result));
    }
    if (refused) {
      // Another run holds the claim (it lost its lock, or died after claiming): this one sent nothing. If
      // that run is alive, its recorded outcome will overwrite this UNKNOWN.
      const result = resultJson(SmtpDeliveryStatus.UNKNOWN, messageId, {
        smtpError: 'another run of this job claimed the hand-over (a lost lock or a crash): it may have been delivered',
        retryCount: job.attemptsMade,
      });
      const current = await this.#markAbandoned(store, jobId, await store.read(jobId), result);
      // The other run (which lost its lock) finished meanwhile: its delivery is this job's outcome.
      if (current.state === 'delivered' && current.result) return current.result;
      if (current.state === 'unknown' && current.result) throw new UnrecoverableError(failedReason(current.result));
      // The claim was freed meanwhile (the other run recorded 'not-delivered'): nothing was handed over by
      // anyone, so this is an ordinary retry, not an UNKNOWN.
      if (current.state === 'not-delivered' || current.state === null)
        throw new Error('retry: another run of this job held the hand-over claim and released it undelivered');
      throw new UnrecoverableError(failedReason(result));
    }
    if (delivery.error?.code === ErrorCodes.HANDOVER_REFUSED) {
      // No dot left. The claim may be in Redis all the same (a WAIT short of replicas, a claim whose reply was
      // lost): free it, or the next attempt would find it held and report UNKNOWN for a message never sent.
      const why = delivery.error.message;
      const result = resultJson(SmtpDeliveryStatus.RETRY, messageId, { smtpError: why });
      await store.record(jobId, token, 'not-delivered', result).catch(() => {});
      throw new Error(`retry: could not record the hand-over in Redis: ${why}`);
    }
    return this.#settle(job, store, token, delivery);
  }

  /**
   * For `claimReplicas`, before the claim: names the claim's connection, and gives what to await after the
   * claim: WAIT until `claimReplicas` replicas have it, answered on that same connection; a replica promoted
   * after the primary's crash then knows it. Short of that, the hand-over is refused: `#send` releases the
   * claim and the queue retries the job.
   */
  async #replicatedClaim(store: HandOverStorage, jobId: string): Promise<() => Promise<void>> {
    const { connection } = await this.#ready;
    // `command` is there on Redis connections only (checked at start), whose store is HandOverStore.
    const command = connection.command!;
    const key = (store as HandOverStore).recordKey(jobId);
    const before = await nameConnection(command, key);
    return () => claimReplicated(command, key, this.#claimReplicas, CLAIM_WAIT_MS, before);
  }

  /**
   * Marks `record`'s open claim UNKNOWN (listed for an operator) and gives the record to decide on: the one
   * marked, or, when the claim changed meanwhile (its run was alive after all, a lost lock, and recorded an
   * outcome or released it), the record as it is now.
   */
  async #markAbandoned(
    store: HandOverStorage,
    jobId: string,
    record: HandOverRecord,
    result: Record<string, unknown>,
  ): Promise<HandOverRecord> {
    if (record.state !== 'handing-over' || record.token === null) return record;
    return (await store.abandoned(jobId, record.token, result)) ? record : store.read(jobId);
  }

  /**
   * What a job attempt's result means for the job (the result itself is `send/decide.ts`'s). "Delivered" is
   * the result's `deliveredRecipients` (a 2xx to the dot, or an LMTP recipient's own 2xx), never an RCPT
   * acceptance: a 451 at the dot, a 451 at DATA or a connection lost before the dot delivered nothing, and the
   * job is retried like any temporary failure. Recipients refused temporarily while others got the message
   * (`pendingRecipients`) get a follow-up job attempt of their own.
   */
  async #settle(
    job: Job,
    store: HandOverStorage,
    token: string,
    delivery: DeliveryResult,
  ): Promise<Record<string, unknown>> {
    const jobId = job.id!;
    // The job's attempts, not the handler's (it runs one attempt per job attempt).
    const json = { ...delivery.toJSON(), retry_count: job.attemptsMade };
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const pending = delivery.pendingRecipients;
    const settledSome = delivery.deliveredRecipients.length > 0 || Object.keys(delivery.recipientFailures).length > 0;
    if (delivery.status !== SmtpDeliveryStatus.UNKNOWN && pending.length > 0 && settledSome && !last) {
      // Some recipients are settled (delivered, or refused for good), others may still get it: the next job
      // attempt goes to those alone. The progress is in the job data before the record frees the claim, so no
      // later run (a retry, or a re-run after a crash) sends to the whole envelope again.
      const open = new Set(pending);
      const failures: Record<string, string> = {};
      for (const [rcpt, reply] of Object.entries(delivery.recipientFailures))
        if (!open.has(rcpt)) failures[rcpt] = reply;
      const resume = { delivered: delivery.deliveredRecipients, failures, pending };
      await job.updateData({ ...(job.data as Record<string, unknown>), resume });
      const result = { ...json, status: SmtpDeliveryStatus.RETRY };
      await store.record(jobId, token, 'not-delivered', result);
      throw new Error(failedReason(result));
    }
    switch (delivery.status) {
      case SmtpDeliveryStatus.SUCCESS:
        // Out of attempts, recipients still pending are named in the result (recipient_failures,
        // pending_recipients): the job completes, as the message was delivered.
        await store.record(jobId, token, 'delivered', json);
        return json;
      case SmtpDeliveryStatus.RETRY:
      case SmtpDeliveryStatus.TEMP_FAILED: {
        // Nothing delivered (decide.ts: a delivery makes the result SUCCESS): BullMQ retries it with the backoff
        // while attempts remain.
        const result = { ...json, status: last ? SmtpDeliveryStatus.TEMP_FAILED : SmtpDeliveryStatus.RETRY };
        await store.record(jobId, token, 'not-delivered', result);
        throw new Error(failedReason(result));
      }
      case SmtpDeliveryStatus.UNKNOWN:
        await store.record(jobId, token, 'unknown', json);
        throw new UnrecoverableError(failedReason(json));
      default:
        // Nothing delivered: decide.ts makes a send that delivered to anyone (earlier follow-ups included) SUCCESS.
        await store.record(jobId, token, 'not-delivered', json);
        throw new UnrecoverableError(failedReason(json));
    }
  }
}

/** The root's real path (files are checked against it); a root that cannot be resolved is the caller's error. */
function attachmentRootPath(root: string): string {
  try {
    return realpathSync(root);
  } catch (err) {
    throw new InvalidArgumentError(`attachmentRoot ${JSON.stringify(root)}: ${(err as Error).message}`, {
      field: 'attachmentRoot',
      cause: err,
    });
  }
}

/**
 * How an attempt ended, from what the processor returned or threw: a return is a delivery; a throw is UNKNOWN
 * when its reason says so, a failure when BullMQ will not run the job again, else a retry.
 */
export function attemptOutcome(
  error: unknown,
  lastAttempt: boolean,
): { outcome: OutboxJobOutcome; status: string | null } {
  if (error === undefined) return { outcome: 'delivered', status: SmtpDeliveryStatus.SUCCESS };
  const status = statusOfReason((error as Error)?.message);
  if (status === SmtpDeliveryStatus.UNKNOWN) return { outcome: 'unknown', status };
  if (error instanceof UnrecoverableError || lastAttempt) return { outcome: 'failed', status };
  return { outcome: 'retry', status };
}

/** A DeliveryResult JSON for an outcome the worker decides itself (no SMTP exchange). */
export function resultJson(
  status: SmtpDeliveryStatus,
  messageId: string | null,
  extra: { smtpError?: string; retryCount?: number } = {},
): Record<string, unknown> {
  return new DeliveryResult({
    status,
    messageId,
    smtpError: extra.smtpError ?? null,
    retryCount: extra.retryCount ?? 0,
  }).toJSON();
}
