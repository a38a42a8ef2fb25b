/**
 * The writing side of a connection's socket: everything written in one turn of the event loop leaves
 * as one segment, backpressure through 'drain', and the graceful end of the socket. It follows the
 * socket it is given (the plain one, then the TLS one after STARTTLS).
 */
import type net from 'node:net';
import type { SmtpError } from '../errors.js';

export class SocketWriter {
  #corked = false;
  #drainWaiters: { resolve: () => void; reject: (err: SmtpError) => void }[] = [];
  readonly #socket: () => net.Socket | null;
  readonly #broken: () => SmtpError | null;

  /** `socket`: the connection's current socket; `broken`: the error that poisoned it, if any. */
  constructor(socket: () => net.Socket | null, broken: () => SmtpError | null) {
    this.#socket = socket;
    this.#broken = broken;
  }

  /** Writes, coalescing everything written in this turn of the event loop into one segment. */
  write(data: string | Buffer, onWritten?: (err?: Error | null) => void): boolean {
    const socket = this.#socket();
    if (!socket || socket.destroyed) return true;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      // setImmediate, not nextTick: the next transaction's commands arrive a few microtasks later
      // and should share the segment with the previous final dot.
      setImmediate(this.#uncork);
    }
    return socket.write(data, onWritten);
  }

  /** Sends what this turn wrote so far now, instead of at the end of the turn. */
  flush(): void {
    if (this.#corked) this.#uncork();
  }

  #uncork = (): void => {
    this.#corked = false;
    this.#socket()?.uncork();
  };

  /** Resolves at the socket's next 'drain'; rejects with the poisoning error. */
  drain(): Promise<void> {
    const broken = this.#broken();
    if (broken) return Promise.reject(broken);
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /** The socket's 'drain' listener. */
  readonly onDrain = (): void => {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.resolve();
  };

  /** The connection is poisoned: every writer waiting for 'drain' gets `err`. */
  rejectDrains(err: SmtpError): void {
    const drains = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of drains) w.reject(err);
  }
}

/** Ends our side and resolves once the socket is closed (destroyed after 1 s if the server lingers). */
export function endSocket(socket: net.Socket | null): Promise<void> {
  if (!socket || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), 1000);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}
