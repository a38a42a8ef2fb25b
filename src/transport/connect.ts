/**
 * Socket factory: TCP connect, TLS handshake (implicit TLS or after STARTTLS), each under its own
 * timeout and an AbortSignal. Errors come out typed, with the classic implicit-TLS/STARTTLS mix-up
 * ("wrong version number") explained.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { AbortError, ConnectionError, ErrorCodes, TimeoutError, TlsError } from '../errors.js';
import { listenAbort } from '../util/abort.js';

/** node:tls is loaded only when a connection actually needs it. */
let tlsModule: typeof tls | undefined;
async function loadTls(): Promise<typeof tls> {
  tlsModule ??= (await import('node:tls')).default;
  return tlsModule;
}

export interface OpenSocketOptions {
  host: string;
  port: number;
  connectTimeout: number;
  signal?: AbortSignal | undefined;
  /** Source address to connect from (an MTA with several addresses). */
  localAddress?: string | undefined;
}

/** Opens a TCP connection. @throws ConnectionError, TimeoutError (`connect`), AbortError. */
export function openSocket(options: OpenSocketOptions): Promise<net.Socket> {
  const { host, port, connectTimeout, signal, localAddress } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError('aborted before connecting', { cause: signal.reason }));
      return;
    }
    // A host starting with '/' is a Unix domain socket path (LMTP to a local mailbox store, RFC 2033).
    const socket = isSocketPath(host)
      ? net.connect({ path: host })
      : net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    const where = isSocketPath(host) ? host : `${host}:${port}`;
    const fail = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: NodeJS.ErrnoException): void =>
      fail(new ConnectionError(`cannot connect to ${where}: ${err.code ?? err.message}`, { cause: err }));
    const onAbort = (): void => fail(new AbortError('aborted while connecting', { cause: signal?.reason }));
    const timer = setTimeout(
      () =>
        fail(
          new TimeoutError(`no connection to ${where} within ${connectTimeout} ms`, {
            phase: 'connect',
            timeout: connectTimeout,
          }),
        ),
      connectTimeout,
    );
    function cleanup(): void {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    }
    socket.once('connect', onConnect);
    socket.once('error', onError);
    listenAbort(signal, onAbort);
  });
}

export interface UpgradeOptions {
  host: string;
  port: number;
  tls: tls.ConnectionOptions | undefined;
  tlsTimeout: number;
  /** Whether this is implicit TLS (port 465 style), for the wording of mix-up errors. */
  implicit: boolean;
  signal?: AbortSignal | undefined;
  /** Sessions to resume (RFC 8446 §2.2 / RFC 5077 tickets) and to keep, for this destination. */
  sessions?: TlsSessionStore | undefined;
  /**
   * Checks the peer once the handshake is done, before any byte goes over TLS; a throw fails the
   * handshake. Sessions are kept for resumption only after it passed, and a resumed one is not checked again.
   */
  verifyPeer?: ((socket: tls.TLSSocket) => void) | undefined;
}

/**
 * Keeps the last TLS session of one destination so the next connection can resume it (a
 * resumption skips the certificate exchange and its signature checks). Sessions are kept per TLS
 * options object: a session verified under one configuration is never resumed under another.
 */
export class TlsSessionStore {
  readonly #sessions = new WeakMap<object, Buffer>();
  static readonly #NO_OPTIONS = {};

  get(tlsOptions: object | undefined): Buffer | undefined {
    return this.#sessions.get(tlsOptions ?? TlsSessionStore.#NO_OPTIONS);
  }

  set(tlsOptions: object | undefined, session: Buffer): void {
    this.#sessions.set(tlsOptions ?? TlsSessionStore.#NO_OPTIONS, session);
  }
}

/**
 * Runs the TLS handshake over an open socket. Certificates are verified unless the caller's options
 * say otherwise; SNI is the host name (never an IP address, which SNI forbids: RFC 6066 §3).
 * @throws TlsError (`ERR_SMTP_TLS`, `ERR_SMTP_TLS_MODE_MISMATCH`), TimeoutError (`tls`), AbortError.
 */
