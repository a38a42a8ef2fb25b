/**
 * A small async mutex with a FIFO of waiters that honours AbortSignal: the pool's lock per key and
 * the connection's writer lock (so it lives below both). Fair by construction: the lock passes
 * directly to the oldest waiter. Uncontended, it is taken synchronously (`tryAcquire`): no promise.
 */
import { AbortError } from '../errors.js';
import type { AbortSource } from './abort.js';

interface Waiter {
  grant: (release: () => void) => void;
  fail: (err: unknown) => void;
}

export class Mutex {
  #locked = false;
  #waiters: Waiter[] = [];

  get locked(): boolean {
    return this.#locked;
  }

  /** Callers waiting for the lock. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** The lock now, when it is free and nobody waits: its release function; null otherwise. */
  tryAcquire(): (() => void) | null {
    if (this.#locked) return null;
    this.#locked = true;
    return this.#releaser();
  }

  /**
   * Resolves with a release function once the lock is held; call it exactly once (later calls do
   * nothing). With a signal, an abort while waiting rejects with AbortError and leaves the queue.
   */
  acquire(signal?: AbortSource): Promise<() => void> {
    if (signal?.aborted)
      return Promise.reject(new AbortError('aborted while waiting for a lock', { cause: signal.reason }));
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        fail: reject,
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i !== -1) this.#waiters.splice(i, 1);
        reject(new AbortError('aborted while waiting for a lock', { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next.grant(this.#releaser());
      else this.#locked = false;
    };
  }
}
