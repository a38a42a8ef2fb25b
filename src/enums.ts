/**
 * The reference design's enums, as string unions with frozen constant objects, so both
 * `SmtpEncryption.STARTTLS` and `'tls'` are accepted.
 */

export const SmtpEncryption = Object.freeze({
  /** Plaintext, usually port 25. */
  NONE: 'none',
  /** Explicit TLS: connect in plaintext, then STARTTLS (RFC 3207), usually port 587. */
  STARTTLS: 'tls',
  /** Implicit TLS from the first byte (RFC 8314), usually port 465. */
  IMPLICIT_SSL: 'ssl',
} as const);
export type SmtpEncryption = (typeof SmtpEncryption)[keyof typeof SmtpEncryption];

export const SmtpDeliveryStatus = Object.freeze({
  SUCCESS: 'success',
  /** Permanent failure (5xx after the data, or a permanent error). */
  FAILED: 'failed',
  RETRY: 'retry',
  /** The message failed validation; nothing was sent. */
  INVALID: 'invalid',
  /** The sender or every recipient was refused. */
  REJECTED: 'rejected',
  /** Temporary failure, retries exhausted or off; retryable later. */
  TEMP_FAILED: 'temp_failed',
  /**
   * The connection died after the message was handed over and before the server's reply: it may or may
   * not have been delivered. Never resent automatically.
   */
  UNKNOWN: 'unknown',
} as const);
export type SmtpDeliveryStatus = (typeof SmtpDeliveryStatus)[keyof typeof SmtpDeliveryStatus];

/** Default ports per encryption mode (RFC 5321, RFC 6409, RFC 8314). */
export const DEFAULT_PORTS: Readonly<Record<SmtpEncryption, number>> = Object.freeze({ none: 25, tls: 587, ssl: 465 });

export function isEncryption(value: unknown): value is SmtpEncryption {
  return value === 'none' || value === 'tls' || value === 'ssl';
}

/** The protocol spoken: SMTP (RFC 5321) or LMTP (RFC 2033, local delivery with per-recipient replies). */
export type SmtpProtocol = 'smtp' | 'lmtp';

/** LMTP's default port (RFC 2033 names none; 24 is the IANA "any private mail system" port). */
export const LMTP_PORT = 24;

export function isProtocol(value: unknown): value is SmtpProtocol {
  return value === 'smtp' || value === 'lmtp';
}

/** The default port: 24 for LMTP, else by encryption ({@link DEFAULT_PORTS}). */
export function defaultPort(encryption: SmtpEncryption, protocol: SmtpProtocol | undefined): number {
  return protocol === 'lmtp' ? LMTP_PORT : DEFAULT_PORTS[encryption];
}
