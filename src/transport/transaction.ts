/**
 * One mail transaction on a connected SmtpConnection: MAIL, RCPT for each recipient, DATA (or BDAT)
 * and the body, with PIPELINING when on (RFC 2920), then the hand-over and the final reply (one per
 * accepted recipient under LMTP, RFC 2033 §4.2). It reaches the connection only through
 * `TransactionHost` (a command channel, a body writer and the session): the connection keeps the
 * socket, the phase table and `#fail`.
 */
import type { SmtpProtocol } from '../enums.js';
import { AbortError, CapabilityError, ErrorCodes, SmtpError, toSmtpError } from '../errors.js';
import * as cmd from '../protocol/commands.js';
import { BodyEncoder } from '../protocol/dot-stuff.js';
import { type Reply, replyMatches } from '../protocol/reply.js';
import { listenAbort } from '../util/abort.js';
import { channels } from '../util/channels.js';
import type { Mutex } from '../util/mutex.js';
import {
  BDAT_WINDOW,
  type ChunkHost,
  DEFAULT_CHUNK_SIZE,
  FINAL_WRITE_MAX,
  identity,
  LONE_DOT,
  type PumpHost,
  pumpBody,
  sendChunks,
  slices,
  watched,
} from './body.js';
import type { Phase, SendMailOptions } from './connection-types.js';
import {
  type AbortGate,
  closingError,
  type MailOutcome,
  outcomeOf,
  type RecipientRejection,
  type Tx,
} from './outcome.js';
import type { LaterReply, SendOptions } from './reply-queue.js';
import { handedOverError } from './timeouts.js';
import type { MessageBody, TransactionPlan } from './transaction-plan.js';
import type { Transcript } from './transcript.js';

/** The commands' way out and the replies' way back, in order (reply-queue.ts's `ReplyQueue`). */
export interface CommandChannel {
  /** Writes a command (and body bytes) and queues the entry its reply settles. */
  send(line: string | null, opts?: SendOptions): Promise<Reply>;
  /** As `send(line)`, for a pipelined reply read later: a promise only when it is not in by then. */
  sendLater(line: string): LaterReply;
  /** Resolves when no reply is pending (without PIPELINING, every command waits for the last reply). */
  idle(): Promise<void>;
  /** When the last final write reached the socket (performance.now()). */
  readonly handedOverAt: number;
}

/** Where the body goes: the socket, with backpressure, and the longest stall allowed. */
export interface BodyWriter {
  /** The `dataIdle` timeout. */
  readonly dataIdle: number;
  /** Resolves once the socket can take more. */
  write(buf: Buffer): Promise<void>;
  /** Sends what was written in this turn of the event loop now (writes are otherwise held to its end). */
  flush(): void;
}

/** The session the transaction moves through: the phase table and the poisoned state (connection.ts owns both). */
export interface Session {
  phase(): Phase;
  /** A move in the phase table (throws on an illegal one). */
  transition(to: Phase): void;
  /** Poisons the connection. */
  fail(err: SmtpError): void;
  broken(): SmtpError | null;
  /** Throws the poisoning error, or a state error when the connection cannot take a command. */
  assertUsable(): void;
  /** PIPELINING advertised and not turned off. */
  pipelining(): boolean;
  /** Counts a delivered message. */
  delivered(): void;
}

/**
 * What a transaction needs of its connection, as three small parts (a command channel, a body writer,
 * the session) plus the fixed facts and the writer lock.
 */
export interface TransactionHost {
  readonly host: string;
  readonly protocol: SmtpProtocol;
  /** The caller's `BDAT` chunk size, if any. */
  readonly chunkSize: number | undefined;
  /** The connection's writer lock (one transaction writes at a time). */
  readonly lock: Mutex;
  readonly channel: CommandChannel;
  readonly writer: BodyWriter;
  readonly session: Session;
  /** Client lines for the transcript the channel does not write itself (the final dot, BDAT lines). */
  readonly transcript: Pick<Transcript, 'active' | 'line'>;
}

/** What the body pump needs: the stall limit and the connection's poisoning. */
function pumpHostOf(host: TransactionHost): PumpHost {
  return { idleMs: host.writer.dataIdle, fail: (err) => host.session.fail(err), broken: () => host.session.broken() };
}

/**
 * Runs `plan` under the connection's writer lock, released once the final write is out so that the
 * next message pipelines behind it. Reply outcomes resolve; any other failure is thrown, and poisons
 * the connection unless the session is known to be clean (a reply, or a capability found out and reset).
 */
