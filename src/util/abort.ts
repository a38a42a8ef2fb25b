/**
 * What a waiter needs of an abort signal: whether and why it aborted, and abort listeners. A platform
 * `AbortSignal` is one; so is the pool's `Gate` (without an AbortController's cost), with no cast.
 */
export interface AbortSource {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}
