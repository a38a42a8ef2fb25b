/**
 * The reply FIFO of one connection, its timer, and the reading of replies off the socket:
 *
 *   caller ──send(line)──► write (coalesced per event-loop turn)  ──►  server
 *          ◄── settle ◄──── FIFO: [MAIL][RCPT][RCPT][DATA] ◄── receive(bytes), replies strictly in order
 *
 * Every command pushes one entry; each reply settles the oldest (RFC 5321 §4.1, RFC 2920 §3). Only the
 * head entry has a deadline, kept by one lazy timer per connection (see `#armTimer`). The queue never poisons the connection itself: a timeout, a malformed or an
 * unsolicited reply goes to its host, and connection.ts (the one owner of `#fail`) rejects every entry.
 */
import { ErrorCodes, ProtocolError, type SmtpError, type TimeoutPhase, toSmtpError } from '../errors.js';
import type { Timeouts } from '../options.js';
import * as cmd from '../protocol/commands.js';
import { formatReply, type Reply, type ReplyParser, replyMatches } from '../protocol/reply.js';
import { closingError, replyError } from './outcome.js';

/** Re-runs the parser on input it held back (after a refused STARTTLS). */
const EMPTY = Buffer.alloc(0);
const NO_OPTIONS: SendOptions = {};

/**
 * A reply to read later (`ReplyQueue.sendLater`): `take()` gives it synchronously once it is in (the
 * usual case: a pipelined RCPT's reply comes in the same read as MAIL's), else a promise of it.
 */
export class LaterReply {
  #reply: Reply | null = null;
  #failed = false;
  #error: unknown = null;
  #waiter: { resolve: (reply: Reply) => void; reject: (err: unknown) => void } | null = null;

