import { defaultMaxListeners, getMaxListeners, setMaxListeners } from 'node:events';

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

/**
 * Listens once for the abort of a caller's `signal` (which many operations may share: see allowSharedSignal).
 * The caller removes the listener when its operation ends.
 */
export function listenAbort(signal: AbortSignal | undefined, listener: () => void): void {
  if (signal === undefined) return;
  allowSharedSignal(signal);
  signal.addEventListener('abort', listener, { once: true });
}

/**
 * A caller's signal may be shared by any number of sends at once (an application's shutdown signal); each
 * listens only while it runs and removes its listeners after, but past 10 at once Node warns of a leak
 * (MaxListenersExceededWarning). Lifted, like undici does for fetch, unless the caller set a limit of their own.
 */
function allowSharedSignal(signal: AbortSignal): void {
  // Not 0 ("no limit"): Node 20's getMaxListeners then throws for an EventTarget. A signal of another
  // implementation (a polyfill) is left as it is.
  try {
    if (getMaxListeners(signal) === defaultMaxListeners) setMaxListeners(SHARED_SIGNAL_LISTENERS, signal);
  } catch {}
}

/** Listeners a shared signal may hold at once before Node warns: far beyond any real number of sends. */
const SHARED_SIGNAL_LISTENERS = 2 ** 30;