export async function sendTransaction(
  host: TransactionHost,
  plan: TransactionPlan,
  body: MessageBody,
  options: SendMailOptions,
): Promise<MailOutcome> {
  const { signal } = options;
  // Free (the usual case when each send has its connection): taken now, without a promise.
  const release = (signal?.aborted ? null : host.lock.tryAcquire()) ?? (await host.lock.acquire(signal));
  let released = false;
  const unlock = (): void => {
    if (!released) {
      released = true;
      release();
      options.onHandedOver?.();
    }
  };
  const gate: AbortGate = {
    watching: signal !== undefined,
    handedOver: false,
    reject: null,
    left: false,
    late: null,
  };
  const onAbort =
    signal === undefined
      ? null
      : (): void => {
          const err = new AbortError('send aborted', { cause: signal.reason });
          if (gate.handedOver) gate.reject?.(handedOverError(err));
          else host.session.fail(err);
        };
  if (onAbort !== null) listenAbort(signal, onAbort);
  try {
    host.session.assertUsable();
    const pipelining = host.session.pipelining();
    if (!pipelining) await host.channel.idle();
    host.session.assertUsable();
    const outcome = await runTransaction(host, plan, body, pipelining, unlock, options, gate);
    if (channels.transactionEnd.hasSubscribers) publishEnd(host, outcome, null);
    return outcome;
  } catch (err) {
    const wrapped = toSmtpError(err);
    // A failure with the body half-written cannot be undone but by closing: never send the final dot.
    // A server reply, or a capability found out while BDAT streamed (then reset), leaves it usable.
    const resetCleanly = wrapped instanceof CapabilityError && host.session.phase() === 'ready';
    // The caller's abort after the final write ends its wait only: the connection reads on (AbortGate).
    const callerLeft = gate.handedOver && wrapped instanceof AbortError;
    if (!callerLeft && (host.session.phase() === 'data' || (wrapped.replyCode === null && !resetCleanly)))
      host.session.fail(wrapped);
    const broken = host.session.broken();
    const thrown = wrapped.messageHandedOver || !broken ? wrapped : broken;
    if (channels.transactionEnd.hasSubscribers) publishEnd(host, null, thrown);
    throw thrown;
  } finally {
    if (onAbort !== null) signal?.removeEventListener('abort', onAbort);
    if (gate.late === null) unlock();
    else void gate.late.then(unlock);
  }
}