  readonly resolve = (reply: Reply): void => {
    if (this.#reply !== null || this.#failed) return;
    this.#reply = reply;
    this.#waiter?.resolve(reply);
  };

  readonly reject = (err: unknown): void => {
    if (this.#reply !== null || this.#failed) return;
    this.#failed = true;
    this.#error = err;
    this.#waiter?.reject(err);
  };

  /** The reply, or a promise of it; throws (or rejects with) what failed it. Read it once. */
  take(): Reply | Promise<Reply> {
    if (this.#reply !== null) return this.#reply;
    if (this.#failed) throw this.#error;
    return new Promise<Reply>((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }
}

/** One command waiting for its reply. */
export interface Pending {
  /** The line written (null for the greeting); redacted only when shown, see `shownCommand`. */
  line: string | null;
  /** What to show instead of the redacted line (AUTH continuations, the final dot). */
  label: string | undefined;
  phase: TimeoutPhase;
  timeout: number;
  /** The final dot or BDAT LAST reached the socket: if the connection dies now the outcome is unknown. */
  handedOver: boolean;
  switchesToTls: boolean;
  resolve: (reply: Reply) => void;
  reject: (err: SmtpError) => void;
}

/** How a command is written and timed. */
export interface SendOptions {
  phase?: TimeoutPhase;
  timeout?: number;
  switchesToTls?: boolean;
  /** The end of the message: `dataIdle` until the write callback, then hand-over and `finalReply`. */
  final?: boolean;
  /** A reply that only comes after the hand-over (LMTP's per-recipient replies): `finalReply` from the start. */
  afterHandOver?: boolean;
  redacted?: string;
  /** Written after the line; several buffers are written in order (the callback goes with the last). */
  body?: Buffer | readonly Buffer[];
  quiet?: boolean;
  command?: string;
}

/** What the queue needs of its connection: the socket writes, the transcript, the poisoned state. */
export interface QueueHost {
  readonly timeouts: Timeouts;
  /** The error that poisoned the connection: nothing is queued then. */
  broken(): SmtpError | null;
  write(data: string | Buffer, onWritten?: (err?: Error | null) => void): boolean;
  /** Whether anyone listens to the transcript (so redaction work is skipped when nobody does). */
  transcribing(): boolean;
  transcript(direction: 'client', line: string): void;
  /** The head entry's timer ran out. */
  timedOut(head: Pending): void;
  /** Poisons the connection (a malformed reply, a reply nobody waits for). */
  fail(err: SmtpError): void;
  /** A fresh reply parser (at the start, and after STARTTLS). */
  newParser(): ReplyParser;
}

export class ReplyQueue {
  #inflight: Pending[] = [];
  #timer: NodeJS.Timeout | null = null;
  /** When the running timer fires (Date.now() ms). */
  #timerAt = 0;
  /** When the head entry times out (Date.now() ms): its own timeout from when it became the head. */
  #deadline = 0;
  #idleWaiters: (() => void)[] = [];
  readonly #host: QueueHost;
  #parser: ReplyParser;
  #discardInput = false;
  #plaintextDiscarded = 0;
  /** When the last final write reached the socket (performance.now()), for the timings. */
  handedOverAt = 0;

  constructor(host: QueueHost) {
    this.#host = host;
    this.#parser = host.newParser();
  }

  /** Octets of plaintext received after the STARTTLS 220 and thrown away (RFC 3207 §6). */
  get plaintextDiscarded(): number {
    return this.#plaintextDiscarded;
  }

  /** Between STARTTLS's 220 and the handshake nothing may be read as SMTP: `true` drops (and counts) input. */
  discardInput(on: boolean): void {
    this.#discardInput = on;
  }

  /** RFC 3207 §6: forget everything learned before TLS, including bytes already buffered. */
  resetParser(): void {
    this.#parser = this.#host.newParser();
  }

  /** The socket's 'data' listener: each complete reply settles the oldest entry. */
  readonly receive = (chunk: Buffer): void => {
    if (this.#discardInput) {
      this.#plaintextDiscarded += chunk.length;
      return;
    }
    let replies: Reply[];
    try {
      // While STARTTLS waits for its 220, parse no further than that reply: what follows it is
      // plaintext to drop (RFC 3207 §6), never a server line.
      replies = this.#parser.push(chunk, this.#inflight[0]?.switchesToTls ? 1 : undefined);
    } catch (err) {
      this.#host.fail(toSmtpError(err));
      return;
    }
    for (let i = 0; i < replies.length; i++) {
      const reply = replies[i]!;
      const entry = this.shift();
      if (!entry) {
        this.#unsolicited(reply);
        return;
      }
      entry.resolve(reply);
      if (entry.switchesToTls) {
        if (reply.code === 220) {
          // RFC 3207 §6: whatever follows the 220 in plaintext is not to be trusted (CVE-2011-0411).
          this.#discardInput = true;
          this.#plaintextDiscarded += this.#parser.bufferedBytes;
          return;
        }
        // STARTTLS refused: what followed is ordinary input again.
        if (this.#parser.bufferedBytes > 0) this.receive(EMPTY);
        return;
      }
    }
  };

  #unsolicited(reply: Reply): void {
    // RFC 5321 §3.8: a server shutting down may send 421 at any time, then close.
    const err =
      reply.code === 421
        ? closingError(reply)
        : new ProtocolError(`unexpected reply with no command pending: ${formatReply(reply)}`, {
            code: ErrorCodes.UNEXPECTED_REPLY,
          });
    this.#host.fail(err);
  }

  /** Commands written and not yet answered. */
  get length(): number {
    return this.#inflight.length;
  }

  /** The oldest entry: the one the next reply settles. */
  get head(): Pending | undefined {
    return this.#inflight[0];
  }

  /** Writes `line` (null: nothing, e.g. the greeting) and queues the entry its reply will settle. */
  send(line: string | null, opts: SendOptions = {}): Promise<Reply> {
    const broken = this.#host.broken();
    if (broken) return Promise.reject(broken);
    return new Promise<Reply>((resolve, reject) => this.#enqueue(line, opts, resolve, reject));
  }

  /**
   * As `send(line)`, for a pipelined command whose reply is read later (RCPT and DATA behind MAIL): no
   * promise unless it is awaited before its reply is in, and none to mark as handled meanwhile.
   */
  sendLater(line: string): LaterReply {
    const later = new LaterReply();
    const broken = this.#host.broken();
    if (broken) later.reject(broken);
    else {
      try {
        this.#enqueue(line, NO_OPTIONS, later.resolve, later.reject);
      } catch (err) {
        // What the promise of `send` would have rejected with.
        later.reject(err);
      }
    }
    return later;
  }

  #enqueue(
    line: string | null,
    opts: SendOptions,
    resolve: (reply: Reply) => void,
    reject: (err: SmtpError) => void,
  ): void {
    const timeouts = this.#host.timeouts;
    const entry: Pending = {
      line,
      label: opts.command ?? opts.redacted,
      phase: opts.afterHandOver ? 'finalReply' : opts.final ? 'dataIdle' : (opts.phase ?? 'command'),
      timeout: opts.afterHandOver
        ? timeouts.finalReply
        : opts.final
          ? timeouts.dataIdle
          : (opts.timeout ?? timeouts.command),
      handedOver: opts.afterHandOver === true,
      switchesToTls: opts.switchesToTls ?? false,
      resolve,
      reject,
    };
    this.#inflight.push(entry);
    // An empty body writes nothing: the callback then goes with the line (e.g. `BDAT 0 LAST`).
    const body = opts.body === undefined || opts.body.length === 0 ? undefined : opts.body;
    const onWritten = opts.final
      ? (err?: Error | null): void => {
          if (!err) this.#handedOver(entry);
        }
      : undefined;
    const host = this.#host;
    if (line !== null) {
      if (!opts.quiet && host.transcribing()) host.transcript('client', opts.redacted ?? cmd.redactCommand(line));
      host.write(line, body === undefined ? onWritten : undefined);
    }
    if (body === undefined) {
      // nothing more
    } else if (Buffer.isBuffer(body)) host.write(body, onWritten);
    else for (let i = 0; i < body.length; i++) host.write(body[i]!, i === body.length - 1 ? onWritten : undefined);
    if (this.#inflight.length === 1) this.#armTimer();
  }

  /** Sends `line` and throws a ReplyError unless the reply matches `code` (a digit prefix, e.g. 250 or 2). */
  async expect(line: string, code: number): Promise<Reply> {
    const reply = await this.send(line);
    if (!replyMatches(reply, code)) throw replyError(cmd.redactCommand(line), reply);
    return reply;
  }

  /** Takes the entry a reply settles (undefined: nothing was pending) and moves the timer on. */
  shift(): Pending | undefined {
    const entry = this.#inflight.shift();
    if (!entry) return undefined;
    if (this.#inflight.length > 0) {
      this.#armTimer();
    } else {
      // Idle: the timer may stay armed (it finds no head when it fires) but holds nothing open.
      this.#timer?.unref();
      this.settleIdle();
    }
    return entry;
  }

  /** Empties the queue (the connection is poisoned): the caller rejects the entries. */
  takeAll(): Pending[] {
    const pending = this.#inflight;
    this.#inflight = [];
    return pending;
  }

  /** Resolves when no reply is pending. */
  idle(): Promise<void> {
    if (this.#inflight.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  settleIdle(): void {
    const waiters = this.#idleWaiters;
    if (waiters.length === 0) return;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  clearTimer(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  /** The final write reached the socket: the message is handed over, the final-reply timer starts. */
  #handedOver(entry: Pending): void {
    if (this.#host.broken() || entry.handedOver) return;
    entry.handedOver = true;
    this.handedOverAt = performance.now();
    entry.phase = 'finalReply';
    entry.timeout = this.#host.timeouts.finalReply;
    // Restarted from now: its phase changed.
    if (this.#inflight[0] === entry) this.#armTimer();
  }

  /**
   * Gives the head entry its deadline: its own timeout from now. One timer per connection, moved only
   * when the new deadline comes before it would fire (a command with a shorter timeout of its own);
   * otherwise it fires as armed, finds the later deadline and sleeps the rest. So a steady stream of
   * replies costs a clock read each, not a timer operation (a refresh per reply was a visible share of
   * a send).
   */
  #armTimer(): void {
    const head = this.#inflight[0];
    if (!head) return;
    const now = Date.now();
    this.#deadline = now + head.timeout;
    const timer = this.#timer;
    if (timer !== null) {
      timer.ref();
      if (this.#timerAt <= this.#deadline) return;
      clearTimeout(timer);
    }
    this.#start(head.timeout, now);
  }

  #start(ms: number, now: number): void {
    this.#timerAt = now + ms;
    this.#timer = setTimeout(this.#onTimeout, ms);
  }

  #onTimeout = (): void => {
    this.#timer = null;
    const head = this.#inflight[0];
    if (!head) return;
    const now = Date.now();
    if (now < this.#deadline) {
      this.#start(this.#deadline - now, now);
      return;
    }
    this.#host.timedOut(head);
  };
}

/** The command an entry stands for, as errors and the transcript may show it (secrets redacted). */
export function shownCommand(entry: Pending): string {
  return entry.label ?? (entry.line === null ? '' : cmd.redactCommand(entry.line));
}
