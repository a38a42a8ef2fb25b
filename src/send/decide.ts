/**
 * What one attempt's outcome means: the one place that turns replies and errors into a DeliveryResult and
 * says whether (and to whom) another attempt may go. Pure: `(outcome, state) → { result, next }`, no I/O,
 * no mutation of its inputs. The rules are the README's "Result rules" table; each row is a case in
 * test/unit/decide.test.ts.
 *
 * Every recipient of a send is in exactly one of these sets after an attempt:
 * - delivered: the server took the message for it (a 2xx to the final dot — SMTP: every recipient accepted
 *   at RCPT; LMTP: its own 2xx after the data). Certain; never sent to again.
 * - unknown: the message was handed over (the final dot left) and the reply that would say was lost.
 * - refused: a permanent refusal (5xx, or a code outside `retryableCodes`) — at RCPT, after the data (LMTP),
 *   or of the whole transaction.
 * - pending: a temporary refusal (a code in `retryableCodes`, or a failure before the hand-over that
 *   `isRetryable` allows) — at RCPT, after the data, or of the whole transaction. Only these are sent to
 *   again, in a follow-up transaction of their own, while attempts remain.
 */
import { SmtpDeliveryStatus } from '../enums.js';
import { ReplyError, type SmtpError, toSmtpError } from '../errors.js';
import { formatReply, type Reply, replyMatches } from '../protocol/reply.js';
import type { MailOutcome, RecipientRejection } from '../transport/outcome.js';
import { DeliveryResult } from './result.js';
import { isConnectionRefused, isRetryable, isRetryableReply, type RetryPolicy } from './retry.js';

/** What a send knows between attempts. Addresses are the envelope's (wire) forms. Never mutated. */
export interface SendState {
  /** 0 for the first attempt. */
  readonly attempt: number;
  /** Recipients the server took the message for, in any attempt so far. */
  readonly delivered: readonly string[];
  /** Recipient → the reply that refused it for good. */
  readonly refused: Readonly<Record<string, string>>;
  /** The recipients the next transaction goes to (all of the envelope's on the first attempt). */
  readonly open: readonly string[];
  /** Open recipient → the temporary refusal that left it open (absent before any refusal). */
  readonly pending: Readonly<Record<string, string>>;
  /** Recipients whose entry in `refused` / `pending` is their own reply (RCPT, or LMTP after the data). */
  readonly own: readonly string[];
  /** When the first delivery happened. */
  readonly sentAt: Date | null;
}

/** How an attempt ended: with the replies of a transaction, or with an error. */
export type AttemptOutcome =
  | { readonly kind: 'replies'; readonly outcome: MailOutcome }
  | {
      readonly kind: 'error';
      readonly error: SmtpError;
      /** Recipients accepted at RCPT before the error (null when RCPT was not reached). */
      readonly accepted: readonly string[] | null;
      /** Recipients refused at RCPT before the error. */
      readonly rejected: readonly RecipientRejection[];
      /** LMTP: the per-recipient replies that arrived after the data before the error. */
      readonly confirmed: readonly RecipientRejection[];
      /** The engine refused a caller's value before a byte was written (INVALID). */
      readonly nothingSent: boolean;
    };

/** What the decision needs besides the outcome; fixed for one send. */
export interface DecideContext {
  readonly policy: RetryPolicy;
  /** Attempts this send may make (1 with `retry: false`). */
  readonly maxAttempts: number;
  /** Out of attempts, a temporary failure is TEMP_FAILED when retries were on, RETRY when they were off. */
  readonly retry: boolean;
  readonly messageId: string | null;
  /** The caller's form of an envelope address (the keys of results). */
  readonly asGiven: (wire: string) => string;
  readonly now: () => Date;
}

export interface Decision {
  /** The send's result if it ends here (always set, so a send that cannot go on still answers truly). */
  readonly result: DeliveryResult;
  /** The state of the follow-up attempt, or null when none may (or need) be made. */
  readonly next: SendState | null;
}

/** The state of a send's first attempt. */
export function initialState(recipients: readonly string[]): SendState {
  return { attempt: 0, delivered: [], refused: {}, open: recipients, pending: {}, own: [], sentAt: null };
}

/** The deciding reply's fields of a result. */
interface Deciding {
  code: number | null;
  enhanced: string | null;
  text: string | null;
  response: string | null;
}

/**
 * The meaning of one attempt's outcome under `state` (see the module comment and README "Result rules").
 * Pure; never throws.
 */
