/**
 * Every error smtpwire throws, with a stable `code` string (`ERR_SMTP_*`).
 *
 * The codes are the contract (listed in the README); messages may change. Errors wrap,
 * never replace: the low-level error stays in `cause`. Messages never contain a secret.
 */

/** Every stable error code, grouped by class. */
export const ErrorCodes = Object.freeze({
  // SmtpError (base)
  INVALID_STATE: 'ERR_SMTP_INVALID_STATE',
  /** Not a protocol fault: an unexpected exception (a bug, or one thrown by caller code) wrapped as-is in `cause`. */
  INTERNAL: 'ERR_SMTP_INTERNAL',
  BODY_SOURCE: 'ERR_SMTP_BODY_SOURCE',
  HANDOVER_REFUSED: 'ERR_SMTP_HANDOVER_REFUSED',
  // ReplyError
  REPLY: 'ERR_SMTP_REPLY',
  GREETING_REFUSED: 'ERR_SMTP_GREETING_REFUSED',
  // ProtocolError
  PROTOCOL: 'ERR_SMTP_PROTOCOL',
  LINE_TOO_LONG: 'ERR_SMTP_LINE_TOO_LONG',
  UNEXPECTED_REPLY: 'ERR_SMTP_UNEXPECTED_REPLY',
  // ConnectionError
  CONNECTION: 'ERR_SMTP_CONNECTION',
  CONNECTION_CLOSED: 'ERR_SMTP_CONNECTION_CLOSED',
  OUTCOME_UNKNOWN: 'ERR_SMTP_OUTCOME_UNKNOWN',
  // TimeoutError
  TIMEOUT: 'ERR_SMTP_TIMEOUT',
  // TlsError
  TLS: 'ERR_SMTP_TLS',
  TLS_MODE_MISMATCH: 'ERR_SMTP_TLS_MODE_MISMATCH',
  STARTTLS_UNAVAILABLE: 'ERR_SMTP_STARTTLS_UNAVAILABLE',
  // AuthError
  AUTH: 'ERR_SMTP_AUTH',
  AUTH_UNAVAILABLE: 'ERR_SMTP_AUTH_UNAVAILABLE',
  AUTH_INSECURE: 'ERR_SMTP_AUTH_INSECURE',
  /** SCRAM: the server's signature (`v=`) is wrong or missing: it does not know the password. */
  AUTH_SERVER_PROOF: 'ERR_SMTP_AUTH_SERVER_PROOF',
  /** A malformed or unacceptable SASL challenge (bad nonce, too few iterations, bad base64). */
  AUTH_CHALLENGE: 'ERR_SMTP_AUTH_CHALLENGE',
  // CapabilityError
  CAPABILITY: 'ERR_SMTP_CAPABILITY',
  SIZE_EXCEEDED: 'ERR_SMTP_SIZE_EXCEEDED',
  SMTPUTF8_UNSUPPORTED: 'ERR_SMTP_SMTPUTF8_UNSUPPORTED',
  EIGHTBIT_UNSUPPORTED: 'ERR_SMTP_8BITMIME_UNSUPPORTED',
  // InvalidArgumentError
  INVALID_ARGUMENT: 'ERR_SMTP_INVALID_ARGUMENT',
  INVALID_ADDRESS: 'ERR_SMTP_INVALID_ADDRESS',
  HEADER_INJECTION: 'ERR_SMTP_HEADER_INJECTION',
  INVALID_HEADER: 'ERR_SMTP_INVALID_HEADER',
  INVALID_ATTACHMENT: 'ERR_SMTP_INVALID_ATTACHMENT',
  BODY_LINE_TOO_LONG: 'ERR_SMTP_BODY_LINE_TOO_LONG',
  DKIM_KEY: 'ERR_SMTP_DKIM_KEY',
  DKIM_SIGN: 'ERR_SMTP_DKIM_SIGN',
  /** A user name or password SASLprep (RFC 4013) refuses: a prohibited character or a bidi mix. */
  SASLPREP: 'ERR_SMTP_SASLPREP',
  // DnsError (delivery to a domain)
  /** A DNS lookup failed for now (SERVFAIL, a timeout, a bogus DNSSEC answer): temporary, never a downgrade. */
  DNS: 'ERR_SMTP_DNS',
  /** A DNS message that cannot be parsed (truncated, a compression loop, a bad length). */
  DNS_MALFORMED: 'ERR_SMTP_DNS_MALFORMED',
  /** The domain publishes a null MX (RFC 7505) or does not exist: it accepts no mail. Permanent. */
  NO_MAIL_DOMAIN: 'ERR_SMTP_NO_MAIL_DOMAIN',
  // TlsError raised by a transport-security policy (MTA-STS, DANE, REQUIRETLS)
  /** A policy (MTA-STS enforce, DANE) refused this MX host or its certificate. */
  TLS_POLICY: 'ERR_SMTP_TLS_POLICY',
  /** REQUIRETLS (RFC 8689): no validated TLS path, or the server does not offer REQUIRETLS. */
  REQUIRETLS: 'ERR_SMTP_REQUIRETLS',
  // ClosedError / AbortError
  CLOSED: 'ERR_SMTP_CLOSED',
  ABORTED: 'ERR_SMTP_ABORTED',
} as const);

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface SmtpErrorOptions {
  code?: ErrorCode;
  cause?: unknown;
  /** The command line that was being run, redacted (never an AUTH payload). */
  command?: string;
  /**
   * True when the failure came after the whole message reached the server (final dot or last BDAT
   * chunk written) and before its reply: the server may have accepted it, so it must not be resent blindly.
   */
  messageHandedOver?: boolean;
}

