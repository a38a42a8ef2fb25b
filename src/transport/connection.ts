/**
 * SmtpConnection: one socket and its SMTP session (RFC 5321). This file owns the session's state: the
 * phase table and `transition`, the socket's lifecycle, and `#fail`, which poisons the connection
 * (a protocol error, a timeout, an abort or a lost socket: every pending and later call rejects with
 * that same error, and the pool never reuses it). Each step reaches it through a narrow host interface:
 *
 *   reply-queue.ts      commands written ⇄ replies read, in order; the head's timer; STARTTLS's discard
 *   socket-writer.ts    writes coalesced per event-loop turn, drain, the graceful end
 *   handshake.ts        greeting, EHLO/LHLO with the HELO fallback, the client name
 *   login.ts            AUTH's checks and mechanism choice (the exchange: protocol/sasl/)
 *   transaction.ts      MAIL/RCPT/DATA or BDAT, pipelined, hand-over, LMTP's per-recipient replies
 *   transcript.ts       where protocol lines go
 *
 * Transactions run under a writer lock released once the final dot is written, not when its reply
 * arrives: with PIPELINING a warm connection costs about one round trip per message. The message is
 * *handed over* only when the socket has taken that final write (its write callback).
 *
 * Around it: connection-types.ts (options and phases), connection-options.ts (their checks, the TLS upgrade's), transaction-plan.ts (what this server can take),
 * body.ts (DATA pump, BDAT chunker), timeouts.ts, outcome.ts (what a transaction came to), connect.ts
 * (sockets, TLS).
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type tls from 'node:tls';
import type { SmtpEncryption, SmtpProtocol } from '../enums.js';
import {
  AbortError,
  assertNoLineBreaks,
  ClosedError,
  ConnectionError,
  ErrorCodes,
  SmtpError,
  toSmtpError,
} from '../errors.js';
import type { Timeouts } from '../options.js';
import { type AuthMethod, type Credentials, saslLogin } from '../protocol/auth.js';
import * as cmd from '../protocol/commands.js';
import type { ServerInfo } from '../protocol/extensions.js';
import { type Reply, ReplyParser, replyMatches } from '../protocol/reply.js';
import { listenAbort } from '../util/abort.js';
import { channels } from '../util/channels.js';
import { Mutex } from '../util/mutex.js';
import { openSocket, upgradeToTls } from './connect.js';
import { resolveConnectionOptions, tlsUpgradeOptions } from './connection-options.js';
import type {
  ConnectionTimings,
  OperationOptions,
  Phase,
  SendMailOptions,
  SmtpConnectionOptions,
} from './connection-types.js';
import { greetingRefused, hello, localName, startTlsUnavailable } from './handshake.js';
import { planLogin } from './login.js';
import { type MailOutcome, replyError, startTlsRefused } from './outcome.js';
import { type Pending, ReplyQueue, type SendOptions, shownCommand } from './reply-queue.js';
import { endSocket, SocketWriter } from './socket-writer.js';
import { boundedLocal, handedOverError, LOCAL_STEP_MAX_MS, timeoutError, tlsModeMismatch } from './timeouts.js';
import { probeImplicitTls, TLS_PROBE_WINDOW_MS } from './tls-probe.js';
import { type Session, sendTransaction, type TransactionHost } from './transaction.js';
import { type Envelope, type MessageBody, planTransaction, type TransactionPlan } from './transaction-plan.js';
import { Transcript } from './transcript.js';

const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = {
  connecting: ['greeting', 'closed'],
  greeting: ['ready', 'closing', 'closed'],
  ready: ['ready', 'mail', 'closing', 'closed'],
  mail: ['rcpt', 'ready', 'closed'],
  rcpt: ['data', 'ready', 'closed'],
  data: ['ready', 'closed'],
  closing: ['closed'],
  closed: [],
};

export { DEFAULT_TIMEOUTS, RFC5321_TIMEOUTS, resolveTimeouts, type Timeouts } from '../options.js';
export { DEFAULT_CHUNK_SIZE } from './body.js';
export type {
  ConnectionTimings,
  OperationOptions,
  Phase,
  SendMailOptions,
  SmtpConnectionOptions,
  TranscriptEntry,
} from './connection-types.js';
export type { MailOutcome, RecipientRejection, TransactionTimings } from './outcome.js';
export type { DsnOptions, Envelope, MessageBody } from './transaction-plan.js';

/**
 * One SMTP session over one socket. Create, `connect()`, optionally `login()`, then `sendMail()` as
 * often as needed (concurrent calls are queued and pipelined), and `close()` or `destroy()`.
 */
