/**
 * A destination's hand-over FIFO: `getConnection` calls waiting for a connection released straight to
 * them (pool.ts), with one lazy acquire deadline per destination instead of a timer per waiter.
 * `notify` is the pool's "something changed in the bucket" (pool.ts `#notify`).
 */
import { AbortError, TimeoutError } from '../errors.js';
import { listenAbort } from '../util/abort.js';
import type { Bucket, HandoffWaiter } from './bucket.js';

type Notify<C> = (bucket: Bucket<C>) => void;

/**
 * Waits in the destination's FIFO for a released connection; null when a slot was freed instead (the caller
 * then goes on to the general path, by `deadlineAt` still).
 */
export function waitForHandoff<C>(
  bucket: Bucket<C>,
  acquireTimeout: number,
  deadlineAt: number,
  signal: AbortSignal | undefined,
  notify: Notify<C>,
): Promise<C | null> {
  bucket.users++;
  return new Promise<C | null>((resolve, reject) => {
    const waiter: HandoffWaiter<C> = {
      resolve,
      reject,
      deadlineAt,
      signal,
      onAbort: null,
    };
    if (signal !== undefined) {
      waiter.onAbort = () => {
        const i = bucket.waiters.indexOf(waiter);
        if (i === -1) return;
        bucket.waiters.splice(i, 1);
        leaveHandoff(bucket, waiter);
        reject(new AbortError('aborted while waiting for a connection', { cause: signal.reason }));
        notify(bucket);
      };
      listenAbort(signal, waiter.onAbort);
    }
    bucket.waiters.push(waiter);
    armDeadline(bucket, acquireTimeout, notify);
  });
}

/** A waiter is out of the FIFO (the caller removed it): its listener and its use of the bucket go. */
function leaveHandoff<C>(bucket: Bucket<C>, waiter: HandoffWaiter<C>, keepUse = false): void {
  if (waiter.onAbort !== null) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  if (!keepUse) bucket.users--;
  // The deadline timer holds the process only while someone waits.
  if (bucket.waiters.length === 0) bucket.deadline?.unref();
}

/** The oldest waiter, out of the FIFO; `keepUse`: it goes on to the general path, still using the bucket. */
export function takeWaiter<C>(bucket: Bucket<C>, keepUse: boolean): HandoffWaiter<C> {
  const waiter = bucket.waiters.shift()!;
  leaveHandoff(bucket, waiter, keepUse);
  return waiter;
}

export function rejectWaiters<C>(bucket: Bucket<C>, err: unknown): void {
  for (const waiter of bucket.waiters.splice(0)) {
    leaveHandoff(bucket, waiter);
    waiter.reject(err);
  }
}

/**
 * One acquire deadline per destination, for its oldest waiter (every waiter waits the same
 * `acquireTimeout`, so the oldest is due first); moved only when it would fire too late, and
 * re-armed for the next waiter when it fires.
 */
function armDeadline<C>(bucket: Bucket<C>, acquireTimeout: number, notify: Notify<C>): void {
  const head = bucket.waiters[0];
  if (head === undefined || head.deadlineAt === Infinity) return;
  const timer = bucket.deadline;
  if (timer !== null) {
    timer.ref();
    if (bucket.deadlineAt <= head.deadlineAt) return;
    clearTimeout(timer);
  }
  bucket.deadlineAt = head.deadlineAt;
  bucket.deadline = setTimeout(() => expire(bucket, acquireTimeout, notify), Math.max(0, head.deadlineAt - Date.now()));
}

function expire<C>(bucket: Bucket<C>, acquireTimeout: number, notify: Notify<C>): void {
  bucket.deadline = null;
  const now = Date.now();
  while (bucket.waiters.length > 0 && bucket.waiters[0]!.deadlineAt <= now) {
    const waiter = bucket.waiters.shift()!;
    leaveHandoff(bucket, waiter);
    waiter.reject(
      new TimeoutError(`no connection to ${bucket.label} became free within ${acquireTimeout} ms`, {
        phase: 'acquire',
        timeout: acquireTimeout,
      }),
    );
  }
  armDeadline(bucket, acquireTimeout, notify);
  notify(bucket);
}