/** Base of every smtpwire error. */
export class SmtpError extends Error {
  override name = 'SmtpError';
  readonly code: ErrorCode;
  readonly command: string | undefined;
  readonly messageHandedOver: boolean;
  /**
   * The server's reply code when a reply caused this error (ReplyError, AuthError refused by the
   * server), else null: one question for "did the server say no?", with no per-class special cases.
   */
  readonly replyCode: number | null;
  /** The reply's enhanced status code (e.g. `5.7.8`), when there was a reply that carried one. */
  readonly enhancedCode: string | null;

  constructor(
    message: string,
    options: SmtpErrorOptions & { replyCode?: number | null; enhancedCode?: string | null } = {},
    defaultCode: ErrorCode = ErrorCodes.INTERNAL,
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? defaultCode;
    this.command = options.command;
    this.messageHandedOver = options.messageHandedOver ?? false;
    this.replyCode = options.replyCode ?? null;
    this.enhancedCode = options.enhancedCode ?? null;
  }
}

/**
 * The one wrapper for anything thrown that is not an SmtpError: `ERR_SMTP_INTERNAL`, the original in
 * `cause`. Never a protocol or connection code: those say something about the server that is not known.
 */
export function toSmtpError(err: unknown): SmtpError {
  if (err instanceof SmtpError) return err;
  return new SmtpError(`unexpected failure: ${(err as Error)?.message ?? String(err)}`, {
    code: ErrorCodes.INTERNAL,
    cause: err,
  });
}

export interface ReplyErrorOptions extends SmtpErrorOptions {
  replyCode: number;
  enhancedCode?: string | null;
  lines: readonly string[];
}

/** The server answered 4xx or 5xx (or another code the step did not expect). */
export class ReplyError extends SmtpError {
  override name = 'ReplyError';
  declare readonly replyCode: number;
  readonly lines: readonly string[];

  constructor(message: string, options: ReplyErrorOptions) {
    super(message, options, ErrorCodes.REPLY);
    this.lines = options.lines;
  }

  /** 4xx: RFC 5321 §4.2.1 "transient negative completion". */
  get transient(): boolean {
    return this.replyCode >= 400 && this.replyCode < 500;
  }

  /** 5xx: permanent. */
  get permanent(): boolean {
    return this.replyCode >= 500 && this.replyCode < 600;
  }

  /** The reply as one line, e.g. `550 5.1.1 No such user`. */
  get response(): string {
    return `${this.replyCode} ${this.lines.join(' ')}`.trimEnd();
  }
}

/** Malformed, over-long or out-of-order reply. Poisons the connection. */
export class ProtocolError extends SmtpError {
  override name = 'ProtocolError';
  constructor(message: string, options: SmtpErrorOptions = {}) {
    super(message, options, ErrorCodes.PROTOCOL);
  }
}

/** Refused, reset or closed early (`ERR_SMTP_OUTCOME_UNKNOWN` when it happened after the message was handed over). */
export class ConnectionError extends SmtpError {
  override name = 'ConnectionError';
  constructor(message: string, options: SmtpErrorOptions = {}) {
    super(message, options, ErrorCodes.CONNECTION);
  }
}

export type TimeoutPhase = 'connect' | 'greeting' | 'tls' | 'command' | 'dataIdle' | 'finalReply' | 'acquire';

export interface TimeoutErrorOptions extends SmtpErrorOptions {
  phase: TimeoutPhase;
  timeout: number;
}

/** A step took longer than its timeout. Poisons the connection. */
export class TimeoutError extends SmtpError {
  override name = 'TimeoutError';
  readonly phase: TimeoutPhase;
  /** The limit that ran out, in ms. */
  readonly timeout: number;
  constructor(message: string, options: TimeoutErrorOptions) {
    super(message, options, ErrorCodes.TIMEOUT);
    this.phase = options.phase;
    this.timeout = options.timeout;
  }
}

/** TLS handshake or certificate failure, STARTTLS missing, implicit TLS vs STARTTLS mix-up. */
export class TlsError extends SmtpError {
  override name = 'TlsError';
  /** `replyCode` / `enhancedCode` when a reply caused it (STARTTLS refused). */
  constructor(message: string, options: SmtpErrorOptions & { replyCode?: number; enhancedCode?: string | null } = {}) {
    super(message, options, ErrorCodes.TLS);
  }
}