export function decide(attempt: AttemptOutcome, state: SendState, ctx: DecideContext): Decision {
  // The common case, without the general bookkeeping: a first attempt that every recipient took.
  if (
    attempt.kind === 'replies' &&
    attempt.outcome.delivered &&
    attempt.outcome.rejected.length === 0 &&
    attempt.outcome.recipientReplies === undefined &&
    state.attempt === 0 &&
    state.delivered.length === 0 &&
    state.own.length === 0 &&
    attempt.outcome.accepted.length === state.open.length
  )
    return { result: everyoneDelivered(attempt.outcome, ctx), next: null };
  return decideEach(attempt, state, ctx);
}

/** SUCCESS of a first attempt in which every recipient was accepted and the dot got a 2xx (decide's fast path). */
function everyoneDelivered(o: MailOutcome, ctx: DecideContext): DeliveryResult {
  const response = formatReply(o.reply);
  const delivered = o.accepted.map(ctx.asGiven);
  return new DeliveryResult({
    status: SmtpDeliveryStatus.SUCCESS,
    messageId: ctx.messageId,
    smtpCode: o.reply.code,
    smtpError: null,
    enhancedCode: o.reply.enhanced,
    response,
    recipientFailures: {},
    acceptedRecipients: delivered,
    deliveredRecipients: [...delivered],
    pendingRecipients: [],
    sentAt: ctx.now(),
    retryCount: 0,
    isRetryable: false,
    error: null,
  });
}

