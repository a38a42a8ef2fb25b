/**
 * What one transaction came to: the `MailOutcome` value, its per-step timings, and the errors made of
 * a reply (the one 421 error, a refused command). Pure.
 */
import { ReplyError, TlsError } from '../errors.js';
import { formatReply, type Reply, replyMatches } from '../protocol/reply.js';

export interface RecipientRejection {
  recipient: string;
  reply: Reply;
}

/** What happened to one message on the wire. Replies are outcomes, not exceptions. */
export interface MailOutcome {
  /** True only when the server accepted the message for at least one recipient (2xx after the data). */
  delivered: boolean;
  /** Where the transaction ended: sender refused, no recipient accepted, DATA refused, or the final reply. */
  stage: 'mail' | 'rcpt' | 'data' | 'final';
  /** The reply that decided the outcome. */
  reply: Reply;
  accepted: string[];
  rejected: RecipientRejection[];
  via: 'DATA' | 'BDAT' | null;
  /** Body octets sent after encoding (dot-stuffing, CRLF); 0 when no data was sent. */
  bytesSent: number;
  /**
   * Milliseconds per step of this transaction (0 for a step not reached): `mail` MAIL → its reply;
   * `rcpt` → the last RCPT reply; `data` → 354 (or the first BDAT chunk); `body` → the final write
   * reached the socket (hand-over); `final` hand-over → the final reply. With pipelining the steps
   * overlap on the wire; these are the waits as this transaction saw them. Present only when
   * `sendMail` was asked for them (`{ timings: true }`): six clock reads a message otherwise saved.
   */
  timings?: TransactionTimings;
  /**
   * LMTP only (RFC 2033 §4.2): the final reply of each recipient accepted at RCPT, in RCPT order.
   * `accepted` then holds those delivered, `rejected` also those refused after the data.
   */
  recipientReplies?: RecipientRejection[];
}

export interface TransactionTimings {
  mail: number;
  rcpt: number;
  data: number;
  body: number;
  final: number;
}

/** One transaction's moving parts, passed along instead of a long parameter list. */
export interface Tx {
  accepted: string[];
  rejected: RecipientRejection[];
  /**
   * performance.now() at: MAIL written, MAIL reply, last RCPT reply, 354/BDAT start, hand-over, final
   * reply; null when nobody asked for timings.
   */
  marks: [number, number, number, number, number, number] | null;
  unlock: () => void;
  /** Awaited just before the final write (see `SendMailOptions.onBeforeHandOver`). */
  beforeHandOver: (() => void | Promise<void>) | undefined;
  /** LMTP: each recipient's reply after the data, as it arrives (see `SendMailOptions.onRecipientReply`). */
  onRecipientReply: ((reply: RecipientRejection) => void) | undefined;
  /** The caller's abort, once the final write is out: it ends this caller's wait only (see `AbortGate`). */
  gate: AbortGate;
}

/**
 * A caller's abort before the final write fails the connection (the body is cut off, nothing is handed over).
 * After it, the message is the server's: the abort ends only the caller's wait (UNKNOWN), and the connection
 * — with any message pipelined behind — goes on reading its replies.
 */
export interface AbortGate {
  /** The caller gave a signal (without one there is nothing to race). */
  watching: boolean;
  handedOver: boolean;
  /** Set while the final replies are awaited. */
  reject: ((err: unknown) => void) | null;
  /** The caller's wait ended by its abort. */
  left: boolean;
  /**
   * LMTP, the caller gone: settles once the late replies are read (or fail). The writer lock waits for it,
   * as it waits for the replies of a caller still there.
   */
  late: Promise<void> | null;
}

export function outcomeOf(
  stage: MailOutcome['stage'],
  reply: Reply,
  tx: Tx,
  via: MailOutcome['via'],
  bytesSent: number,
): MailOutcome {
  const outcome: MailOutcome = {
    delivered: stage === 'final' && replyMatches(reply, 2),
    stage,
    reply,
    accepted: tx.accepted,
    rejected: tx.rejected,
    via,
    bytesSent,
  };
  if (tx.marks !== null) outcome.timings = timingsOf(tx.marks);
  return outcome;
}

function timingsOf(m: readonly number[]): TransactionTimings {
  const step = (i: number): number => (m[i]! > 0 && m[i - 1]! > 0 ? m[i]! - m[i - 1]! : 0);
  return { mail: step(1), rcpt: step(2), data: step(3), body: step(4), final: step(5) };
}

/** The one error for a 421 (RFC 5321 §3.8): the server is closing the session. */
export function closingError(reply: Reply): ReplyError {
  return new ReplyError(`the server closed the session: ${formatReply(reply)}`, {
    replyCode: 421,
    enhancedCode: reply.enhanced,
    lines: reply.lines,
  });
}

/** A command the server refused, as a ReplyError carrying the reply's code and lines. */
export function replyError(command: string, reply: Reply): ReplyError {
  return new ReplyError(`${command.split(' ')[0]} refused: ${formatReply(reply)}`, {
    command,
    replyCode: reply.code,
    enhancedCode: reply.enhanced,
    lines: reply.lines,
  });
}

/**
 * STARTTLS refused: a TlsError (the session cannot go on safely under the requested encryption) that
 * still carries the reply's code, as every error a reply caused does.
 */
export function startTlsRefused(reply: Reply): TlsError {
  return new TlsError(`STARTTLS refused: ${formatReply(reply)}`, {
    command: 'STARTTLS',
    replyCode: reply.code,
    enhancedCode: reply.enhanced,
  });
}