export interface AuthErrorOptions extends SmtpErrorOptions {
  replyCode?: number;
  enhancedCode?: string | null;
  /** The refusing reply's text lines (without code), as ReplyError keeps them. */
  lines?: readonly string[];
}

/**
 * Authentication refused (535 …: `replyCode` set, like every error a reply caused), no usable
 * mechanism, or credentials over plaintext (`replyCode` null).
 */
export class AuthError extends SmtpError {
  override name = 'AuthError';
  /** The refusing reply's text lines (empty when no reply refused: no mechanism, plaintext). */
  readonly lines: readonly string[];
  constructor(message: string, options: AuthErrorOptions = {}) {
    super(message, options, ErrorCodes.AUTH);
    this.lines = options.lines ?? [];
  }
}

/** The message needs an extension the server does not offer (SMTPUTF8, 8BITMIME) or exceeds its SIZE. */
export class CapabilityError extends SmtpError {
  override name = 'CapabilityError';
  constructor(message: string, options: SmtpErrorOptions = {}) {
    super(message, options, ErrorCodes.CAPABILITY);
  }
}

export interface InvalidArgumentErrorOptions extends SmtpErrorOptions {
  /** The option or field at fault, e.g. `timeouts.command` or `subject`. */
  field?: string;
  /** For parse errors: the 0-based offset in the input where parsing failed. */
  position?: number;
}

/** A caller's value is unusable: bad option, CR/LF in an argument, malformed address or header. */
export class InvalidArgumentError extends SmtpError {
  override name = 'InvalidArgumentError';
  readonly field: string | undefined;
  readonly position: number | undefined;
  constructor(message: string, options: InvalidArgumentErrorOptions = {}) {
    super(message, options, ErrorCodes.INVALID_ARGUMENT);
    this.field = options.field;
    this.position = options.position;
  }
}

/** The connection, handler or pool was closed or destroyed. */
export class ClosedError extends SmtpError {
  override name = 'ClosedError';
  constructor(message = 'closed', options: SmtpErrorOptions = {}) {
    super(message, options, ErrorCodes.CLOSED);
  }
}

/** An AbortSignal fired. `cause` holds the signal's reason. */
export class AbortError extends SmtpError {
  override name = 'AbortError';
  constructor(message = 'aborted', options: SmtpErrorOptions = {}) {
    super(message, options, ErrorCodes.ABORTED);
  }
}

/**
 * Characters that end a line somewhere: CR, LF and NUL (SMTP, RFC 5322), VT and FF (treated as line breaks by some
 * parsers), NEL U+0085 and the Unicode line and paragraph separators U+2028/U+2029 (read as line ends by
 * Unicode-aware software). One set for every command, header and parameter a caller's value reaches.
 */
const LINE_BREAK = /[\r\n\0\v\f\u0085\u2028\u2029]/;
const BREAK_NAMES: Readonly<Record<string, string>> = {
  '\r': 'CR',
  '\n': 'LF',
  '\0': 'NUL',
  '\v': 'VT',
  '\f': 'FF',
  '\u0085': 'NEL (U+0085)',
  '\u2028': 'LINE SEPARATOR (U+2028)',
  '\u2029': 'PARAGRAPH SEPARATOR (U+2029)',
};

/** The first line-breaking character in `value` (see {@link assertNoLineBreaks}), or null. */
export function findLineBreak(value: string): { name: string; index: number } | null {
  const m = LINE_BREAK.exec(value);
  return m === null ? null : { name: BREAK_NAMES[m[0]]!, index: m.index };
}

/**
 * The one guard against a caller's value starting a new line of a header or a command: throws
 * InvalidArgumentError `ERR_SMTP_HEADER_INJECTION` (whatever the field) when `value` holds CR, LF, NUL, VT, FF,
 * U+0085, U+2028 or U+2029, naming the field, the character and its index (`position`).
 */
export function assertNoLineBreaks(value: string, field: string): void {
  const found = findLineBreak(value);
  if (found === null) return;
  throw new InvalidArgumentError(
    `${field} must not contain CR, LF or NUL, nor VT, FF, U+0085, U+2028 or U+2029 (found ${found.name} at index ${found.index})`,
    { field, code: ErrorCodes.HEADER_INJECTION, position: found.index },
  );
}

export interface DnsErrorOptions extends SmtpErrorOptions {
  /** True for a failure that may pass (SERVFAIL, timeout, network); false for a permanent answer. */
  temporary: boolean;
  /** The DNS response code name when a server answered (`SERVFAIL`, `NXDOMAIN` …), else null. */
  rcode?: string | null;
}

/** A DNS lookup failed or its answer rules the domain out (delivery to a domain, `transport: 'mx'`). */
export class DnsError extends SmtpError {
  override name = 'DnsError';
  readonly temporary: boolean;
  readonly rcode: string | null;
  constructor(message: string, options: DnsErrorOptions) {
    super(message, options, ErrorCodes.DNS);
    this.temporary = options.temporary;
    this.rcode = options.rcode ?? null;
  }
}