/** The general rule, recipient by recipient (exported for the test that checks the fast path against it). */
export function decideEach(attempt: AttemptOutcome, state: SendState, ctx: DecideContext): Decision {
  const transient = (reply: Reply): boolean => isRetryableReply(reply.code, ctx.policy);
  const delivered = [...state.delivered];
  const refused: Record<string, string> = { ...state.refused };
  const pending: Record<string, string> = {};
  const unknown: string[] = [];
  // Each open recipient gets one fate in this attempt; `settle` records it.
  const fated = new Set<string>();
  const own = new Set(state.own);
  const settle = (
    rcpt: string,
    fate: 'delivered' | 'refused' | 'pending' | 'unknown',
    text: string,
    itsOwn = false,
  ): void => {
    if (fated.has(rcpt)) return;
    fated.add(rcpt);
    if (itsOwn) own.add(rcpt);
    else own.delete(rcpt);
    if (fate === 'delivered') delivered.push(rcpt);
    else if (fate === 'refused') refused[rcpt] = text;
    else if (fate === 'pending') pending[rcpt] = text;
    else unknown.push(rcpt);
  };
  const byReply = (r: RecipientRejection): void => {
    const text = formatReply(r.reply);
    const fate = replyMatches(r.reply, 2) ? 'delivered' : transient(r.reply) ? 'pending' : 'refused';
    settle(r.recipient, fate, text, true);
  };
  let deciding: Deciding;
  let error: SmtpError | null = null;
  // What a send refused for good by everyone is: REJECTED at MAIL/RCPT, FAILED later.
  let refusedAs: SmtpDeliveryStatus = SmtpDeliveryStatus.FAILED;
  let invalid = false;
  let deliveredNow = false;

  if (attempt.kind === 'replies') {
    const o = attempt.outcome;
    const text = formatReply(o.reply);
    deciding = { code: o.reply.code, enhanced: o.reply.enhanced, text: o.delivered ? null : text, response: text };
    if (o.stage === 'mail' || o.stage === 'rcpt') refusedAs = SmtpDeliveryStatus.REJECTED;
    // LMTP: each recipient accepted at RCPT has its own reply after the data; the rest were refused at RCPT.
    if (o.recipientReplies) for (const r of o.recipientReplies) byReply(r);
    for (const r of o.rejected) byReply(r);
    if (!o.recipientReplies) {
      // SMTP: one reply to the dot (or to MAIL / DATA) decides for every recipient accepted at RCPT.
      const fate = o.delivered ? 'delivered' : transient(o.reply) ? 'pending' : 'refused';
      for (const rcpt of o.accepted) settle(rcpt, fate, text);
    }
    // Recipients the transaction never reached (the sender was refused, or a 421 cut RCPT short).
    for (const rcpt of state.open) settle(rcpt, transient(o.reply) ? 'pending' : 'refused', text);
  } else {
    const e = attempt.error;
    error = e;
    const reply = e instanceof ReplyError ? e : null;
    deciding = {
      code: e.replyCode,
      enhanced: e.enhancedCode,
      text: reply ? reply.response : e.message,
      response: reply ? formatReply({ code: reply.replyCode, enhanced: reply.enhancedCode, lines: reply.lines }) : null,
    };
    for (const r of attempt.confirmed) byReply(r);
    for (const r of attempt.rejected) byReply(r);
    if (e.messageHandedOver) {
      // The dot left and the reply was lost: whoever was accepted at RCPT may have it.
      for (const rcpt of attempt.accepted ?? []) settle(rcpt, 'unknown', e.message);
    }
    invalid = attempt.nothingSent && !e.messageHandedOver;
    const again = !e.messageHandedOver && isRetryable(e, ctx.policy);
    for (const rcpt of state.open) settle(rcpt, again ? 'pending' : 'refused', deciding.text ?? e.message);
  }
  deliveredNow = delivered.length > state.delivered.length;
  const sentAt = state.sentAt ?? (deliveredNow ? ctx.now() : null);
  const pendingList = Object.keys(pending);

  // Another attempt: only to the pending recipients, never while any recipient's fate is unknown.
  const refusedCap = isConnectionRefused(error) && state.attempt >= ctx.policy.refusedRetries;
  const next: SendState | null =
    unknown.length === 0 && pendingList.length > 0 && state.attempt + 1 < ctx.maxAttempts && !refusedCap && !invalid
      ? { attempt: state.attempt + 1, delivered, refused, open: pendingList, pending, own: [...own], sentAt }
      : null;

  let status: SmtpDeliveryStatus;
  if (unknown.length > 0) status = SmtpDeliveryStatus.UNKNOWN;
  else if (delivered.length > 0) status = SmtpDeliveryStatus.SUCCESS;
  else if (invalid) status = SmtpDeliveryStatus.INVALID;
  else if (pendingList.length > 0) status = ctx.retry ? SmtpDeliveryStatus.TEMP_FAILED : SmtpDeliveryStatus.RETRY;
  else status = refusedAs;

  // Per-recipient refusals always; when someone has (or may have) the message, every other recipient too, so
  // the result names both sides.
  const someoneHasIt = delivered.length > 0 || unknown.length > 0;
  const failures: Record<string, string> = {};
  for (const [rcpt, text] of Object.entries(refused))
    if (someoneHasIt || own.has(rcpt)) failures[ctx.asGiven(rcpt)] = text;
  for (const [rcpt, text] of Object.entries(pending))
    if (someoneHasIt || own.has(rcpt)) failures[ctx.asGiven(rcpt)] = text;

  const accepted = attempt.kind === 'replies' ? attempt.outcome.accepted : (attempt.accepted ?? []);
  const acceptedRecipients = [...state.delivered];
  for (const rcpt of accepted) if (!acceptedRecipients.includes(rcpt)) acceptedRecipients.push(rcpt);
  for (const rcpt of delivered) if (!acceptedRecipients.includes(rcpt)) acceptedRecipients.push(rcpt);

  const result = new DeliveryResult({
    status,
    messageId: ctx.messageId,
    smtpCode: deciding.code,
    smtpError: status === SmtpDeliveryStatus.SUCCESS && deliveredNow ? null : deciding.text,
    enhancedCode: deciding.enhanced,
    response: deciding.response,
    recipientFailures: failures,
    acceptedRecipients: acceptedRecipients.map(ctx.asGiven),
    deliveredRecipients: delivered.map(ctx.asGiven),
    pendingRecipients: pendingList.map(ctx.asGiven),
    sentAt: status === SmtpDeliveryStatus.SUCCESS ? sentAt : null,
    retryCount: state.attempt,
    // A resend of the whole message duplicates nothing only while no one has (or may have) it.
    isRetryable:
      status === SmtpDeliveryStatus.TEMP_FAILED || status === SmtpDeliveryStatus.RETRY ? !someoneHasIt : false,
    error: status === SmtpDeliveryStatus.SUCCESS && deliveredNow ? null : error,
  });
  return { result, next };
}

/** The result of a send refused before anything was sent (validation, options): INVALID. */
export function invalid(err: unknown): DeliveryResult {
  const error = toSmtpError(err);
  return new DeliveryResult({
    status: SmtpDeliveryStatus.INVALID,
    messageId: null,
    smtpError: error.message,
    error,
  });
}
