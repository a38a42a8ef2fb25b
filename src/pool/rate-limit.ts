/**
 * The per-key rate limit of the pool: a token bucket with a FIFO of waiters. Only timers, no I/O.
 */
import type { AbortSource } from '../util/abort.js';

/**
 * A token bucket with a FIFO of waiters: `capacity` tokens, refilled continuously at `capacity` per
 * `interval` ms. Its wake-up timer is ref'ed: a caller waiting for a token is work in progress.
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #interval: number;
  #tokens: number;
  #last = Date.now();
  #waiters: { resolve: () => void; reject: (err: unknown) => void; signal: AbortSource; onAbort: () => void }[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(capacity: number, interval: number) {
    this.#capacity = capacity;
    this.#interval = interval;
    this.#tokens = capacity;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** No waiter and a full bucket: forgetting it loses nothing. */
  get full(): boolean {
    this.#refill();
    return this.#waiters.length === 0 && this.#tokens >= this.#capacity;
  }

  /** Takes one token, waiting in FIFO order; rejects with the signal's reason when it aborts. */
  take(signal: AbortSource): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    this.#refill();
    if (this.#waiters.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter);
          if (i !== -1) this.#waiters.splice(i, 1);
          reject(signal.reason);
          if (this.#waiters.length === 0) this.#cancelTimer();
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#schedule();
    });
  }

  /** Rejects every waiter with `err` and stops the timer. */
  clear(err: unknown): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#cancelTimer();
    for (const w of waiters) {
      w.signal.removeEventListener('abort', w.onAbort);
      w.reject(err);
    }
  }

  #refill(): void {
    const now = Date.now();
    if (now > this.#last) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#last) * this.#capacity) / this.#interval);
    }
    this.#last = now;
  }

  #schedule(): void {
    if (this.#timer || this.#waiters.length === 0) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) * this.#interval) / this.#capacity));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#refill();
      while (this.#waiters.length > 0 && this.#tokens >= 1) {
        this.#tokens -= 1;
        const w = this.#waiters.shift()!;
        w.signal.removeEventListener('abort', w.onAbort);
        w.resolve();
      }
      this.#schedule();
    }, wait);
  }

  #cancelTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
