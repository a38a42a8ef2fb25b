/**
 * Retry policy: which failures may be retried, how long to wait between attempts, and an abortable
 * sleep. Pure decisions, no I/O; the handler runs the loop.
 *
 * The one hard rule: once a message has been handed over (final dot or `BDAT LAST` written) and the
 * reply is lost, the server may have accepted it. Such a failure is never retryable here; the
 * handler reports `UNKNOWN` and a resend is the caller's choice (RFC 5321 §4.1.1.4, §6.1: the
 * server takes responsibility at the 250, and a duplicate is worse than a visible unknown).
 */

import {
  AbortError,
  AuthError,
  ConnectionError,
  ErrorCodes,
  InvalidArgumentError,
  ReplyError,
  TimeoutError,
} from '../errors.js';
import { assertKnownNestedKeys } from '../options.js';
import { listenAbort } from '../util/abort.js';

/** How the handler retries a delivery. */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 turns retrying off. */
  maxRetries: number;
  /** Wait before retry 1, 2, … in ms; the last one repeats for later retries. */
  delays: readonly number[];
  /** Reply codes worth another attempt (transient ones, RFC 5321 §4.2.1). */
  retryableCodes: readonly number[];
  /** Spread each delay by ± this fraction (0..1), so many clients do not retry in lockstep. */
  jitter: number;
  /**
   * Retries of a refused connection (ECONNREFUSED), within `maxRetries`. A closed port rarely opens
   * in the next seconds, so by default it gets one retry (after `delays[0]`) and fails in about a
   * second rather than after the whole backoff (37 s with the reference's delays).
   */
  refusedRetries: number;
}

/** The reference design's retries: 3 of them. */
export const DEFAULT_MAX_RETRIES = 3;
/** The reference design's delays: 1 s, 5 s, 30 s. */
export const DEFAULT_RETRY_DELAYS: readonly number[] = Object.freeze([1000, 5000, 30_000]);
/**
 * RFC 5321 §4.2.3: 421 service not available (closing), 450 mailbox unavailable (busy),
 * 451 local error in processing, 452 insufficient storage.
 */
export const DEFAULT_RETRYABLE_CODES: readonly number[] = Object.freeze([421, 450, 451, 452]);
/** ±10 %. */
export const DEFAULT_JITTER = 0.1;
/** One retry of a refused connection (see `RetryPolicy.refusedRetries`). */
export const DEFAULT_REFUSED_RETRIES = 1;
/** RFC 4954 §6: 454 "Temporary authentication failure". */
const TEMPORARY_AUTH_FAILURE = 454;
/** The longest delay `setTimeout` honours (2^31 − 1 ms, about 24.8 days). */
const MAX_DELAY = 2 ** 31 - 1;

/** The reference design's policy: 3 retries after 1 s, 5 s, 30 s on 421/450/451/452, ±10 % jitter. Frozen. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxRetries: DEFAULT_MAX_RETRIES,
  delays: DEFAULT_RETRY_DELAYS,
  retryableCodes: DEFAULT_RETRYABLE_CODES,
  jitter: DEFAULT_JITTER,
  refusedRetries: DEFAULT_REFUSED_RETRIES,
});

const POLICY_KEYS: readonly string[] = Object.keys(DEFAULT_RETRY_POLICY);

/**
 * Fills in the defaults and checks every field.
 * @param partial the caller's `retryPolicy` option (undefined fields take the default).
 * @returns a new policy with frozen arrays.
 * @throws InvalidArgumentError naming the field, e.g. `retryPolicy.delays`.
 */
export function resolveRetryPolicy(partial?: Partial<RetryPolicy>): RetryPolicy {
  if (partial === undefined || partial === null) return { ...DEFAULT_RETRY_POLICY };
  if (typeof partial !== 'object' || Array.isArray(partial)) {
    throw new InvalidArgumentError('retryPolicy must be an object', { field: 'retryPolicy' });
  }
  assertKnownNestedKeys(partial, POLICY_KEYS, 'retryPolicy');
  const maxRetries = partial.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
    throw new InvalidArgumentError(`retryPolicy.maxRetries must be a non-negative integer, not ${String(maxRetries)}`, {
      field: 'retryPolicy.maxRetries',
    });
  }
  const delays = partial.delays ?? DEFAULT_RETRY_DELAYS;
  if (
    !Array.isArray(delays) ||
    !delays.every((d) => typeof d === 'number' && Number.isFinite(d) && d >= 0 && d <= MAX_DELAY)
  ) {
    throw new InvalidArgumentError(`retryPolicy.delays must be an array of ms from 0 to ${MAX_DELAY}`, {
      field: 'retryPolicy.delays',
    });
  }
  if (delays.length === 0 && maxRetries > 0) {
    throw new InvalidArgumentError('retryPolicy.delays must hold at least one delay when maxRetries > 0', {
      field: 'retryPolicy.delays',
    });
  }
  const retryableCodes = partial.retryableCodes ?? DEFAULT_RETRYABLE_CODES;
  if (!Array.isArray(retryableCodes) || !retryableCodes.every((c) => Number.isInteger(c) && c >= 400 && c <= 599)) {
    throw new InvalidArgumentError('retryPolicy.retryableCodes must be an array of reply codes from 400 to 599', {
      field: 'retryPolicy.retryableCodes',
    });
  }
  const jitter = partial.jitter ?? DEFAULT_JITTER;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new InvalidArgumentError(`retryPolicy.jitter must be a number from 0 to 1, not ${String(jitter)}`, {
      field: 'retryPolicy.jitter',
    });
  }
  const refusedRetries = partial.refusedRetries ?? DEFAULT_REFUSED_RETRIES;
  if (!Number.isSafeInteger(refusedRetries) || refusedRetries < 0) {
    throw new InvalidArgumentError(
      `retryPolicy.refusedRetries must be a non-negative integer, not ${String(refusedRetries)}`,
      { field: 'retryPolicy.refusedRetries' },
    );
  }
  return {
    maxRetries,
    refusedRetries,
    delays: Object.freeze([...delays]),
    retryableCodes: Object.freeze([...retryableCodes]),
    jitter,
  };
}

