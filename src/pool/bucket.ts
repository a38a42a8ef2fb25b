/**
 * A pool key's state: its parked, busy, connecting and closing connections, its lock and rate
 * limiter, and the one waiter holding the lock for a free slot. The pool (pool.ts) moves entries
 * between these sets; this module only builds, counts and waits.
 */
import type { AbortSource } from '../util/abort.js';
import { Mutex } from '../util/mutex.js';
import { TokenBucket } from './rate-limit.js';

export type EntryState = 'idle' | 'busy' | 'closing';

export interface Entry<C> {
  readonly conn: C;
  readonly bucket: Bucket<C>;
  readonly host: string;
  readonly port: number;
  state: EntryState;
  /** When it was last parked. */
  parkedAt: number;
  /** Times handed out (a proxy for messages: the engine counts a message only after its final reply). */
  checkouts: number;
  readonly onClose: (err: unknown) => void;
}

/** A `getConnection` call waiting for a connection handed straight over at release (see pool.ts). */
export interface HandoffWaiter<C> {
  /** A connection, or null: a slot was freed instead, take the general path. */
  resolve(conn: C | null): void;
  reject(err: unknown): void;
  /** Date.now() ms past which it fails with the acquire timeout (Infinity: never). */
  readonly deadlineAt: number;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
}

export interface Bucket<C> {
  readonly key: string;
  readonly label: string;
  readonly mutex: Mutex;
  /** A stack: the most recently parked connection is the warmest, and the coldest ones age out. */
  readonly idle: Entry<C>[];
  readonly busy: Set<Entry<C>>;
  /** Connections being connected (their slot is reserved), for destroy(). */
  readonly pending: Set<C>;
  closing: number;
  /** The lock holder is waiting for a slot. */
  headWaiting: boolean;
  /** Wakes the lock holder waiting for a slot. */
  wake: (() => void) | null;
  /** Calls waiting for a released connection, oldest first (the destination's FIFO). */
  readonly waiters: HandoffWaiter<C>[];
  /** One acquire deadline per destination: the oldest waiter's (all wait the same acquireTimeout). */
  deadline: NodeJS.Timeout | null;
  deadlineAt: number;
  /** getConnection calls using this bucket right now (it is dropped from the map only when unused). */
  users: number;
  readonly limiter: TokenBucket | null;
}

/** Slots a key uses: every socket that may still be open at the server. */
export function slots<C>(bucket: Bucket<C>): number {
  return bucket.idle.length + bucket.busy.size + bucket.pending.size + bucket.closing;
}

/** Resolves at the next change of the bucket; rejects when the gate aborts. */
export function waitForSlot<C>(bucket: Bucket<C>, gate: AbortSource): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      gate.removeEventListener('abort', onAbort);
      bucket.wake = null;
      bucket.headWaiting = false;
    };
    const onAbort = (): void => {
      done();
      reject(gate.reason);
    };
    bucket.headWaiting = true;
    bucket.wake = () => {
      done();
      resolve();
    };
    gate.addEventListener('abort', onAbort, { once: true });
  });
}

/** An empty bucket for a key; with a token bucket when the pool has a rate limit. */
export function newBucket<C>(
  key: string,
  label: string,
  rateLimit: { messages: number; interval: number } | null,
): Bucket<C> {
  return {
    key,
    label,
    mutex: new Mutex(),
    idle: [],
    busy: new Set(),
    pending: new Set(),
    closing: 0,
    headWaiting: false,
    wake: null,
    waiters: [],
    deadline: null,
    deadlineAt: 0,
    users: 0,
    limiter: rateLimit ? new TokenBucket(rateLimit.messages, rateLimit.interval) : null,
  };
}
