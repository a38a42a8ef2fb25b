/**
 * The attempt loop behind SmtpProtocolHandler.sendMessage / sendRaw: DKIM signing once before the
 * attempts, then attempts on pooled connections with backoff. What each attempt's replies or error mean,
 * and whether another attempt may go (and to whom), is decided in `decide.ts` alone: transient replies and
 * failures before the hand-over are retried, to the recipients still pending only; once the final dot (or
 * BDAT LAST) is written and the reply is lost, the result is UNKNOWN and nothing is resent.
 */

import { ErrorCodes, InvalidArgumentError, SmtpError, toSmtpError } from '../errors.js';
import { type DkimOptions, type DkimSigner, dkimSignersFor } from '../message/dkim/sign.js';
import { type DkimSpoolOptions, type SignSource, signMessage } from '../message/dkim/signed-body.js';
import type { PreparedMessage } from '../message/prepare.js';
import type { PoolConnectionParams, SmtpConnectionPool } from '../pool/pool.js';
import { isWireBody } from '../protocol/dot-stuff.js';
import type { DsnOptions } from '../protocol/dsn.js';
import type { SmtpConnection } from '../transport/connection.js';
import type { RecipientRejection } from '../transport/outcome.js';
import { channels } from '../util/channels.js';
import {
  type AttemptOutcome,
  type DecideContext,
  type Decision,
  decide,
  initialState,
  invalid,
  type SendState,
} from './decide.js';
import type { DeliveryResult } from './result.js';
import { backoffDelay, type RetryPolicy, sleep } from './retry.js';

