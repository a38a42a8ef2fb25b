/**
 * The one raw-socket SMTP client of `probe` and `conform`: it writes exact bytes (bare CR, bare LF,
 * NUL, several commands in one write — what the engine's encoder never lets out) and reads replies
 * with the engine's own parser (`protocol/reply.ts`), keeping every byte as evidence.
 *
 * Every socket and TLS step goes through `transport/connect.ts` (TCP connect, implicit TLS, the
 * STARTTLS upgrade with its SNI rules). After a STARTTLS 220, plaintext the server sent behind it
 * is dropped, never read as a reply (RFC 3207 §6, CVE-2011-0411 on the client side).
 *
 * Secrets never reach the evidence: AUTH lines and SASL responses are recorded as `****`.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { ConnectionError, ProtocolError, SmtpError, TimeoutError } from '../errors.js';
import { type AuthMethod, saslLogin } from '../protocol/auth.js';
import { heloInfo, parseEhlo, type ServerInfo } from '../protocol/extensions.js';
import { formatReply, type Reply, ReplyParser } from '../protocol/reply.js';
import { openSocket, upgradeToTls } from '../transport/connect.js';
import { escapeTerminalText } from '../util/terminal-text.js';

/** How the raw session reaches the server. */
export interface RawSessionOptions {
  host: string;
  port: number;
  /** `'ssl'`: implicit TLS; otherwise plaintext until {@link RawSession.startTls}. */
  implicitTls: boolean;
  tls?: tls.ConnectionOptions | undefined;
  connectTimeout: number;
  tlsTimeout: number;
  /** Longest wait for one reply, ms. */
  replyTimeout: number;
  /** Absolute `performance.now()` past which every wait fails at once (the check's deadline). */
  deadline?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Every raw reply line of every session, for the reply-syntax check (optional shared sink). */
  lineSink?: ((line: string) => void) | undefined;
}

/** What a check shows for itself: the exact bytes sent and the reply lines received, escaped. */
export interface Evidence {
  sent: string[];
  received: string[];
}

/** Longest evidence entry kept; the rest is summarised by its length. */
const EVIDENCE_ENTRY_MAX = 400;

/**
 * Bytes as readable text through the one terminal escaper (`util/terminal-text.ts`: C0, DEL, C1 and
 * bidi controls escaped, backslashes doubled), everything else as UTF-8. Long entries are cut with a
 * note of the octets left out.
 */
export function escapeBytes(bytes: string | Uint8Array): string {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  let out = '';
  let i = 0;
  for (const ch of text) {
    if (out.length >= EVIDENCE_ENTRY_MAX) {
      const rest = Buffer.byteLength(text.slice(i));
      return `${out}… (${rest} more octets)`;
    }
    i += ch.length;
    out += escapeTerminalText(ch, { backslash: true });
  }
  return out;
}

/** The result of {@link RawSession.collect}: replies in order and how the wait ended. */
export interface Collected {
  replies: Reply[];
  /** `until`: the wanted reply came; `closed`: the server hung up; `timeout`: silence. */
  end: 'until' | 'closed' | 'timeout';
}

/**
 * One raw SMTP session. Replies queue in arrival order; `read()` takes the next one. A malformed
 * reply poisons the session (the parser's error is what later reads reject with).
 */
export class RawSession {
  readonly evidence: Evidence = { sent: [], received: [] };
  readonly #options: RawSessionOptions;
  #parser: ReplyParser;
  #socket: net.Socket;
  #queue: Reply[] = [];
  #waiter: { resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;
  #error: Error | null = null;
  #closed = false;
  /** STARTTLS was written: the next 220 switches to TLS and everything after it is dropped. */
  #tlsPending = false;
  #dropping = false;
  #plaintextDiscarded = 0;
  #tlsSocket: tls.TLSSocket | null = null;

  private constructor(socket: net.Socket, options: RawSessionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#parser = this.#newParser();
    this.#listen(socket);
  }

  /**
   * Opens TCP (and implicit TLS when asked); reads nothing yet, so a check can talk first.
   * @throws ConnectionError, TimeoutError, TlsError, AbortError (from connect.ts).
   */
  static async connect(options: RawSessionOptions): Promise<RawSession> {
    const budget = (ms: number): number =>
      options.deadline === undefined ? ms : Math.max(1, Math.min(ms, options.deadline - performance.now()));
    let socket: net.Socket = await openSocket({
      host: options.host,
      port: options.port,
      connectTimeout: budget(options.connectTimeout),
      signal: options.signal,
    });
    if (options.implicitTls) {
      socket = await upgradeToTls(socket, {
        host: options.host,
        port: options.port,
        tls: options.tls,
        tlsTimeout: budget(options.tlsTimeout),
        implicit: true,
        signal: options.signal,
      });
    }
    const session = new RawSession(socket, options);
    if (options.implicitTls) session.#tlsSocket = socket as tls.TLSSocket;
    return session;
  }

