/**
 * How one attempt's end becomes a DeliveryResult: a MailOutcome (replies) or an error, under the
 * retry policy; the LMTP per-recipient rules (RFC 2033 §4.2); and the INVALID result for a message
 * refused before anything was sent. No I/O (an LMTP result narrows the job's open recipients for the
 * retry); the attempt loop is `delivery.ts`.
 */
import type { Job } from './delivery.js';
import { SmtpDeliveryStatus } from './enums.js';
import { ReplyError, toSmtpError } from './errors.js';
import { formatReply, type Reply } from './protocol/reply.js';
import { DeliveryResult } from './result.js';
import { isRetryable, isRetryableReply, type RetryPolicy } from './retry.js';
import type { MailOutcome } from './transport/connection.js';

/** The result of an attempt that got replies; the LMTP rules first when each recipient had its own. */
export function fromOutcome(policy: RetryPolicy, job: Job, outcome: MailOutcome, attempt: number): DeliveryResult {
  if (outcome.recipientReplies) {
    const lmtp = fromLmtpOutcome(policy, job, outcome, attempt);
    if (lmtp) return lmtp;
  }
  const { asGiven } = job.prepared;
  const recipientFailures: Record<string, string> = { ...job.settled?.failures };
  for (const r of outcome.rejected) recipientFailures[asGiven(r.recipient)] = formatReply(r.reply);
  const response = formatReply(outcome.reply);
  const base = {
    messageId: job.prepared.messageId,
    smtpCode: outcome.reply.code,
    smtpError: outcome.delivered ? null : response,
    enhancedCode: outcome.reply.enhanced,
    response,
    recipientFailures,
    acceptedRecipients: [...(job.settled?.delivered ?? []), ...outcome.accepted.map(asGiven)],
    retryCount: attempt,
  };
  if (outcome.delivered) return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.SUCCESS, sentAt: new Date() });
  const transient = (reply: Reply): boolean => isRetryableReply(reply.code, policy);
  switch (outcome.stage) {
    case 'mail':
      return transient(outcome.reply)
        ? new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true })
        : new DeliveryResult({ ...base, status: SmtpDeliveryStatus.REJECTED });
    case 'rcpt':
      // Every recipient refused: worth another try only if every refusal was temporary.
      return outcome.rejected.every((r) => transient(r.reply))
        ? new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true })
        : new DeliveryResult({ ...base, status: SmtpDeliveryStatus.REJECTED });
    case 'data':
    case 'final':
      return transient(outcome.reply)
        ? new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true })
        : new DeliveryResult({ ...base, status: SmtpDeliveryStatus.FAILED });
  }
}

/**
 * LMTP (RFC 2033 §4.2) after the data: when some recipients failed transiently, the result is
 * TEMP_FAILED and retryable, and the job's envelope is narrowed to them, so a retry never reaches a
 * recipient already delivered. Null when no recipient is open for a retry (the usual rules apply).
 */
function fromLmtpOutcome(policy: RetryPolicy, job: Job, outcome: MailOutcome, attempt: number): DeliveryResult | null {
  const retryable = outcome.rejected.filter((r) => isRetryableReply(r.reply.code, policy));
  if (retryable.length === 0) return null;
  if (outcome.accepted.length === 0 && retryable.length === outcome.rejected.length) {
    // Nothing delivered, every failure transient: the ordinary whole-message retry, to those recipients.
    job.openRecipients = retryable.map((r) => r.recipient);
    return null;
  }
  job.settled ??= { delivered: [], failures: {} };
  const settled = job.settled;
  const { asGiven } = job.prepared;
  for (const a of outcome.accepted) settled.delivered.push(asGiven(a));
  const recipientFailures: Record<string, string> = {};
  for (const r of outcome.rejected) {
    const text = formatReply(r.reply);
    recipientFailures[asGiven(r.recipient)] = text;
    if (!retryable.includes(r)) settled.failures[asGiven(r.recipient)] = text;
  }
  job.openRecipients = retryable.map((r) => r.recipient);
  const reply = retryable[0]!.reply;
  return new DeliveryResult({
    status: SmtpDeliveryStatus.TEMP_FAILED,
    isRetryable: true,
    messageId: job.prepared.messageId,
    smtpCode: reply.code,
    smtpError: formatReply(reply),
    response: formatReply(reply),
    enhancedCode: reply.enhanced,
    recipientFailures: { ...settled.failures, ...recipientFailures },
    acceptedRecipients: [...settled.delivered],
    retryCount: attempt,
  });
}

export function fromError(
  policy: RetryPolicy,
  job: Job,
  err: unknown,
  attempt: number,
  accepted: readonly string[] | null,
  nothingSent = false,
): DeliveryResult {
  const error = toSmtpError(err);
  const reply = error instanceof ReplyError ? error : null;
  const base = {
    messageId: job.prepared.messageId,
    smtpCode: error.replyCode,
    smtpError: reply ? reply.response : error.message,
    enhancedCode: error.enhancedCode,
    response: reply ? replyText(reply) : null,
    // Kept for UNKNOWN too: these recipients were accepted before the connection was lost. With LMTP, those an
    // earlier attempt delivered to come first: a caller must never be led to resend to them.
    acceptedRecipients: [...(job.settled?.delivered ?? []), ...(accepted ?? []).map(job.prepared.asGiven)],
    recipientFailures: { ...job.settled?.failures },
    retryCount: attempt,
    error,
  };
  if (error.messageHandedOver) return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.UNKNOWN });
  if (nothingSent) return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.INVALID });
  if (isRetryable(error, policy))
    return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.TEMP_FAILED, isRetryable: true });
  return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.FAILED });
}

/** The fields of an earlier result, to re-issue it with another status. */
export function resultFields(r: DeliveryResult) {
  return {
    messageId: r.messageId,
    smtpCode: r.smtpCode,
    smtpError: r.smtpError,
    enhancedCode: r.enhancedCode,
    response: r.response,
    recipientFailures: r.recipientFailures,
    acceptedRecipients: r.acceptedRecipients,
    sentAt: r.sentAt,
    retryCount: r.retryCount,
    isRetryable: r.isRetryable,
    error: r.error,
  };
}

/** `550 5.1.1 text`: the reply behind a ReplyError, as a result's `response`. */
function replyText(err: ReplyError): string {
  return formatReply({ code: err.replyCode, enhanced: err.enhancedCode, lines: err.lines });
}

/** An INVALID result: nothing was sent. */
export function invalid(err: unknown): DeliveryResult {
  const error = toSmtpError(err);
  return new DeliveryResult({
    status: SmtpDeliveryStatus.INVALID,
    messageId: null,
    smtpError: error.message,
    error,
  });
}
