/**
 * smtpwire's typed errors and DeliveryResults → nodemailer's error objects (`code`, `response`,
 * `responseCode`, `command`, `rejected`), for `smtpwire/nodemailer`.
 */
import {
  AuthError,
  ClosedError,
  ConnectionError,
  ErrorCodes,
  ReplyError,
  type SmtpError,
  TimeoutError,
  TlsError,
} from '../errors.js';
import type { DeliveryResult } from '../send/result.js';

/** nodemailer's error codes, plus smtpwire's for a handed-over message whose reply was lost. */
export type NodemailerErrorCode =
  | 'EAUTH'
  | 'ECONNECTION'
  | 'ESOCKET'
  | 'ETLS'
  | 'EENVELOPE'
  | 'ETIMEDOUT'
  | 'EMESSAGE'
  | typeof ErrorCodes.OUTCOME_UNKNOWN;

/** A rejection of `sendMail` / `verify`: nodemailer's `code`, `response`, `responseCode`, plus smtpwire's detail. */
export interface NodemailerError extends Error {
  code: NodemailerErrorCode;
  response?: string;
  responseCode?: number;
  command?: string;
  /** Recipients refused (EENVELOPE). */
  rejected?: string[];
  /** smtpwire's own code (`ERR_SMTP_*`), when a typed error decided it. */
  smtpwireCode?: string;
  /** True when the message reached the server before the failure: never resend it blindly. */
  messageHandedOver: boolean;
  messageId?: string | null;
  /** smtpwire's full result (absent for `verify`). */
  result?: DeliveryResult;
}

/** An Error with nodemailer's fields; `messageHandedOver` false unless given. */
export function nodemailerError(
  code: NodemailerErrorCode,
  message: string,
  extra: Partial<Omit<NodemailerError, 'code' | 'message'>> & { cause?: unknown } = {},
): NodemailerError {
  const { cause, ...rest } = extra;
  const err = new Error(message, cause === undefined ? undefined : { cause }) as NodemailerError;
  Object.assign(err, { messageHandedOver: false }, rest, { code });
  return err;
}

/** A typed smtpwire error → nodemailer's code. */
function codeOf(err: SmtpError | null): NodemailerErrorCode {
  if (err === null) return 'ECONNECTION';
  if (err.messageHandedOver) return ErrorCodes.OUTCOME_UNKNOWN;
  if (err instanceof AuthError) return 'EAUTH';
  if (err instanceof TimeoutError) return 'ETIMEDOUT';
  if (err instanceof TlsError) return 'ETLS';
  // A socket-level failure (refused, reset, unreachable) is ESOCKET in nodemailer; a session that
  // ended early, ECONNECTION.
  if (err instanceof ConnectionError && typeof (err.cause as { code?: unknown } | undefined)?.code === 'string')
    return 'ESOCKET';
  if (err instanceof ConnectionError || err instanceof ClosedError) return 'ECONNECTION';
  if (err instanceof ReplyError) return err.code === ErrorCodes.GREETING_REFUSED ? 'ECONNECTION' : 'EENVELOPE';
  if (err.code === ErrorCodes.INVALID_ADDRESS) return 'EENVELOPE';
  return 'EMESSAGE';
}

/** A typed smtpwire error (verify, or a failed send) → nodemailer's error. */
export function fromSmtpError(err: SmtpError | null, result: DeliveryResult | null): NodemailerError {
  const reply = err instanceof ReplyError ? err : null;
  const auth = err instanceof AuthError ? err : null;
  return nodemailerError(codeOf(err), err?.message ?? 'connection failed', {
    cause: err ?? undefined,
    ...(reply ? { response: reply.response, responseCode: reply.replyCode } : {}),
    ...(auth?.replyCode ? { responseCode: auth.replyCode } : {}),
    ...(err?.command ? { command: err.command } : {}),
    ...(err ? { smtpwireCode: err.code, messageHandedOver: err.messageHandedOver } : {}),
    ...(result ? { result, messageId: result.messageId } : {}),
  });
}

/** A DeliveryResult that is not a success → nodemailer's error. */
export function fromResult(result: DeliveryResult): NodemailerError {
  if (result.status === 'unknown') {
    return nodemailerError(
      ErrorCodes.OUTCOME_UNKNOWN,
      `the message was handed over but its reply was lost: it may have been delivered (${result.smtpError ?? 'no reply'}); check before resending ${result.messageId ?? ''}`.trim(),
      { messageHandedOver: true, messageId: result.messageId, result, cause: result.error ?? undefined },
    );
  }
  if (result.error) {
    const err = fromSmtpError(result.error, result);
    // A refusal decided by the validator (nothing sent) is a message error, as nodemailer's own checks.
    if (result.status === 'invalid' && err.code !== 'EENVELOPE') err.code = 'EMESSAGE';
    return err;
  }
  const rejected = Object.keys(result.recipientFailures);
  const response = result.smtpError ?? '';
  if (result.status === 'invalid') return nodemailerError('EMESSAGE', response || 'invalid message', { result });
  // Refused at MAIL or RCPT (nothing accepted) is an envelope error; refused after the data, a message error.
  const envelopeStage = result.status === 'rejected' || (result.acceptedRecipients ?? []).length === 0;
  const code = envelopeStage ? 'EENVELOPE' : 'EMESSAGE';
  const text =
    envelopeStage && rejected.length
      ? `Can't send mail - all recipients were rejected: ${response}`
      : `Message failed: ${response}`;
  return nodemailerError(code, text, {
    response,
    ...(result.smtpCode === null ? {} : { responseCode: result.smtpCode }),
    ...(rejected.length ? { rejected } : {}),
    messageId: result.messageId,
    result,
  });
}

/** One refused recipient of an accepted message, for `info.rejectedErrors`. */
export function recipientError(recipient: string, result: DeliveryResult): NodemailerError {
  const response = result.recipientFailures[recipient] ?? '';
  const code = Number(response.slice(0, 3));
  return nodemailerError('EENVELOPE', `Recipient command failed: ${response}`, {
    response,
    ...(Number.isInteger(code) && code > 0 ? { responseCode: code } : {}),
    command: 'RCPT TO',
    rejected: [recipient],
  });
}