/**
 * Whether a reply code is worth another attempt under `policy` (default: 421, 450, 451, 452).
 * Pure; never throws.
 */
export function isRetryableReply(code: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): boolean {
  return policy.retryableCodes.includes(code);
}

/**
 * Whether a failed attempt may be retried (RFC 5321 §4.2.1 transient replies, plus network failures
 * that certainly lost the message):
 * - `ReplyError` whose code is retryable under `policy` (this includes a 421 greeting,
 *   `ERR_SMTP_GREETING_REFUSED`);
 * - `ConnectionError` and `TimeoutError` only while `messageHandedOver` is false: after the final
 *   dot the outcome is unknown and a retry could deliver twice;
 * - `AuthError` only for 454, temporary authentication failure (RFC 4954 §6);
 * - nothing else: InvalidArgumentError, CapabilityError, TlsError, ProtocolError, AbortError,
 *   ClosedError and unknown errors are not retryable.
 * Pure; never throws.
 */
export function isRetryable(err: unknown, policy: RetryPolicy = DEFAULT_RETRY_POLICY): boolean {
  if (err instanceof ReplyError) return isRetryableReply(err.replyCode, policy);
  // AbortError is not a subclass of these, but the check is spelt out: an abort is the caller's choice.
  if (err instanceof AbortError) return false;
  // A greeting timeout on a well-known implicit-TLS port is a configuration mix-up, not a transient fault.
  if (err instanceof TimeoutError && err.code === ErrorCodes.TLS_MODE_MISMATCH) return false;
  if (err instanceof ConnectionError || err instanceof TimeoutError) return !err.messageHandedOver;
  if (err instanceof AuthError) return err.replyCode === TEMPORARY_AUTH_FAILURE;
  return false;
}

/** The connection was refused (ECONNREFUSED): nothing listens on the port. */
export function isConnectionRefused(err: unknown): boolean {
  return err instanceof ConnectionError && (err.cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
}

/**
 * The wait before retry number `retryIndex + 1`: `delays[retryIndex]` (the last delay repeats),
 * spread by ± `jitter`, rounded to whole ms and never negative.
 * @param retryIndex 0 for the first retry.
 * @param random a source of numbers in [0, 1), for tests; default `Math.random`.
 * @throws InvalidArgumentError when `retryIndex` is not a non-negative integer.
 */
export function backoffDelay(
  retryIndex: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): number {
  if (!Number.isSafeInteger(retryIndex) || retryIndex < 0) {
    throw new InvalidArgumentError(`retryIndex must be a non-negative integer, not ${String(retryIndex)}`, {
      field: 'retryIndex',
    });
  }
  const { delays, jitter } = policy;
  if (delays.length === 0) return 0;
  const base = delays[Math.min(retryIndex, delays.length - 1)]!;
  // random() in [0, 1) maps to a factor in [1 − jitter, 1 + jitter).
  const factor = 1 + jitter * (2 * random() - 1);
  return Math.min(MAX_DELAY, Math.max(0, Math.round(base * factor)));
}

/**
 * Resolves after `ms`. The timer keeps the process alive on purpose: a pending retry is work not yet
 * done. With a signal, an abort rejects at once with `AbortError` (its `cause` is the signal's reason)
 * and clears the timer.
 * Rejects with InvalidArgumentError for a negative or non-finite `ms`.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    return Promise.reject(
      new InvalidArgumentError(`sleep needs a non-negative number of ms, not ${String(ms)}`, { field: 'ms' }),
    );
  }
  if (signal?.aborted)
    return Promise.reject(new AbortError('aborted while waiting to retry', { cause: signal.reason }));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortError('aborted while waiting to retry', { cause: signal?.reason }));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.min(ms, MAX_DELAY),
    );
    listenAbort(signal, onAbort);
  });
}
