/**
 * smtpwire's typed errors and DeliveryResults → nodemailer's error objects: `code`, `command`
 * (`'CONN'`, `'EHLO'`, `'AUTH PLAIN'`, `'MAIL FROM'`, `'RCPT TO'`, `'DATA'`, `'API'`), `response`,
 * `responseCode`, `permanent`, `rejected`, `rejectedErrors`, and a socket failure's `errno`,
 * `syscall`, `address`, `port` and `originalCode`, as nodemailer's SMTP connection sets them.
 */
import {
  AuthError,
  ClosedError,
  ConnectionError,
  ErrorCodes,
  InvalidArgumentError,
  ReplyError,
  type SmtpError,
  TimeoutError,
  TlsError,
} from '../../errors.js';
import { formatReply } from '../../protocol/reply.js';
import type { DeliveryResult } from '../../send/result.js';

/** nodemailer's error codes, plus smtpwire's for a handed-over message whose reply was lost. */
export type NodemailerErrorCode =
  | 'EAUTH'
  | 'ECONNECTION'
  | 'ESOCKET'
  | 'ETLS'
  | 'EENVELOPE'
  | 'ETIMEDOUT'
  | 'EMESSAGE'
  | 'EPROTOCOL'
  | 'ESTREAM'
  | 'EPROXY'
  | 'ECONFIG'
  | 'EREQUIRETLS'
  | 'ESENDMAIL'
  | 'EABORT'
  | 'EMAXRECIPIENTS'
  | 'EFILEACCESS'
  | 'EURLACCESS'
  | 'EFETCH'
  | typeof ErrorCodes.OUTCOME_UNKNOWN;

/** A rejection of `sendMail` / `verify`: nodemailer's fields plus smtpwire's detail. */
export interface NodemailerError extends Error {
  code: NodemailerErrorCode | string;
  response?: string;
  responseCode?: number;
  /** True for a 5xx reply. */
  permanent?: boolean;
  command?: string;
  /** Recipients refused (EENVELOPE). */
  rejected?: string[];
  rejectedErrors?: NodemailerError[];
  /** The refused recipient of one entry of `rejectedErrors`. */
  recipient?: string;
  /** A socket failure's own code (`ECONNREFUSED` …), with Node's `errno`, `syscall`, `address`, `port`. */
  originalCode?: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
  /** smtpwire's own code (`ERR_SMTP_*`), when a typed error decided it. */
  smtpwireCode?: string;
  /** True when the message reached the server before the failure: never resend it blindly. */
  messageHandedOver: boolean;
  messageId?: string | null;
  /** smtpwire's full result (absent for `verify`). */
  result?: DeliveryResult;
}

type Extra = Partial<Omit<NodemailerError, 'code' | 'message'>> & { cause?: unknown };

/** An Error with nodemailer's fields; `response` appended to the message as nodemailer does. */
export function nodemailerError(
  code: NodemailerErrorCode | string,
  message: string,
  extra: Extra = {},
): NodemailerError {
  const { cause, ...rest } = extra;
  const text = rest.response ? `${message}: ${rest.response}` : message;
  const err = new Error(text, cause === undefined ? undefined : { cause }) as NodemailerError;
  Object.assign(err, { messageHandedOver: false }, rest, { code });
  if (typeof rest.responseCode === 'number')
    err.permanent = rest.responseCode >= 500 && rest.responseCode < 600 && rest.responseCode !== 503;
  return err;
}