/** MAIL, RCPT, DATA or BDAT, the body and the final reply; `unlock` hands the connection on after the final write. */
async function runTransaction(
  host: TransactionHost,
  plan: TransactionPlan,
  body: MessageBody,
  pipelining: boolean,
  unlock: () => void,
  options: SendMailOptions,
  gate: AbortGate,
): Promise<MailOutcome> {
  const { envelope, useBdat } = plan;
  const tx: Tx = {
    accepted: [],
    rejected: [],
    marks: options.timings === true ? [performance.now(), 0, 0, 0, 0, 0] : null,
    unlock,
    beforeHandOver: options.onBeforeHandOver,
    onRecipientReply: options.onRecipientReply,
    gate,
  };
  host.session.transition('mail');
  // With PIPELINING, MAIL, every RCPT and DATA leave in one write (RFC 2920 §3.1).
  const mailP = host.channel.send(plan.mailLine);
  let rcptLater: LaterReply[] = [];
  let dataLater: LaterReply | null = null;
  if (pipelining) {
    rcptLater = plan.rcptLines.map((line) => host.channel.sendLater(line));
    if (!useBdat) dataLater = host.channel.sendLater(cmd.data());
  }
  const mailReply = await mailP;
  if (channels.reply.hasSubscribers) channels.reply.publish({ host: host.host, command: 'MAIL', reply: mailReply });
  mark(tx, 1);
  if (mailReply.code === 421) return serviceClosing(host, 'mail', mailReply, tx);
  if (!replyMatches(mailReply, 2)) {
    // The server answers the pipelined rest with 503s; drain them so the FIFO stays aligned.
    await drainPipelined(host, rcptLater, dataLater);
    await endRefused(host, false);
    return outcomeOf('mail', mailReply, tx, null, 0);
  }
  host.session.transition('rcpt');
  for (let i = 0; i < plan.rcptLines.length; i++) {
    // A pipelined reply already in is read without an await (no microtask hop).
    const pending = pipelining ? rcptLater[i]!.take() : host.channel.send(plan.rcptLines[i]!);
    const reply = pending instanceof Promise ? await pending : pending;
    const recipient = envelope.to[i]!;
    if (channels.reply.hasSubscribers) channels.reply.publish({ host: host.host, command: 'RCPT', reply, recipient });
    if (reply.code === 421) {
      tx.rejected.push({ recipient, reply });
      return serviceClosing(host, 'rcpt', reply, tx);
    }
    if (replyMatches(reply, 25)) tx.accepted.push(recipient);
    else tx.rejected.push({ recipient, reply });
  }
  mark(tx, 2);
  options.onRecipients?.(tx.accepted, tx.rejected);
  if (tx.accepted.length === 0) {
    await drainPipelined(host, [], dataLater);
    await endRefused(host, true);
    return outcomeOf('rcpt', tx.rejected[tx.rejected.length - 1]!.reply, tx, null, 0);
  }
  host.session.transition('data');
  if (useBdat) {
    mark(tx, 3);
    return sendBdat(host, plan, body, tx);
  }
  const dataPending = dataLater === null ? host.channel.send(cmd.data()) : dataLater.take();
  const dataReply = dataPending instanceof Promise ? await dataPending : dataPending;
  if (channels.reply.hasSubscribers) channels.reply.publish({ host: host.host, command: 'DATA', reply: dataReply });
  mark(tx, 3);
  if (dataReply.code === 421) return serviceClosing(host, 'data', dataReply, tx);
  if (dataReply.code !== 354) {
    await host.channel.send(cmd.rset());
    host.session.transition('ready');
    return outcomeOf('data', dataReply, tx, null, 0);
  }
  let last: Buffer | readonly Buffer[];
  let bytesSent: number;
  const whole = plan.encoded ?? plan.ready;
  if (whole) {
    bytesSent = whole.length + (plan.ready ? LONE_DOT.length : 0);
    let tail = whole;
    if (tail.length > FINAL_WRITE_MAX) {
      // A big in-memory body goes out with backpressure under dataIdle like a stream; only its last
      // slice rides with the dot, so "handed over" cannot be claimed while the body is still queued.
      const cut = tail.length - FINAL_WRITE_MAX;
      await pumpBody(slices(tail.subarray(0, cut), FINAL_WRITE_MAX), identity, host.writer.write, pumpHostOf(host));
      tail = tail.subarray(cut);
    }
    // Builder output needs only the final `.` line: written after it, not copied onto it.
    last = plan.ready ? [tail, LONE_DOT] : tail;
  } else {
    const encoder = new BodyEncoder({ dotStuff: true });
    bytesSent = await pumpBody(
      body,
      watched(encoder, plan.watch, host.host, true),
      host.writer.write,
      pumpHostOf(host),
    );
    last = encoder.end();
    bytesSent += last.length;
  }
  return handOver(host, last, '.', 'DATA', undefined, tx, bytesSent);
}

/** The one final-write path of DATA and BDAT: hook, final write, hand the connection on, await the reply. */
async function handOver(
  host: TransactionHost,
  data: Buffer | readonly Buffer[],
  label: string,
  via: 'DATA' | 'BDAT',
  header: string | undefined,
  tx: Tx,
  bytesSent: number,
): Promise<MailOutcome> {
  // Only a caller's hook is awaited: no empty await (and its microtask) per message.
  if (tx.beforeHandOver !== undefined) await beforeHandOver(host, tx.beforeHandOver);
  mark(tx, 4);
  const lmtp = host.protocol === 'lmtp';
  const finalPs = writeFinal(host, data, label, via, header, lmtp ? tx.accepted.length : 1);
  // After a hook (the outbox's claim), the dot leaves at once rather than at the end of this turn: a
  // crash in between would leave a claim whose dot never left (a false UNKNOWN). The next transaction's
  // commands then go in a segment of their own.
  if (tx.beforeHandOver !== undefined) host.writer.flush();
  host.session.transition('ready');
  // LMTP: the connection is handed on only after the last per-recipient reply. Pipelined behind a server
  // that sends too few, the next message's MAIL reply would be read as a recipient's delivery; held back,
  // the missing reply times out (UNKNOWN for that recipient) and nothing is misread.
  if (!lmtp) tx.unlock();
  tx.gate.handedOver = true;
  if (lmtp && tx.onRecipientReply) {
    const report = tx.onRecipientReply;
    for (const [i, p] of finalPs.entries())
      p.then(
        (reply) => report({ recipient: tx.accepted[i]!, reply }),
        () => {},
      );
  }
  // One reply (SMTP) with no signal to race needs no Promise.all.
  const all = finalPs.length === 1 && !tx.gate.watching ? null : Promise.all(finalPs);
  let replies: Reply[];
  try {
    replies = all === null ? [await finalPs[0]!] : tx.gate.watching ? await raceAbort(all, tx) : await all;
  } catch (err) {
    // The caller left (an abort after the hand-over): the replies still arrive and still count for the
    // connection (a delivery for maxMessagesPerConnection, a 421 that closes it).
    if (tx.gate.left && all !== null) {
      const late = all.then((replies) => void finish(host, replies, tx, via, bytesSent)).catch(() => {});
      // LMTP: still held until the last reply, as for a caller who stayed (see above).
      if (lmtp) tx.gate.late = late;
    }
    throw err;
  }
  tx.unlock();
  const marks = tx.marks;
  if (marks !== null) {
    marks[5] = performance.now();
    // The write callback normally fires before the reply can arrive; if not, hand-over is the reply.
    if (host.channel.handedOverAt > marks[4]) marks[4] = host.channel.handedOverAt;
  }
  return finish(host, replies, tx, via, bytesSent);
}