/** One message on its way: the prepared message and the send options. */
export interface Job {
  prepared: PreparedMessage;
  retry: boolean;
  signal: AbortSignal | undefined;
  beforeHandOver: (() => void | Promise<void>) | undefined;
  /** Where the first attempt starts: the whole envelope, or (the `resume` option) an earlier send's pending. */
  start: SendState | null;
  /** RFC 3461 parameters for every attempt (checked by `protocol/dsn.ts`). */
  dsn: DsnOptions | undefined;
  /** Told the connection each attempt got (MX delivery reads that connection's TLS facts). */
  onConnection?: ((conn: SmtpConnection) => void) | undefined;
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
  job.start = {
    attempt: 0,
    delivered: [...p.delivered],
    refused: { ...p.failures },
    open,
    pending: {},
    own: Object.keys(p.failures),
    sentAt: null,
  };
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
    // A consumed body is one fault class with one code: ERR_SMTP_BODY_SOURCE.
    if (first === null)
      return invalid(new SmtpError('the message body was already consumed', { code: ErrorCodes.BODY_SOURCE }));
    // The stream taken to look at the body is the first one read: a replayable source opens no spare.
    let unread: typeof first | null = first;
    const open = (): AsyncIterable<Uint8Array | string> => {
      const body = unread ?? prepared.body();
      unread = null;
      return body as AsyncIterable<Uint8Array | string>;
    };
    const source: SignSource = isWireBody(first)
      ? { kind: 'memory', bytes: first.bytes }
      : typeof first === 'string' || first instanceof Uint8Array
        ? { kind: 'memory', bytes: typeof first === 'string' ? Buffer.from(first, 'utf8') : first }
        : prepared.replayable
          ? { kind: 'replayable', open }
          : { kind: 'once', stream: first };
    let signed: Awaited<ReturnType<typeof signMessage>>;
    try {
      const options = { spool: this.#dkimSpool, signal: job.signal };
      signed = await (channels.dkimSign.hasSubscribers
        ? channels.dkimSign.tracePromise(() => signMessage(source, signers, options), {
            host: this.#params.host,
            signatures: signers.length,
          })
        : signMessage(source, signers, options));
    } catch (err) {
      // Signing stopped before reading the body taken to look at it (an abort): release that stream now.
      (unread as { destroy?: () => void } | null)?.destroy?.();
      // Aborted by the caller: reported like an abort during an attempt, not as an invalid message.
      if ((err as SmtpError).code === ErrorCodes.ABORTED)
        return decide(failed(toSmtpError(err)), this.#startOf(job), this.#context(job)).result;
      return invalid(
        new InvalidArgumentError(`DKIM signing failed: ${(err as Error).message}`, {
          code: ErrorCodes.DKIM_SIGN,
          cause: err,
        }),
      );
    }
    const { size } = prepared.envelope;
    const signedMessage: PreparedMessage = {
      envelope: size === undefined ? prepared.envelope : { ...prepared.envelope, size: size + signed.addedSize },
      messageId: prepared.messageId,
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

  /** The first attempt's state. */
  #startOf(job: Job): SendState {
    return job.start ?? initialState(job.prepared.envelope.to);
  }

  #context(job: Job): DecideContext {
    return {
      policy: this.#retryPolicy,
      maxAttempts: job.retry ? this.#retryPolicy.maxRetries + 1 : 1,
      retry: job.retry,
      messageId: job.prepared.messageId,
      asGiven: job.prepared.asGiven,
      now: () => new Date(),
    };
  }

  /** The attempt loop: one DeliveryResult; each attempt's meaning, and whether another may go, is decide()'s. */
  async #attempts(job: Job): Promise<DeliveryResult> {
    const context = this.#context(job);
    const signalOption = job.signal ? { signal: job.signal } : {};
    let state = this.#startOf(job);
    let last: DeliveryResult | null = null;
    for (;;) {
      if (last !== null) {
        const delayMs = backoffDelay(state.attempt - 1, this.#retryPolicy);
        if (channels.attemptRetry.hasSubscribers)
          channels.attemptRetry.publish({
            host: this.#params.host,
            attempt: state.attempt,
            delayMs,
            messageId: job.prepared.messageId,
            previous: last,
          });
        try {
          await sleep(delayMs, job.signal);
        } catch (err) {
          // Aborted while waiting: nothing more is sent; what earlier attempts settled still stands.
          return decide(failed(toSmtpError(err)), { ...state, attempt: state.attempt - 1 }, context).result;
        }
      }
      let decision: Decision | null = null;
      if (channels.attempt.hasSubscribers) {
        // The attempt's traced result is its DeliveryResult (what the observers document), decided inside.
        const from = state;
        await channels.attempt.tracePromise(
          async () => {
            const outcome = await this.#attempt(job, from.open, signalOption);
            decision = outcome === null ? null : decide(outcome, from, context);
            return decision?.result ?? null;
          },
          { host: this.#params.host, attempt: state.attempt, messageId: job.prepared.messageId },
        );
      } else {
        const outcome = await this.#attempt(job, state.open, signalOption);
        if (outcome !== null) decision = decide(outcome, state, context);
      }
      // A one-shot stream was taken by an earlier attempt: the caller must resend it.
      if (decision === null) {
        const error = new SmtpError(
          'the message stream was consumed by an earlier attempt; send it again with a fresh stream',
          { code: ErrorCodes.BODY_SOURCE },
        );
        return last ?? decide(failed(error), state, context).result;
      }
      if (decision.next === null) return decision.result;
      last = decision.result;
      state = decision.next;
    }
  }

  /** One attempt to `to`; null when the body was a one-shot stream already used. */
  async #attempt(
    job: Job,
    to: readonly string[],
    signalOption: { signal?: AbortSignal },
  ): Promise<AttemptOutcome | null> {
    let conn: SmtpConnection;
    try {
      conn = await (channels.poolAcquire.hasSubscribers
        ? channels.poolAcquire.tracePromise(() => this.#pool.getConnection(this.#params, signalOption), {
            host: this.#params.host,
            port: this.#params.port,
          })
        : this.#pool.getConnection(this.#params, signalOption));
    } catch (err) {
      return failed(toSmtpError(err));
    }
    job.onConnection?.(conn);
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
    let rejected: readonly RecipientRejection[] = [];
    const confirmed: RecipientRejection[] = [];
    try {
      // A 421 at any stage fails the connection inside the engine, so the pool never reuses it.
      // A follow-up attempt goes only to the recipients still pending.
      const { envelope } = job.prepared;
      const wanted = job.dsn === undefined ? envelope : { ...envelope, dsn: job.dsn };
      const outcome = await conn.sendMail(to === envelope.to ? wanted : { ...wanted, to }, body, {
        ...signalOption,
        onHandedOver: release,
        onRecipients: (ok, refused) => {
          accepted = ok;
          rejected = refused;
        },
        onRecipientReply: (r) => void confirmed.push(r),
        ...(job.beforeHandOver ? { onBeforeHandOver: job.beforeHandOver } : {}),
      });
      return { kind: 'replies', outcome };
    } catch (err) {
      // A caller's value refused by the engine's checks before a byte was written leaves the
      // connection usable: that is an INVALID message, not a failed delivery.
      const error = toSmtpError(err);
      const nothingSent = error instanceof InvalidArgumentError && !conn.isBroken;
      return { kind: 'error', error, accepted, rejected, confirmed, nothingSent };
    } finally {
      release();
      // A transaction that ended before DATA (sender or every recipient refused) never read its body: a
      // stream behind it (a file, a caller's factory) is released now rather than left open until GC.
      const stream = body as {
        destroy?: () => void;
        readableEnded?: boolean;
        destroyed?: boolean;
        next?: unknown;
        return?: () => Promise<unknown>;
      };
      if (typeof stream.destroy === 'function' && stream.destroyed === false && stream.readableEnded === false)
        stream.destroy();
      // A plain async iterator (an async generator from a factory): return() runs its finally blocks (closing what
      // it opened); on one already finished it does nothing.
      else if (
        typeof stream.destroy !== 'function' &&
        typeof stream.next === 'function' &&
        typeof stream.return === 'function'
      )
        stream.return().catch(() => {});
    }
  }
}

/** An attempt that ended with an error before any recipient was reached. */
function failed(error: SmtpError): AttemptOutcome {
  return { kind: 'error', error, accepted: null, rejected: [], confirmed: [], nothingSent: false };
}