/** nodemailer's `command` for an smtpwire command line (redacted: never an AUTH payload). */
export function commandOf(err: SmtpError | null): string {
  if (err === null) return 'CONN';
  if (err instanceof InvalidArgumentError) return 'API';
  // nodemailer's timeouts are the socket's: 'CONN', whatever was in flight.
  if (err instanceof TimeoutError) return 'CONN';
  const line = (err.command ?? '').toUpperCase();
  if (line.startsWith('MAIL')) return 'MAIL FROM';
  if (line.startsWith('RCPT')) return 'RCPT TO';
  if (line.startsWith('DATA') || line.startsWith('BDAT') || line === '.') return 'DATA';
  if (line.startsWith('AUTH')) return line.split(/\s+/).slice(0, 2).join(' ');
  if (line.startsWith('EHLO') || line.startsWith('HELO')) return 'EHLO';
  if (line.startsWith('LHLO')) return 'LHLO';
  if (line.startsWith('STARTTLS') || err.code === ErrorCodes.STARTTLS_UNAVAILABLE) return 'STARTTLS';
  if (err instanceof AuthError) return 'AUTH';
  return 'CONN';
}

/** A typed smtpwire error → nodemailer's code. */
function codeOf(err: SmtpError | null): NodemailerErrorCode {
  if (err === null) return 'ECONNECTION';
  if (err.messageHandedOver) return ErrorCodes.OUTCOME_UNKNOWN;
  if (err instanceof AuthError) return 'EAUTH';
  if (err instanceof TimeoutError) return 'ETIMEDOUT';
  // A refused STARTTLS is ETLS in nodemailer; a failed handshake reaches it as a socket error.
  if (err instanceof TlsError) return err.code === ErrorCodes.STARTTLS_UNAVAILABLE || err.command ? 'ETLS' : 'ESOCKET';
  if (err.code === ErrorCodes.STARTTLS_UNAVAILABLE) return 'ETLS';
  if (err instanceof ConnectionError && socketCause(err) !== null) return 'ESOCKET';
  if (err instanceof ConnectionError || err instanceof ClosedError) return 'ECONNECTION';
  if (err instanceof ReplyError) {
    if (err.code === ErrorCodes.GREETING_REFUSED) return 'EPROTOCOL';
    const command = commandOf(err);
    // Refused while the session is set up (EHLO, a 421 before MAIL): nodemailer's connection error.
    if (command === 'EHLO' || command === 'LHLO' || command === 'CONN') return 'ECONNECTION';
    return command === 'DATA' ? 'EMESSAGE' : 'EENVELOPE';
  }
  if (err.code === ErrorCodes.INVALID_ADDRESS) return 'EENVELOPE';
  if (err.code === ErrorCodes.PROTOCOL || err.code === ErrorCodes.UNEXPECTED_REPLY) return 'EPROTOCOL';
  if (err.code === ErrorCodes.BODY_SOURCE) return 'ESTREAM';
  return 'EMESSAGE';
}