export async function upgradeToTls(socket: net.Socket, options: UpgradeOptions): Promise<tls.TLSSocket> {
  const tlsLib = await loadTls();
  const { host, port, tlsTimeout, signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      socket.destroy();
      reject(new AbortError('aborted before the TLS handshake', { cause: signal.reason }));
      return;
    }
    const servername = options.tls?.servername ?? (net.isIP(host) || isSocketPath(host) ? undefined : host);
    const session = options.sessions?.get(options.tls);
    const secure = tlsLib.connect({
      ...options.tls,
      socket,
      host,
      ...(servername === undefined ? {} : { servername }),
      ...(session === undefined ? {} : { session }),
    });
    // TLS 1.3 tickets arrive after the handshake: keep listening for the connection's life. With
    // `verifyPeer`, a session is kept only once the peer passed it: a resumed session skips the
    // certificate exchange, so it must come from a verified handshake.
    const store = options.sessions;
    let verified = options.verifyPeer === undefined;
    let early: Buffer | undefined;
    if (store)
      secure.on('session', (s: Buffer) => {
        if (verified) store.set(options.tls, s);
        else early = s;
      });
    const fail = (err: Error): void => {
      cleanup();
      secure.destroy();
      socket.destroy();
      reject(err);
    };
    const onSecure = (): void => {
      // A resumed session was verified when it was made (only verified sessions are kept, above).
      if (options.verifyPeer && !secure.isSessionReused()) {
        try {
          options.verifyPeer(secure);
        } catch (err) {
          fail(
            err instanceof TlsError
              ? err
              : new TlsError(`TLS with ${host}:${port}: ${(err as Error).message}`, { cause: err }),
          );
          return;
        }
      }
      verified = true;
      if (early !== undefined) store?.set(options.tls, early);
      cleanup();
      resolve(secure);
    };
    const onError = (err: NodeJS.ErrnoException): void => fail(describeTlsError(err, host, port, options.implicit));
    const onClose = (): void =>
      fail(
        new TlsError(
          `${host}:${port} closed the connection during the TLS handshake` +
            (options.implicit ? ' (is this a STARTTLS port? use encryption "tls")' : ''),
          { code: options.implicit ? ErrorCodes.TLS_MODE_MISMATCH : ErrorCodes.TLS },
        ),
      );
    const onAbort = (): void => fail(new AbortError('aborted during the TLS handshake', { cause: signal?.reason }));
    const timer = setTimeout(
      () =>
        fail(
          new TimeoutError(
            `TLS handshake with ${host}:${port} did not finish within ${tlsTimeout} ms` +
              (options.implicit ? ' (if the server expects STARTTLS, use encryption "tls")' : ''),
            { phase: 'tls', timeout: tlsTimeout },
          ),
        ),
      tlsTimeout,
    );
    function cleanup(): void {
      clearTimeout(timer);
      secure.off('secureConnect', onSecure);
      secure.off('error', onError);
      secure.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    }
    secure.once('secureConnect', onSecure);
    secure.once('error', onError);
    secure.once('close', onClose);
    listenAbort(signal, onAbort);
  });
}

/** OpenSSL's way of saying "the peer did not speak TLS". */
const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_HTTP_REQUEST',
]);

/** Socket-level failures: the network broke, not TLS; nothing can have been delivered. */
const NETWORK_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH']);

/**
 * Maps an error during the handshake: a reset or broken pipe is a ConnectionError (retryable like any
 * connection failure before hand-over); everything else, certificate verification included, is a
 * TlsError with an actionable message.
 */
export function describeTlsError(
  err: NodeJS.ErrnoException,
  host: string,
  port: number,
  implicit: boolean,
): TlsError | ConnectionError {
  const code = err.code ?? '';
  if (NETWORK_ERRORS.has(code)) {
    return new ConnectionError(`connection to ${host}:${port} lost during the TLS handshake (${code})`, {
      cause: err,
    });
  }
  if (NOT_TLS.has(code) || /wrong version number/i.test(err.message)) {
    const hint = implicit
      ? `the server at ${host}:${port} answered in plaintext: it most likely expects STARTTLS (use encryption "tls", usually port 587) rather than implicit TLS`
      : `the server at ${host}:${port} did not answer the TLS handshake with TLS`;
    return new TlsError(`${hint} (${code || err.message})`, { code: ErrorCodes.TLS_MODE_MISMATCH, cause: err });
  }
  return new TlsError(`TLS with ${host}:${port} failed: ${err.message}${code ? ` (${code})` : ''}`, { cause: err });
}

/** A `host` naming a Unix domain socket rather than a network host. */
export function isSocketPath(host: string): boolean {
  return host.startsWith('/');
}

/**
 * "localhost", loopback addresses and Unix domain sockets are safe for credentials without TLS
 * (our policy, not the RFC's).
 */
export function isLoopback(host: string): boolean {
  if (isSocketPath(host)) return true;
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h.startsWith('::ffff:127.');
}