  /** The TLS socket once TLS is active (implicit or after STARTTLS). */
  get tlsSocket(): tls.TLSSocket | null {
    return this.#tlsSocket;
  }

  /** Octets of plaintext received after the STARTTLS 220 and dropped. */
  get plaintextDiscarded(): number {
    return this.#plaintextDiscarded;
  }

  /** True once the server closed the connection (or it failed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Replies received and not read yet. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Writes exactly these bytes. `shown` replaces them in the evidence (for secrets).
   */
  write(bytes: string | Uint8Array, shown?: string): void {
    this.evidence.sent.push(shown ?? escapeBytes(bytes));
    if (!this.#closed) this.#socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
  }

  /**
   * Writes `count` copies of `piece` with backpressure (a large body never sits in memory whole), and
   * stops early when the server closed, answered meanwhile (an early refusal) or the deadline passed.
   * The evidence gets `shown` once. Resolves with the octets written.
   */
  async writeRepeated(piece: string, count: number, shown: string): Promise<number> {
    this.evidence.sent.push(shown);
    const perWrite = Math.max(1, Math.floor((64 * 1024) / Math.max(1, piece.length)));
    const block = Buffer.from(piece.repeat(Math.min(perWrite, count)), 'utf8');
    const socket = (): net.Socket => this.#socket;
    let written = 0;
    for (let left = count; left > 0; ) {
      if (this.#closed || this.#error || this.#queue.length > 0) break;
      const deadline = this.#options.deadline;
      if (deadline !== undefined && performance.now() >= deadline) break;
      const n = Math.min(left, perWrite);
      const bytes = n === perWrite ? block : block.subarray(0, n * Buffer.byteLength(piece));
      left -= n;
      written += bytes.length;
      if (!socket().write(bytes)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            socket().off('drain', done);
            socket().off('close', done);
            resolve();
          };
          // The drain wait is bounded by the reply timeout (cut to the deadline), like any read.
          const timer = setTimeout(done, this.#wait(undefined));
          socket().once('drain', done);
          socket().once('close', done);
        });
      }
    }
    return written;
  }

  /**
   * The next reply, in order.
   * @throws the parser's ProtocolError, a ConnectionError-like Error when the server closed, or
   *   TimeoutError after `timeout` (default: the reply timeout, cut to the deadline).
   */
  read(timeout?: number): Promise<Reply> {
    const next = this.#queue.shift();
    if (next) return Promise.resolve(next);
    if (this.#error) return Promise.reject(this.#error);
    const wait = this.#wait(timeout);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        reject(new TimeoutError(`no reply within ${Math.round(wait)} ms`, { phase: 'command', timeout: wait }));
      }, wait);
      this.#waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /**
   * Reads replies until one satisfies `until`, the server closes, or nothing comes for `timeout`.
   * Never throws for those three endings; a malformed reply still throws.
   */
  async collect(until: (reply: Reply) => boolean, max = 500, timeout?: number): Promise<Collected> {
    const replies: Reply[] = [];
    while (replies.length < max) {
      try {
        const reply = await this.read(timeout);
        replies.push(reply);
        if (until(reply)) return { replies, end: 'until' };
      } catch (err) {
        if (err instanceof TimeoutError) return { replies, end: 'timeout' };
        if (err instanceof ProtocolError) throw err;
        return { replies, end: 'closed' };
      }
    }
    return { replies, end: 'until' };
  }

  /** Writes `line` + CRLF (when not null) and reads one reply. */
  async command(line: string | null, shown?: string): Promise<Reply> {
    if (line !== null) this.write(`${line}\r\n`, shown === undefined ? undefined : `${shown}\\r\\n`);
    return this.read();
  }

  /** Like {@link command}, and throws when the code is not `code`. */
  async expect(line: string | null, code: number): Promise<Reply> {
    const reply = await this.command(line);
    if (reply.code !== code) throw new SmtpError(`${line ?? 'greeting'} answered ${formatReply(reply)}`);
    return reply;
  }

  /** Reads the greeting (220 expected) and says EHLO. @throws SmtpError on another code. */
  async hello(clientName: string): Promise<ServerInfo> {
    await this.expect(null, 220);
    return this.ehlo(clientName);
  }

  /** EHLO, parsed; HELO when EHLO is not recognised (RFC 5321 §3.2). @throws SmtpError when refused. */
  async ehlo(clientName: string): Promise<ServerInfo> {
    const reply = await this.command(`EHLO ${clientName}`);
    if (reply.code === 250) return parseEhlo(reply);
    if (reply.code === 500 || reply.code === 502) return heloInfo(await this.expect(`HELO ${clientName}`, 250));
    throw new SmtpError(`EHLO answered ${formatReply(reply)}`);
  }