export class SmtpConnection extends EventEmitter {
  readonly host: string;
  readonly port: number;
  readonly encryption: SmtpEncryption;
  /** `'smtp'` or `'lmtp'` (RFC 2033). */
  readonly protocol: SmtpProtocol;
  readonly createdAt = Date.now();

  readonly #options: SmtpConnectionOptions;
  readonly #timeouts: Timeouts;
  #socket: net.Socket | null = null;
  #phase: Phase = 'connecting';
  #started = false;
  #broken: SmtpError | null = null;
  #info: ServerInfo | null = null;
  #secure = false;
  #authenticatedAs: string | null = null;
  #authMechanism: AuthMethod | null = null;
  #greeting: Reply | null = null;
  #plaintextInfo: ServerInfo | null = null;
  readonly #timings: ConnectionTimings = {};
  readonly #out = new SocketWriter(
    () => this.#socket,
    () => this.#broken,
  );
  readonly #writer = new Mutex();
  #messagesSent = 0;
  readonly #replies: ReplyQueue;
  readonly #txHost: TransactionHost;
  readonly #transcript: Transcript;

  constructor(options: SmtpConnectionOptions) {
    super();
    const { host, port, encryption, protocol, timeouts } = resolveConnectionOptions(options);
    this.#timeouts = timeouts;
    this.host = host;
    this.port = port;
    this.encryption = encryption;
    this.protocol = protocol;
    this.#options = options;
    this.#transcript = new Transcript(options.onTranscript, host, port);
    this.#replies = new ReplyQueue({
      timeouts: this.#timeouts,
      broken: () => this.#broken,
      write: (data, onWritten) => this.#out.write(data, onWritten),
      transcribing: () => this.#transcript.active,
      transcript: (direction, line) => this.#transcript.line(direction, line),
      timedOut: (head) => this.#timedOut(head),
      fail: (err) => this.#fail(err),
      newParser: () => this.#newParser(),
    });
    const session: Session = {
      phase: () => this.#phase,
      transition: (to) => this.#transition(to),
      fail: (err) => this.#fail(err),
      broken: () => this.#broken,
      assertUsable: () => this.#assertUsable(),
      pipelining: () => this.#pipelining,
      delivered: () => {
        this.#messagesSent++;
      },
    };
    this.#txHost = {
      host,
      protocol,
      chunkSize: options.chunkSize,
      lock: this.#writer,
      channel: this.#replies,
      writer: {
        dataIdle: this.#timeouts.dataIdle,
        write: async (buf) => {
          this.#assertUsable();
          if (!this.#out.write(buf)) await this.#out.drain();
        },
        flush: () => this.#out.flush(),
      },
      session,
      transcript: this.#transcript,
    };
  }

  // ── state ────────────────────────────────────────────────────────────────────────────────

  get phase(): Phase {
    return this.#phase;
  }
  /** What the server advertised (after STARTTLS, the new EHLO's answer); null before EHLO. */
  get capabilities(): ServerInfo | null {
    return this.#info;
  }
  /** True once TLS is active (implicit or after STARTTLS). */
  get secure(): boolean {
    return this.#secure;
  }
  get authenticated(): boolean {
    return this.#authenticatedAs !== null;
  }
  /** The SASL mechanism of the successful `login()` (e.g. `'SCRAM-SHA-256-PLUS'`), null before. */
  get authMechanism(): AuthMethod | null {
    return this.#authMechanism;
  }
  /** The error that poisoned this connection, if any. */
  get error(): SmtpError | null {
    return this.#broken;
  }
  /** Broken or closed: never usable again. */
  get isBroken(): boolean {
    return this.#broken !== null;
  }
  /** Connected, greeted and not in a transaction or a failure. */
  get isReady(): boolean {
    return this.#broken === null && this.#phase === 'ready';
  }
  /** Commands written and not yet answered. */
  get pendingReplies(): number {
    return this.#replies.length;
  }

  /**
   * Lets the process exit while this connection only waits (a pool calls it when it parks the
   * connection, as undici does): a forgotten `close()` never holds the event loop. A command's reply
   * timer stays ref'd, so an awaited reply still keeps the process alive. `ref()` undoes it.
   */
  unref(): void {
    this.#socket?.unref();
  }

  /** Undoes `unref()`: the socket keeps the process alive again. */
  ref(): void {
    this.#socket?.ref();
  }
  get messagesSent(): number {
    return this.#messagesSent;
  }
  /** The TLS socket when TLS is active (for the certificate, cipher and protocol). */
  get tlsSocket(): tls.TLSSocket | null {
    return this.#secure ? (this.#socket as tls.TLSSocket) : null;
  }
  /** The 220 greeting. */
  get greeting(): Reply | null {
    return this.#greeting;
  }
  /** What the server advertised before STARTTLS (null without STARTTLS). */
  get plaintextCapabilities(): ServerInfo | null {
    return this.#plaintextInfo;
  }
  /** How long each step of `connect()` took, in ms (for probes and diagnostics). */
  get timings(): Readonly<ConnectionTimings> {
    return this.#timings;
  }
  /** Octets of plaintext received after the STARTTLS 220 and thrown away (RFC 3207 §6). */
  get plaintextDiscarded(): number {
    return this.#replies.plaintextDiscarded;
  }

  // ── connect, greeting, EHLO, STARTTLS ─────────────────────────────────────────────────────

  /**
   * Connects, reads the greeting, says EHLO (HELO when EHLO is refused), and upgrades with STARTTLS
   * when encryption is `'tls'`, saying EHLO again. Resolves with the capabilities.
   * @throws ConnectionError, TimeoutError, TlsError, ReplyError (`ERR_SMTP_GREETING_REFUSED` for 421/554),
   *   ProtocolError, AbortError.
   */
  async connect(options: OperationOptions = {}): Promise<ServerInfo> {
    if (this.#started)
      throw this.#broken ?? new SmtpError('connect() was already called', { code: ErrorCodes.INVALID_STATE });
    this.#started = true;
    const { signal } = options;
    const onAbort = (): void => this.#fail(new AbortError('connect aborted', { cause: signal?.reason }));
    try {
      let t = performance.now();
      const lap = (step: keyof ConnectionTimings): void => {
        const now = performance.now();
        this.#timings[step] = now - t;
        t = now;
      };
      let socket = await (this.#options.socketFactory ?? openSocket)({
        host: this.host,
        port: this.port,
        connectTimeout: this.#timeouts.connect,
        signal,
        localAddress: this.#options.localAddress,
      });
      lap('connect');
      // destroy() may have been called while the socket was opening: it must not outlive that.
      if (this.#broken) socket.destroy();
      if (this.encryption === 'ssl' && !this.#broken) {
        socket = await upgradeToTls(socket, tlsUpgradeOptions(this, this.#options, this.#timeouts, true, signal));
        lap('tls');
        this.#secure = true;
        if (this.#broken) socket.destroy();
      }
      if (this.#broken) throw this.#broken;
      if (signal?.aborted) throw new AbortError('connect aborted', { cause: signal.reason });
      listenAbort(signal, onAbort);
      this.#attach(socket);
      this.#transition('greeting');
      const greeting = await this.#send(null, { phase: 'greeting', timeout: this.#timeouts.greeting });
      this.#greeting = greeting;
      lap('greeting');
      // The catch below poisons the connection with whatever is thrown in these steps.
      const refused = greetingRefused(greeting);
      if (refused) throw refused;
      await this.#hello();
      lap('ehlo');
      if (this.encryption === 'tls' && !this.#secure) {
        if (this.#info!.startTls) {
          await this.#startTls(signal);
          lap('starttls');
        } else if (!this.#options.opportunisticTls) throw startTlsUnavailable(this.host, this.port);
      }
      this.#transition('ready');
      if (channels.connected.hasSubscribers)
        channels.connected.publish({ host: this.host, port: this.port, secure: this.#secure, connection: this });
      return this.#info!;
    } catch (err) {
      const wrapped = toSmtpError(err);
      this.#fail(wrapped);
      throw this.#broken ?? wrapped;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #hello(): Promise<void> {
    this.#info = await hello(this.#replies, this.protocol, this.#options.clientName ?? localName(this.#socket));
  }

  async #startTls(signal: AbortSignal | undefined): Promise<void> {
    const reply = await this.#send(cmd.starttls(), { switchesToTls: true });
    if (reply.code !== 220) throw startTlsRefused(reply);
    const plain = this.#socket!;
    this.#detach(plain);
    // RFC 3207 §6: forget everything learned before TLS, including bytes already buffered.
    this.#plaintextInfo = this.#info;
    this.#info = null;
    this.#replies.resetParser();
    const secure = await upgradeToTls(plain, tlsUpgradeOptions(this, this.#options, this.#timeouts, false, signal));
    this.#replies.discardInput(false);
    this.#secure = true;
    this.#attach(secure);
    await this.#hello();
  }

  /** Says EHLO again (e.g. to refresh capabilities). */
  async ehlo(options: OperationOptions = {}): Promise<ServerInfo> {
    await this.#exclusive(options.signal, true, () => this.#hello());
    return this.#info!;
  }

  // ── AUTH ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Authenticates (RFC 4954) with the given mechanism or the best advertised one.
   * Credentials go over plaintext only to loopback or with `allowInsecureAuth`.
   * @throws AuthError (`ERR_SMTP_AUTH` refused, `ERR_SMTP_AUTH_UNAVAILABLE`, `ERR_SMTP_AUTH_INSECURE`).
   */
  async login(credentials: Credentials, options: OperationOptions & { method?: AuthMethod } = {}): Promise<void> {
    this.#assertUsable();
    const sasl = planLogin(
      {
        host: this.host,
        port: this.port,
        tlsSocket: this.tlsSocket,
        info: this.#info!,
        allowInsecureAuth: this.#options.allowInsecureAuth,
        scramMinIterations: this.#options.scramMinIterations,
      },
      credentials,
      options.method,
    );
    await this.#exclusive(options.signal, true, async () => {
      const limit = Math.min(this.#timeouts.command, LOCAL_STEP_MAX_MS);
      await saslLogin(
        {
          send: (line, shown) => this.#send(line, shown === undefined ? {} : { redacted: shown }),
          local: (work, what) => boundedLocal(this, work, limit, what),
        },
        sasl,
      );
      this.#authenticatedAs = credentials.username;
      this.#authMechanism = sasl.method;
    });
  }

  // ── the transaction ──────────────────────────────────────────────────────────────────────

  /**
   * Sends one message: MAIL, RCPT for each recipient, DATA (or BDAT) and the body. Refused recipients
   * do not fail the others. Reply outcomes resolve (see `MailOutcome`); the connection stays usable
   * after them. Throws only when the message could not be put through the protocol.
   * @throws CapabilityError (SIZE, SMTPUTF8, 8BITMIME, DSN), InvalidArgumentError (CR/LF in an address,
   *   body line over 998 octets), ConnectionError / TimeoutError / AbortError (with `messageHandedOver`
   *   true, and `ERR_SMTP_OUTCOME_UNKNOWN` for a lost connection, when the message may have been delivered).
   */
  sendMail(envelope: Envelope, body: MessageBody, options: SendMailOptions = {}): Promise<MailOutcome> {
    // Not an async function: the transaction is the one async frame per message.
    let plan: TransactionPlan;
    try {
      this.#assertUsable();
      plan = planTransaction(envelope, body, this.#info!, {
        host: this.host,
        chunking: this.#options.chunking === true,
      });
    } catch (err) {
      return Promise.reject(err);
    }
    return sendTransaction(this.#txHost, plan, body, options);
  }

  /** The one answer to "is pipelining on": advertised and not turned off (RFC 2920). */
  get #pipelining(): boolean {
    return this.#info?.pipelining === true && this.#options.pipelining !== false;
  }

  // ── RSET, NOOP, QUIT, generic commands ───────────────────────────────────────────────────

  /** RSET: abort any transaction state on the server. */
  async rset(options: OperationOptions = {}): Promise<Reply> {
    return this.#exclusive(options.signal, false, () => this.#replies.expect(cmd.rset(), 250));
  }

  /** NOOP: a real round trip, e.g. to check a parked connection. */
  async noop(options: OperationOptions = {}): Promise<Reply> {
    return this.#exclusive(options.signal, false, () => this.#replies.expect(cmd.noop(), 250));
  }

  /**
   * Sends any command line and resolves with its reply, whatever the code (for probes and extensions).
   * The line must not contain CR or LF; CRLF is added.
   */
  async command(line: string, options: OperationOptions & { expect?: number } = {}): Promise<Reply> {
    assertNoLineBreaks(line, 'command');
    return this.#exclusive(options.signal, true, async () => {
      const reply = await this.#send(`${line}\r\n`);
      if (options.expect !== undefined && !replyMatches(reply, options.expect)) throw replyError(line, reply);
      return reply;
    });
  }

  /** QUIT and wait for the server to close. Resolves with the 221 reply. */
  async quit(options: OperationOptions = {}): Promise<Reply> {
    return this.#exclusive(options.signal, true, async () => {
      this.#transition('closing');
      const reply = await this.#send(cmd.quit());
      void endSocket(this.#socket);
      return reply;
    });
  }

  /** Graceful: waits for pending replies, says QUIT, closes the socket and waits for it. Never throws. */
  async close(): Promise<void> {
    if (
      !this.#broken &&
      this.#phase !== 'closing' &&
      this.#started &&
      this.#phase !== 'connecting' &&
      this.#phase !== 'greeting'
    ) {
      try {
        await this.quit();
      } catch {
        // The server went away first; the socket is closed either way.
      }
    }
    await endSocket(this.#socket);
    this.#fail(new ClosedError('connection closed'));
  }

  /** Immediate: drops the socket; pending calls reject with `err` (default ClosedError). */
  destroy(err?: Error): void {
    this.#fail(err ? toSmtpError(err) : new ClosedError('connection destroyed'));
  }

  // ── internals: commands and their replies (reply-queue.ts) ──────────────────────────────

  #send(line: string | null, opts?: SendOptions): Promise<Reply> {
    return this.#replies.send(line, opts);
  }

  /** Runs `fn` under the writer lock; `barrier` commands (EHLO, AUTH, QUIT) wait for every reply first. */
  async #exclusive<T>(signal: AbortSignal | undefined, barrier: boolean, fn: () => Promise<T>): Promise<T> {
    this.#assertUsable();
    const release = await this.#writer.acquire(signal);
    const onAbort = (): void => this.#fail(new AbortError('operation aborted', { cause: signal?.reason }));
    listenAbort(signal, onAbort);
    try {
      if (barrier || !this.#pipelining) await this.#replies.idle();
      this.#assertUsable();
      return await fn();
    } catch (err) {
      const wrapped = toSmtpError(err);
      // The server said no (a reply, AUTH's 535 included): the session goes on. Anything else poisons it.
      if (wrapped.replyCode === null) this.#fail(wrapped);
      throw wrapped;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      release();
    }
  }

  /**
   * The head's timer ran out: the connection is poisoned with a TimeoutError naming what it waited for. A
   * silent greeting without TLS is first probed with a ClientHello: a TLS record back is the implicit-TLS mix-up.
   */
  #timedOut(head: Pending): void {
    const err = timeoutError(head.phase, shownCommand(head), head.timeout, this);
    const socket = this.#socket;
    if (head.phase !== 'greeting' || this.#secure || err.code === ErrorCodes.TLS_MODE_MISMATCH || !socket) {
      this.#fail(err);
      return;
    }
    this.#detach(socket);
    void probeImplicitTls(socket, Math.min(TLS_PROBE_WINDOW_MS, head.timeout, this.#timeouts.tls)).then((tls) =>
      this.#fail(tls ? tlsModeMismatch(head.timeout, this) : err),
    );
  }

  // ── internals: socket ────────────────────────────────────────────────────────────────────

  #attach(socket: net.Socket): void {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', this.#replies.receive);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('end', this.#onEnd);
    socket.on('drain', this.#out.onDrain);
  }

  #detach(socket: net.Socket): void {
    socket.off('data', this.#replies.receive);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    socket.off('end', this.#onEnd);
    socket.off('drain', this.#out.onDrain);
    // Between the 220 and the handshake nothing may be read as SMTP.
    this.#replies.discardInput(true);
  }

  #onError = (err: Error): void => {
    this.#fail(new ConnectionError(`connection to ${this.host}:${this.port} failed: ${err.message}`, { cause: err }));
  };

  #onEnd = (): void => {
    if (this.#phase !== 'closing') this.#lost();
  };

  #onClose = (): void => {
    if (this.#phase === 'closing' && this.#replies.length === 0)
      this.#fail(new ClosedError('connection closed after QUIT'));
    else this.#lost();
  };

  /** The server closed the connection while it was still needed. */
  #lost(): void {
    const message = `${this.host}:${this.port} closed the connection`;
    this.#fail(new ConnectionError(message, { code: ErrorCodes.CONNECTION_CLOSED }));
  }

  /** Poisons the connection with `err`: rejects every pending and later call, drops the socket. */
  #fail(err: SmtpError): void {
    if (this.#broken) return;
    this.#broken = err;
    this.#replies.clearTimer();
    this.#transition('closed');
    const socket = this.#socket;
    if (socket) {
      socket.off('data', this.#replies.receive);
      socket.destroy();
    }
    for (const entry of this.#replies.takeAll()) entry.reject(entry.handedOver ? handedOverError(err) : err);
    this.#out.rejectDrains(err);
    this.#replies.settleIdle();
    if (channels.closed.hasSubscribers)
      channels.closed.publish({ host: this.host, port: this.port, error: err, connection: this });
    this.emit('close', err);
  }

  #assertUsable(): void {
    if (this.#broken) throw this.#broken;
    if (this.#phase === 'connecting' || this.#phase === 'greeting') {
      throw new SmtpError('not connected: call connect() first', { code: ErrorCodes.INVALID_STATE });
    }
    if (this.#phase === 'closing') throw new ClosedError('connection is closing');
  }

  #transition(to: Phase): void {
    if (!TRANSITIONS[this.#phase].includes(to)) {
      throw new SmtpError(`illegal state change ${this.#phase} → ${to}`, { code: ErrorCodes.INVALID_STATE });
    }
    this.#phase = to;
  }

  #newParser(): ReplyParser {
    const wantsLines = this.#transcript.active;
    return new ReplyParser({
      ...(this.#options.maxLineLength === undefined ? {} : { maxLineLength: this.#options.maxLineLength }),
      ...(this.#options.maxReplyLines === undefined ? {} : { maxReplyLines: this.#options.maxReplyLines }),
      ...(wantsLines ? { onLine: (line: string) => this.#transcript.line('server', line) } : {}),
    });
  }
}
