/**
 * The timeout table: one limit per phase (RFC 5321 §4.5.3.2), its defaults, its checks, and the words
 * of a timeout error. Pure.
 */
import {
  AbortError,
  ConnectionError,
  ErrorCodes,
  InvalidArgumentError,
  type SmtpError,
  TimeoutError,
  type TimeoutPhase,
} from '../errors.js';

/** Timeouts in ms, one per phase. */
export interface Timeouts {
  /** TCP connect. */
  connect: number;
  /** The 220 greeting after connecting (RFC 5321 §4.5.3.2.1: 5 min). */
  greeting: number;
  /** A TLS handshake, implicit or after STARTTLS. */
  tls: number;
  /** The reply to any command (RFC 5321 §4.5.3.2.2–.4: 5 min for MAIL and RCPT). */
  command: number;
  /** No progress while sending the body: the socket stays full or the source gives nothing (§4.5.3.2.6: 3 min). */
  dataIdle: number;
  /** The reply after the final dot or `BDAT LAST` (RFC 5321 §4.5.3.2.6: 10 min). */
  finalReply: number;
}

export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  connect: 30_000,
  greeting: 5 * 60_000, // RFC 5321 §4.5.3.2.1
  tls: 30_000,
  command: 5 * 60_000, // RFC 5321 §4.5.3.2.2
  dataIdle: 3 * 60_000, // RFC 5321 §4.5.3.2.5
  finalReply: 10 * 60_000, // RFC 5321 §4.5.3.2.6
});

/** Fills in defaults and checks every timeout. @throws InvalidArgumentError naming `timeouts.<phase>`. */
export function resolveTimeouts(partial: Partial<Timeouts> | undefined): Timeouts {
  const out = { ...DEFAULT_TIMEOUTS };
  for (const [key, value] of Object.entries(partial ?? {})) {
    if (!(key in DEFAULT_TIMEOUTS))
      throw new InvalidArgumentError(`unknown timeout ${JSON.stringify(key)}`, { field: `timeouts.${key}` });
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 2 ** 31 - 1) {
      throw new InvalidArgumentError(`timeouts.${key} must be a positive number of ms, not ${value}`, {
        field: `timeouts.${key}`,
      });
    }
    out[key as keyof Timeouts] = value;
  }
  return out;
}

/** What a timed-out step was waiting for, in words. */
export function timeoutMessage(
  phase: TimeoutPhase,
  command: string,
  timeout: number,
  where: { host: string; port: number; implicitTls: boolean },
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
    phase === 'greeting' && !where.implicitTls
      ? ` (if this port expects implicit TLS${where.port === 465 ? ', as 465 usually does' : ''}, use encryption "ssl")`
      : '';
  return `timed out after ${timeout} ms waiting for ${what} (${where.host}:${where.port})${hint}`;
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