  /**
   * STARTTLS, the handshake through connect.ts, and nothing else (the caller says EHLO again).
   * `extra` goes out in the same write as STARTTLS (the injection check). Whatever the server sent
   * after its 220 in plaintext is dropped and counted in {@link plaintextDiscarded}.
   * @throws SmtpError when STARTTLS is refused; TlsError / TimeoutError from the handshake.
   */
  async startTls(extra = ''): Promise<void> {
    this.#tlsPending = true;
    this.write(`STARTTLS\r\n${extra}`);
    const reply = await this.read();
    if (reply.code !== 220) {
      this.#tlsPending = false;
      throw new SmtpError(`STARTTLS answered ${formatReply(reply)}`);
    }
    const plain = this.#socket;
    this.#unlisten(plain);
    const deadline = this.#options.deadline;
    const secure = await upgradeToTls(plain, {
      host: this.#options.host,
      port: this.#options.port,
      tls: this.#options.tls,
      tlsTimeout:
        deadline === undefined
          ? this.#options.tlsTimeout
          : Math.max(1, Math.min(this.#options.tlsTimeout, deadline - performance.now())),
      implicit: false,
      signal: this.#options.signal,
    });
    this.#dropping = false;
    this.#socket = secure;
    this.#tlsSocket = secure;
    this.#listen(secure);
  }

  /**
   * AUTH through the engine's own SASL exchange (`protocol/sasl`); the evidence shows `AUTH <MECH> ****`.
   * No channel binding here, so SCRAM-*-PLUS is never chosen on a raw session.
   * @returns the final reply (235 on success, the refusal otherwise).
   */
  async auth(method: AuthMethod, username: string, password?: string, accessToken?: string): Promise<Reply> {
    let last: Reply | null = null;
    const io = {
      send: async (line: string, shown?: string): Promise<Reply> => {
        const bare = line.endsWith('\r\n') ? line.slice(0, -2) : line;
        // The AUTH line may carry the initial response: only the verb and mechanism are shown.
        last = await this.command(
          bare,
          shown ?? bare.split(' ').slice(0, 2).join(' ') + (bare.split(' ').length > 2 ? ' ****' : ''),
        );
        return last;
      },
    };
    try {
      return await saslLogin(io, {
        method,
        credentials: {
          username,
          ...(password === undefined ? {} : { password }),
          ...(accessToken === undefined ? {} : { accessToken }),
        },
        channelBinding: null,
        advertised: [],
        host: this.#options.host,
        port: this.#options.port,
      });
    } catch (err) {
      if (last !== null && (last as Reply).code !== 334 && (last as Reply).code !== 235) return last;
      throw err;
    }
  }

  /** Closes at once. */
  destroy(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  #wait(timeout: number | undefined): number {
    const base = timeout ?? this.#options.replyTimeout;
    const deadline = this.#options.deadline;
    return deadline === undefined ? base : Math.max(1, Math.min(base, deadline - performance.now()));
  }

  #newParser(): ReplyParser {
    return new ReplyParser({
      onLine: (line) => {
        this.evidence.received.push(escapeBytes(line));
        this.#options.lineSink?.(line);
      },
    });
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#dropping) {
      this.#plaintextDiscarded += chunk.length;
      return;
    }
    let replies: Reply[];
    try {
      replies = this.#parser.push(chunk);
    } catch (err) {
      this.evidence.received.push(`(malformed: ${(err as Error).message})`);
      this.#fail(err as Error);
      this.#socket.destroy();
      return;
    }
    for (let i = 0; i < replies.length; i++) {
      const reply = replies[i]!;
      this.#deliver(reply);
      if (this.#tlsPending && reply.code === 220) {
        // RFC 3207 §6: nothing after the 220 is trusted; count it and drop it with the parser.
        this.#tlsPending = false;
        this.#dropping = true;
        this.#plaintextDiscarded += this.#parser.bufferedBytes + (replies.length - i - 1);
        this.#parser = this.#newParser();
        if (this.#plaintextDiscarded > 0)
          this.evidence.received.push('(what followed the 220 in plaintext was dropped: RFC 3207 §6)');
        return;
      }
    }
  };

  #deliver(reply: Reply): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve(reply);
    } else this.#queue.push(reply);
  }

  readonly #onError = (err: Error): void => this.#fail(err);
  readonly #onClose = (): void => {
    this.#closed = true;
    this.#fail(new ConnectionError('connection closed by the server'));
  };

  #listen(socket: net.Socket): void {
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  #unlisten(socket: net.Socket): void {
    socket.off('data', this.#onData);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
  }

  #fail(err: Error): void {
    this.#error ??= err;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(this.#error);
  }
}
