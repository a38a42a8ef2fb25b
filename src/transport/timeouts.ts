/**
 * The timeout error of a step and its words, and which timeouts mean the message may have been handed
 * over. The table (one limit per phase, RFC 5321 §4.5.3.2) and its defaults live in options.ts. Pure.
 */
import type { SmtpEncryption } from '../enums.js';
import { AbortError, ConnectionError, ErrorCodes, type SmtpError, TimeoutError, type TimeoutPhase } from '../errors.js';
import { IMPLICIT_TLS_PORTS } from '../options.js';

// The table itself (phases, defaults, checks) is an option rule: options.ts owns it.
export { DEFAULT_TIMEOUTS, RFC5321_TIMEOUTS, resolveTimeouts, type Timeouts } from '../options.js';

/** What a timed-out step was waiting for, in words. */
export function timeoutMessage(
  phase: TimeoutPhase,
  command: string,
  timeout: number,
  where: { host: string; port: number; implicitTls: boolean; implicitTlsPort?: boolean },
): string {
  const what =
    phase === 'greeting'
      ? 'the greeting'
      : phase === 'finalReply'
        ? 'the reply to the end of the message'
        : phase === 'dataIdle'
          ? 'progress writing the end of the message'
          : `the reply to ${command}`;
  // A port that expects implicit TLS waits, silent, for a ClientHello: say so (the reverse mix-up
  // fails fast as ERR_SMTP_TLS_MODE_MISMATCH).
  const hint =
    phase !== 'greeting' || where.implicitTls
      ? ''
      : where.implicitTlsPort
        ? ': this port expects implicit TLS, use encryption "ssl"'
        : ' (if this port expects implicit TLS, use encryption "ssl")';
  return `timed out after ${timeout} ms waiting for ${what} (${where.host}:${where.port})${hint}`;
}

/** The error for a step that waited `timeout` ms for `command` (as shown) in `phase`. */
export function timeoutError(
  phase: TimeoutPhase,
  command: string,
  timeout: number,
  to: { host: string; port: number; encryption: SmtpEncryption },
): TimeoutError {
  // On a well-known implicit-TLS port (465) a silent greeting is certainly the STARTTLS/implicit mix-up:
  // the error carries the mismatch code and is not retried as transient.
  const implicitPort = phase === 'greeting' && to.encryption !== 'ssl' && IMPLICIT_TLS_PORTS.has(to.port);
  const where = { host: to.host, port: to.port, implicitTls: to.encryption === 'ssl', implicitTlsPort: implicitPort };
  return new TimeoutError(timeoutMessage(phase, command, timeout, where), {
    phase,
    timeout,
    command,
    ...(implicitPort ? { code: ErrorCodes.TLS_MODE_MISMATCH } : {}),
  });
}

/**
 * A greeting timeout on a port that then answered a TLS ClientHello (tls-probe.ts): certainly the
 * STARTTLS/implicit mix-up, whatever the port number, and not retried as transient.
 */
export function tlsModeMismatch(timeout: number, to: { host: string; port: number }): TimeoutError {
  return new TimeoutError(
    `timed out after ${timeout} ms waiting for the greeting (${to.host}:${to.port}), and the port answered a TLS ClientHello: it expects implicit TLS, use encryption "ssl"`,
    { phase: 'greeting', timeout, command: '', code: ErrorCodes.TLS_MODE_MISMATCH },
  );
}

/** The error a pending final reply gets when the connection fails after hand-over: the outcome is unknown. */
export function handedOverError(err: SmtpError): SmtpError {
  const options = { cause: err, messageHandedOver: true, command: err.command };
  if (err instanceof TimeoutError) {
    return new TimeoutError(`${err.message}; the message was handed over, its outcome is unknown`, {
      ...options,
      phase: err.phase,
      timeout: err.timeout,
    });
  }
  if (err instanceof AbortError)
    return new AbortError(`${err.message} after the message was handed over; its outcome is unknown`, options);
  return new ConnectionError(
    `connection lost after the message was handed over and before the server's reply; its outcome is unknown`,
    {
      ...options,
      code: ErrorCodes.OUTCOME_UNKNOWN,
    },
  );
}

/** A local step of a session (a token provider, a key derivation) waits at most this long. */
export const LOCAL_STEP_MAX_MS = 60_000;

/**
 * `work`, unless the connection fails first (`connection` emits `close` with its error: an abort, a timeout)
 * or `limit` ms pass (a TimeoutError naming `what`). The step itself cannot be stopped; its caller stops waiting.
 */
export function boundedLocal<T>(
  connection: {
    once(event: 'close', fn: (err: SmtpError) => void): unknown;
    off(event: 'close', fn: (err: SmtpError) => void): unknown;
  },
  work: Promise<T>,
  limit: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      connection.off('close', onClose);
    };
    const onClose = (err: SmtpError): void => {
      done();
      reject(err);
    };
    const timer = setTimeout(() => {
      done();
      reject(
        new TimeoutError(`${what} did not finish within ${limit} ms`, {
          phase: 'command',
          timeout: limit,
          command: 'AUTH',
        }),
      );
    }, limit);
    connection.once('close', onClose);
    work.then(
      (value) => {
        done();
        resolve(value);
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}