/** Node's system error behind a connection failure (refused, reset, unreachable), if any. */
function socketCause(err: unknown): NodeJS.ErrnoException | null {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const o = e as NodeJS.ErrnoException;
    if (typeof o.syscall === 'string' || typeof o.errno === 'number') return o;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

function socketFields(err: unknown): Extra {
  const s = socketCause(err);
  if (s === null) return {};
  const a = s as NodeJS.ErrnoException & { address?: string; port?: number };
  const out: Extra = {};
  if (typeof a.code === 'string') out.originalCode = a.code;
  if (typeof a.errno === 'number') out.errno = a.errno;
  if (typeof a.syscall === 'string') out.syscall = a.syscall;
  if (typeof a.address === 'string') out.address = a.address;
  if (typeof a.port === 'number') out.port = a.port;
  return out;
}

/** The server's reply behind an error, as nodemailer quotes it (`535 5.7.8 text`). */
function replyText(err: SmtpError | null): string | undefined {
  if (err instanceof ReplyError)
    return formatReply({ code: err.replyCode, enhanced: err.enhancedCode, lines: err.lines });
  if (err instanceof AuthError && err.replyCode !== null)
    return formatReply({ code: err.replyCode, enhanced: err.enhancedCode, lines: err.lines });
  return undefined;
}

/** A typed smtpwire error (verify, or a failed send) → nodemailer's error. */
export function fromSmtpError(err: SmtpError | null, result: DeliveryResult | null): NodemailerError {
  // Our own callbacks (the OAuth2 token provider) throw nodemailer's errors; the engine wraps them.
  const own = err?.code === ErrorCodes.INTERNAL ? (err.cause as NodemailerError | undefined) : undefined;
  if (own instanceof Error && typeof own.code === 'string' && /^E[A-Z0-9]+$/.test(own.code)) return own;
  const code = codeOf(err);
  const response = replyText(err) ?? result?.response ?? undefined;
  const s = socketCause(err);
  const message = s?.message ?? err?.message ?? 'connection failed';
  return nodemailerError(code, message, {
    cause: err ?? undefined,
    command: commandOf(err),
    ...(response ? { response } : {}),
    ...(err?.replyCode ? { responseCode: err.replyCode } : {}),
    ...socketFields(err),
    ...(err ? { smtpwireCode: err.code, messageHandedOver: err.messageHandedOver } : {}),
    ...(result ? { result, messageId: result.messageId } : {}),
  });
}

/** One refused recipient, as an entry of `rejectedErrors`. */
export function recipientError(recipient: string, response: string, command = 'RCPT TO'): NodemailerError {
  const code = Number(response.slice(0, 3));
  return nodemailerError(command === 'DATA' ? 'EMESSAGE' : 'EENVELOPE', 'Recipient command failed', {
    response,
    ...(Number.isInteger(code) && code > 0 ? { responseCode: code } : {}),
    command,
    recipient,
  });
}

/** A DeliveryResult that is not a success → nodemailer's error; `wire` maps an address to its wire form. */
export function fromResult(result: DeliveryResult, wire: (address: string) => string): NodemailerError {
  if (result.status === 'unknown') {
    return nodemailerError(
      ErrorCodes.OUTCOME_UNKNOWN,
      `the message was handed over but its reply was lost: it may have been delivered (${result.smtpError ?? 'no reply'}); check before resending ${result.messageId ?? ''}`.trim(),
      {
        messageHandedOver: true,
        messageId: result.messageId,
        result,
        command: 'DATA',
        cause: result.error ?? undefined,
      },
    );
  }
  if (result.error) {
    const err = fromSmtpError(result.error, result);
    if (result.status === 'invalid' && err.code !== 'EENVELOPE') {
      err.code = 'EMESSAGE';
      err.command = 'API';
    }
    return err;
  }
  const failures = Object.entries(result.recipientFailures);
  const rejected = failures.map(([r]) => wire(r));
  const rejectedErrors = failures.map(([r, text]) => recipientError(wire(r), text));
  const response = result.response ?? result.smtpError ?? '';
  if (result.status === 'invalid')
    return nodemailerError('EMESSAGE', response || 'invalid message', { result, command: 'API' });
  const accepted = result.acceptedRecipients ?? [];
  const base = {
    response,
    ...(result.smtpCode === null ? {} : { responseCode: result.smtpCode }),
    messageId: result.messageId,
    result,
  };
  if (accepted.length === 0 && failures.length === 0)
    return nodemailerError('EENVELOPE', 'Mail command failed', { ...base, command: 'MAIL FROM' });
  if (accepted.length === 0) {
    // nodemailer reports a temporary refusal when there is one, else the last reply.
    const deferred = rejectedErrors.find((e) => (e.responseCode ?? 500) < 500) ?? rejectedErrors.at(-1);
    return nodemailerError('EENVELOPE', "Can't send mail - all recipients were rejected", {
      ...base,
      response: deferred?.response ?? response,
      ...(deferred?.responseCode ? { responseCode: deferred.responseCode } : {}),
      command: 'RCPT TO',
      rejected,
      rejectedErrors,
    });
  }
  return nodemailerError('EMESSAGE', 'Message failed', { ...base, command: 'DATA' });
}
