/**
 * The attempt loop behind SmtpProtocolHandler.sendMessage / sendRaw: DKIM signing once before the
 * attempts, then attempts on pooled connections with backoff, retrying only what is safe to retry
 * (RFC 5321 §4.2.1, §4.5.4.1): transient replies and connection failures before the hand-over.
 * Once the final dot (or BDAT LAST) is written and the connection dies before the reply, the result
 * is UNKNOWN and nothing is resent. LMTP: a retry goes only to the recipients still open.
 * Replies and errors become results in `delivery-results.ts`.
 */
import { fromError, fromOutcome, invalid, resultFields } from './delivery-results.js';
import { SmtpDeliveryStatus } from './enums.js';
import { ErrorCodes, InvalidArgumentError, SmtpError, toSmtpError } from './errors.js';
import { type DkimOptions, type DkimSigner, dkimSignersFor } from './message/dkim/sign.js';
import { type DkimSpoolOptions, type SignSource, signMessage } from './message/dkim/signed-body.js';
import type { PreparedMessage } from './message/prepare.js';
import type { PoolConnectionParams, SmtpConnectionPool } from './pool/pool.js';
import { DeliveryResult } from './result.js';
import { backoffDelay, isConnectionRefused, type RetryPolicy, sleep } from './retry.js';
import type { SmtpConnection } from './transport/connection.js';

/** One message on its way: the prepared message and the send options, plus LMTP state across attempts. */
export interface Job {
  prepared: PreparedMessage;
  retry: boolean;
  signal: AbortSignal | undefined;
  beforeHandOver: (() => void | Promise<void>) | undefined;
  /**
   * LMTP: what earlier attempts settled per recipient. A retry after a transient per-recipient
   * failure sends only to the recipients still open (`envelope.to` is narrowed), never again to
   * those already delivered.
   */
  settled?: { delivered: string[]; failures: Record<string, string> };
  /** LMTP: the recipients a retry goes to (all of the envelope's when absent). */
  openRecipients?: readonly string[];
}

/**
 * Where an earlier send of the same message stopped (the `resume` send option): who has it, who refused it for
 * good, and who may still get it. The next send goes to `pending` alone, and its result names all three.
 */
export interface DeliveryProgress {
  delivered: readonly string[];
  failures: Readonly<Record<string, string>>;
  pending: readonly string[];
}

/**
 * Narrows a job to the `pending` recipients of an earlier send (each must be one of the envelope's, matched
 * case-insensitively) and carries what that send settled into this one's result.
 * @throws InvalidArgumentError for a progress that is not one this message can go on from.
 */
export function resumeJob(job: Job, progress: unknown): void {
  const p = progress as Partial<DeliveryProgress> | null;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (
    !p ||
    typeof p !== 'object' ||
    !strings(p.delivered) ||
    !strings(p.pending) ||
    p.pending.length === 0 ||
    !p.failures ||
    typeof p.failures !== 'object' ||
    !strings(Object.values(p.failures))
  )
    throw new InvalidArgumentError(
      'resume must be { delivered: string[], failures: {}, pending: string[] (not empty) }',
      {
        field: 'resume',
      },
    );
  const { envelope, asGiven } = job.prepared;
  const open: string[] = [];
  for (const want of p.pending) {
    const w = want.toLowerCase();
    const wire = envelope.to.find((t) => t.toLowerCase() === w || asGiven(t).toLowerCase() === w);
    if (wire === undefined)
      throw new InvalidArgumentError(`resume.pending names ${JSON.stringify(want)}, not a recipient of this message`, {
        field: 'resume.pending',
      });
    if (!open.includes(wire)) open.push(wire);
  }
  job.openRecipients = open;
  job.settled = { delivered: [...p.delivered], failures: { ...p.failures } };
}

/** What the attempts need from the handler, fixed at its construction. */
export interface DeliveryContext {
  pool: SmtpConnectionPool;
  params: PoolConnectionParams;
  retryPolicy: RetryPolicy;
  /** The handler's DKIM signers; null when it has none. */
  dkim: readonly DkimSigner[] | null;
  dkimSpool: DkimSpoolOptions;
}

/** Runs jobs to one DeliveryResult each; one per handler. */
export class Delivery {
  readonly #pool: SmtpConnectionPool;
  readonly #params: PoolConnectionParams;
  readonly #retryPolicy: RetryPolicy;
  readonly #dkim: readonly DkimSigner[] | null;
  readonly #dkimSpool: DkimSpoolOptions;

  constructor(context: DeliveryContext) {
    this.#pool = context.pool;
    this.#params = context.params;
    this.#retryPolicy = context.retryPolicy;
    this.#dkim = context.dkim;
    this.#dkimSpool = context.dkimSpool;
  }