/** The final replies, unless the caller aborts first (then its wait ends; the replies are still read). */
function raceAbort<T>(replies: Promise<T>, tx: Tx): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    tx.gate.reject = (err) => {
      tx.gate.left = true;
      reject(err);
    };
    replies.then(resolve, reject);
  });
}

/** RFC 5321 §3.8: 421 means the server is closing the session; the outcome stands, the connection goes. */
function serviceClosing(host: TransactionHost, stage: MailOutcome['stage'], reply: Reply, tx: Tx): MailOutcome {
  host.session.fail(closingError(reply));
  return outcomeOf(stage, reply, tx, null, 0);
}

/** RFC 3030: the body in `BDAT n` chunks (body.ts), no dot-stuffing, then the one final write `BDAT n LAST`. */
async function sendBdat(host: TransactionHost, plan: TransactionPlan, body: MessageBody, tx: Tx): Promise<MailOutcome> {
  const encoder = new BodyEncoder({ dotStuff: false });
  const chunks: ChunkHost = {
    ...pumpHostOf(host),
    chunkSize: host.chunkSize ?? DEFAULT_CHUNK_SIZE,
    window: host.session.pipelining() ? BDAT_WINDOW : 1,
    sendChunk: (chunk) => {
      if (host.transcript.active) host.transcript.line('client', cmd.bdat(chunk.length, false).trimEnd());
      return host.channel.send(cmd.bdat(chunk.length, false), { body: chunk, quiet: true });
    },
  };
  let result: Awaited<ReturnType<typeof sendChunks>>;
  try {
    result = await sendChunks(
      plan.encoded,
      body,
      watched(encoder, plan.watch, host.host, false),
      () => encoder.end(),
      chunks,
    );
  } catch (err) {
    // A capability found out while streaming (8-bit octet, SIZE): no LAST chunk was sent, so RSET
    // drops what the server holds and the connection stays usable (RFC 3030 §4).
    if (!(err instanceof CapabilityError) || host.session.broken()) throw err;
    await host.channel.send(cmd.rset());
    host.session.transition('ready');
    throw err;
  }
  if (result.refusal) {
    if (channels.reply.hasSubscribers)
      channels.reply.publish({ host: host.host, command: 'BDAT', reply: result.refusal });
    await host.channel.send(cmd.rset());
    host.session.transition('ready');
    return outcomeOf('data', result.refusal, tx, 'BDAT', result.bytesSent);
  }
  const header = cmd.bdat(result.last.length, true);
  return handOver(host, result.last, header.trimEnd(), 'BDAT', header, tx, result.bytesSent);
}

/** Runs the caller's pre-hand-over hook; a refusal becomes an error that closes the connection (phase 'data'). */
async function beforeHandOver(host: TransactionHost, hook: SendMailOptions['onBeforeHandOver']): Promise<void> {
  if (!hook) return;
  try {
    await hook();
  } catch (err) {
    throw new SmtpError(`the hand-over was refused by onBeforeHandOver: ${(err as Error)?.message ?? err}`, {
      code: ErrorCodes.HANDOVER_REFUSED,
      cause: err,
    });
  }
  host.session.assertUsable();
}

/**
 * Writes the end of the message and queues the reply that decides it. Hand-over is the write
 * callback of this write (the socket took the final dot or `BDAT … LAST` for transmission): until
 * then `dataIdle` runs and a failure is "not handed over"; from then on `finalReply` runs and a lost
 * reply is UNKNOWN.
 */
