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
  const earlier = job.settled?.delivered ?? [];
  // A 2xx to the dot delivers to every recipient accepted at RCPT (LMTP: `accepted` holds those whose own reply
  // was 2xx). Anything short of that delivers to no one in this attempt.
  const deliveredRecipients = [...earlier, ...(outcome.delivered ? outcome.accepted.map(asGiven) : [])];
  const transient = (reply: Reply): boolean => isRetryableReply(reply.code, policy);
  const base = {
    messageId: job.prepared.messageId,
    smtpCode: outcome.reply.code,
    smtpError: outcome.delivered ? null : response,
    enhancedCode: outcome.reply.enhanced,
    response,
    recipientFailures,
    acceptedRecipients: [...earlier, ...outcome.accepted.map(asGiven)],
    deliveredRecipients,
    pendingRecipients: pendingOf(policy, job, outcome, deliveredRecipients.length > 0, transient(outcome.reply)),
    retryCount: attempt,
  };
  if (outcome.delivered) return new DeliveryResult({ ...base, status: SmtpDeliveryStatus.SUCCESS, sentAt: new Date() });
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
 * The recipients a follow-up transaction to them alone may still reach, once someone has the message
 * (`somethingDelivered`): those refused temporarily at RCPT, or — when this attempt delivered to no one and
 * failed temporarily — every recipient it was sent to. Empty while nothing was delivered: then the whole
 * message is retried (or not) as one.
 */
function pendingOf(
  policy: RetryPolicy,
  job: Job,
  outcome: MailOutcome | null,
  somethingDelivered: boolean,
  transientFailure: boolean,
): string[] {
  if (!somethingDelivered) return [];
  const { asGiven } = job.prepared;
  if (outcome?.delivered) {
    const afterData = new Set(outcome.recipientReplies?.map((r) => r.recipient));
    return outcome.rejected
      .filter((r) => !afterData.has(r.recipient) && isRetryableReply(r.reply.code, policy))
      .map((r) => asGiven(r.recipient));
  }
  return transientFailure ? (job.openRecipients ?? job.prepared.envelope.to).map(asGiven) : [];
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
    deliveredRecipients: [...settled.delivered],
    pendingRecipients: settled.delivered.length > 0 ? pendingOf(policy, job, outcome, true, true) : [],
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
    deliveredRecipients: [...(job.settled?.delivered ?? [])],
    pendingRecipients: pendingOf(
      policy,
      job,
      null,
      (job.settled?.delivered.length ?? 0) > 0,
      !error.messageHandedOver && isRetryable(error, policy),
    ),
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
    deliveredRecipients: r.deliveredRecipients,
    pendingRecipients: r.pendingRecipients,
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