  /**
   * DKIM (issue 14): with signers (the message's own option wins over the handler's), the prepared message
   * is signed once before the attempts — hashed in a first pass when replayable, spooled when a one-shot
   * stream — and a signing failure is INVALID with nothing sent. Any spool file is deleted afterwards.
   */
  async deliver(job: Job, perMessage: DkimOptions | DkimOptions[] | undefined): Promise<DeliveryResult> {
    let signers: readonly DkimSigner[] | null;
    try {
      signers = dkimSignersFor(perMessage, this.#dkim);
    } catch (err) {
      return invalid(err);
    }
    if (!signers) return this.#attempts(job);
    const { prepared } = job;
    const first = prepared.body();
    if (first === null) return invalid(new SmtpError('the message body was already consumed'));
    // The stream taken to look at the body is the first one read: a replayable source opens no spare.
    let unread: typeof first | null = first;
    const open = (): AsyncIterable<Uint8Array | string> => {
      const body = unread ?? prepared.body();
      unread = null;
      return body as AsyncIterable<Uint8Array | string>;
    };
    const source: SignSource =
      typeof first === 'string' || first instanceof Uint8Array
        ? { kind: 'memory', bytes: typeof first === 'string' ? Buffer.from(first, 'utf8') : first }
        : prepared.replayable
          ? { kind: 'replayable', open }
          : { kind: 'once', stream: first };
    let signed: Awaited<ReturnType<typeof signMessage>>;
    try {
      signed = await signMessage(source, signers, { spool: this.#dkimSpool, signal: job.signal });
    } catch (err) {
      // Signing stopped before reading the body taken to look at it (an abort): release that stream now.
      (unread as { destroy?: () => void } | null)?.destroy?.();
      // Aborted by the caller: reported like an abort during an attempt, not as an invalid message.
      if ((err as SmtpError).code === ErrorCodes.ABORTED) return fromError(this.#retryPolicy, job, err, 0, null);
      return invalid(
        new SmtpError(`DKIM signing failed: ${(err as Error).message}`, { code: ErrorCodes.DKIM_SIGN, cause: err }),
      );
    }
    const { size } = prepared.envelope;
    const signedMessage: PreparedMessage = {
      envelope: size === undefined ? prepared.envelope : { ...prepared.envelope, size: size + signed.addedSize },
      messageId: prepared.messageId,
      headerBlock: null,
      needs: prepared.needs,
      replayable: true,
      body: () => signed.body(),
      asGiven: (wire) => prepared.asGiven(wire),
    };
    try {
      return await this.#attempts({ ...job, prepared: signedMessage });
    } finally {
      await signed.dispose();
    }
  }

  /** The attempt loop: one DeliveryResult, retries only where nothing can have been delivered. */
  async #attempts(job: Job): Promise<DeliveryResult> {
    const policy = this.#retryPolicy;
    const maxAttempts = job.retry ? policy.maxRetries + 1 : 1;
    const signalOption = job.signal ? { signal: job.signal } : {};
    let last: DeliveryResult | null = null;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (attempt > 0) {
        try {
          await sleep(backoffDelay(attempt - 1, policy), job.signal);
        } catch (err) {
          return fromError(this.#retryPolicy, job, err, attempt - 1, null);
        }
      }
      const result = await this.#attempt(job, attempt, signalOption);
      // A one-shot stream was taken by the failed attempt: the caller must resend it.
      if (result === null)
        return (
          last ??
          fromError(
            this.#retryPolicy,
            job,
            new SmtpError('the message stream was consumed by an earlier attempt; send it again with a fresh stream', {
              code: ErrorCodes.BODY_SOURCE,
            }),
            attempt,
            null,
          )
        );
      if (!result.isRetryable || result.status === SmtpDeliveryStatus.UNKNOWN) return result;
      // A refused connection gets fewer retries than other failures (RetryPolicy.refusedRetries).
      if (isConnectionRefused(result.error) && attempt >= policy.refusedRetries) return result;
      last = result;
    }
    // Out of attempts (or retry off): the failure stays temporary for the caller.
    const status = job.retry ? SmtpDeliveryStatus.TEMP_FAILED : SmtpDeliveryStatus.RETRY;
    return new DeliveryResult({ ...resultFields(last!), status });
  }

  /** One attempt; null when the body was a one-shot stream already used. */
  async #attempt(job: Job, attempt: number, signalOption: { signal?: AbortSignal }): Promise<DeliveryResult | null> {
    let conn: SmtpConnection;
    try {
      conn = await this.#pool.getConnection(this.#params, signalOption);
    } catch (err) {
      return fromError(this.#retryPolicy, job, err, attempt, null);
    }
    // Taken only now: a failed connect leaves a one-shot stream unread, so the retry can still send it.
    const body = job.prepared.body();
    if (body === null) {
      this.#pool.releaseConnection(conn);
      return null;
    }
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        this.#pool.releaseConnection(conn);
      }
    };
    let accepted: readonly string[] | null = null;
    try {
      // A 421 at any stage fails the connection inside the engine, so the pool never reuses it.
      // LMTP: a retry after per-recipient failures goes only to the recipients still open.
      const envelope = job.openRecipients
        ? { ...job.prepared.envelope, to: job.openRecipients }
        : job.prepared.envelope;
      const outcome = await conn.sendMail(envelope, body, {
        ...signalOption,
        onHandedOver: release,
        onRecipients: (ok) => {
          accepted = ok;
        },
        ...(job.beforeHandOver ? { onBeforeHandOver: job.beforeHandOver } : {}),
      });
      return fromOutcome(this.#retryPolicy, job, outcome, attempt);
    } catch (err) {
      // A caller's value refused by the engine's checks before a byte was written leaves the
      // connection usable: that is an INVALID message, not a failed delivery.
      const error = toSmtpError(err);
      const nothingSent = error instanceof InvalidArgumentError && !conn.isBroken;
      return fromError(this.#retryPolicy, job, error, attempt, accepted, nothingSent);
    } finally {
      release();
      // A transaction that ended before DATA (sender or every recipient refused) never read its body: a
      // stream behind it (a file, a caller's factory) is released now rather than left open until GC.
      const stream = body as { destroy?: () => void; readableEnded?: boolean; destroyed?: boolean };
      if (typeof stream.destroy === 'function' && stream.destroyed === false && stream.readableEnded === false)
        stream.destroy();
    }
  }
}