function writeFinal(
  host: TransactionHost,
  data: Buffer | readonly Buffer[],
  label: string,
  via: 'DATA' | 'BDAT',
  header: string | undefined,
  recipients: number,
): Promise<Reply>[] {
  if (host.transcript.active) host.transcript.line('client', label);
  const command = via === 'DATA' ? '<CRLF>.<CRLF>' : label;
  const replies = [host.channel.send(header ?? null, { body: data, final: true, quiet: true, command })];
  // LMTP (RFC 2033 §4.2): one reply per recipient accepted at RCPT, queued now. They come after the hand-over.
  for (let i = 1; i < recipients; i++)
    replies.push(host.channel.send(null, { afterHandOver: true, quiet: true, command }));
  return replies;
}

function mark(tx: Tx, i: 1 | 2 | 3 | 4): void {
  if (tx.marks !== null) tx.marks[i] = performance.now();
}

function finish(host: TransactionHost, replies: Reply[], tx: Tx, via: 'DATA' | 'BDAT', bytesSent: number): MailOutcome {
  let reply = replies[0]!;
  if (channels.reply.hasSubscribers) publishFinal(host, replies, tx);
  let recipientReplies: RecipientRejection[] | undefined;
  if (host.protocol === 'lmtp') {
    // LMTP: each accepted recipient has its own outcome; the message is delivered to those with a
    // 2xx. The deciding reply is the last success, or the first failure when none succeeded.
    recipientReplies = tx.accepted.map((recipient, i) => ({ recipient, reply: replies[i]! }));
    const ok = recipientReplies.filter((r) => replyMatches(r.reply, 2));
    const failed = recipientReplies.filter((r) => !replyMatches(r.reply, 2));
    tx.accepted = ok.map((r) => r.recipient);
    tx.rejected = [...tx.rejected, ...failed];
    reply = (ok.length > 0 ? ok[ok.length - 1] : failed[0])?.reply ?? reply;
  }
  const outcome = outcomeOf('final', reply, tx, via, bytesSent);
  if (recipientReplies !== undefined) outcome.recipientReplies = recipientReplies;
  if (outcome.delivered) host.session.delivered();
  // A 421 to the final dot: the server is leaving. Fail the connection now, so a transaction
  // already pipelined behind this one fails as "not handed over" (retryable) at once.
  const closing = replies.find((r) => r.code === 421);
  if (closing) host.session.fail(closingError(closing));
  return outcome;
}

/**
 * After a refusal, reads the replies to the pipelined rest so the FIFO stays aligned. Whatever
 * happens here, the refusal decides the outcome: the real body never left. A failure only
 * poisons the connection (already done by `#fail`).
 */
async function drainPipelined(
  host: TransactionHost,
  rcptLater: LaterReply[],
  dataLater: LaterReply | null,
): Promise<void> {
  try {
    for (const later of rcptLater) await later.take();
    if (dataLater && (await dataLater.take()).code === 354) {
      // RFC 2920 §3.1: a server that accepts DATA with no valid recipient gets an empty message.
      // Never "handed over": an empty message is not the caller's message.
      if (host.transcript.active) host.transcript.line('client', '.');
      await host.channel.send(null, { body: LONE_DOT, quiet: true, command: '<CRLF>.<CRLF>' });
    }
  } catch {
    // The connection is poisoned; the caller reports the refusal.
  }
}

/** After a refusal: back to ready, with RSET when asked, unless the connection died meanwhile. */
async function endRefused(host: TransactionHost, rset: boolean): Promise<void> {
  if (host.session.broken()) return;
  if (rset) {
    try {
      await host.channel.send(cmd.rset());
    } catch {
      return; // poisoned; the refusal still decides the outcome
    }
  }
  host.session.transition('ready');
}

/** One `smtpwire:transaction:end` (callers check `hasSubscribers`). */
function publishEnd(host: TransactionHost, outcome: MailOutcome | null, error: SmtpError | null): void {
  const handedOver = outcome ? outcome.stage === 'final' : error!.messageHandedOver;
  channels.transactionEnd.publish({
    host: host.host,
    outcome,
    error,
    handedOverAt: handedOver ? host.channel.handedOverAt : 0,
  });
}

/** The replies to the end of the message (LMTP: one per accepted recipient, RFC 2033 §4.2). */
function publishFinal(host: TransactionHost, replies: Reply[], tx: Tx): void {
  const lmtp = host.protocol === 'lmtp';
  for (let i = 0; i < replies.length; i++) {
    const recipient = lmtp ? tx.accepted[i] : undefined;
    channels.reply.publish({ host: host.host, command: 'FINAL', reply: replies[i]!, recipient });
  }
}
