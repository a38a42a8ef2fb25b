/**
 * What every conform check gets: the resolved options, what the first session learnt, and
 * `open()`, which starts a fresh raw session (greeting, EHLO, STARTTLS and EHLO again when the
 * run uses TLS, AUTH when credentials were given) whose evidence becomes the check's.
 */
import type tls from 'node:tls';
import { assertNoLineBreaks, InvalidArgumentError } from '../errors.js';
import { type AuthMethod, chooseMechanism as chooseSaslMechanism } from '../protocol/auth.js';
import type { ServerInfo } from '../protocol/extensions.js';
import { formatReply, type Reply } from '../protocol/reply.js';
import { type Evidence, RawSession } from './raw-session.js';
import type { ConformCheckId, ConformGroup, ConformStatus } from './types.js';

/** A check's verdict before the runner adds id, group, evidence and timing. */
export interface Verdict {
  status: ConformStatus;
  reason: string;
}

/** One check: what it tests, where the RFC says so, and how to run it. */
export interface CheckDef {
  id: ConformCheckId;
  group: ConformGroup;
  rfc: string;
  /** `rcpt`: sends mail, so needs the operator's mailbox; skipped without it. */
  needs?: 'rcpt';
  run(ctx: CheckContext): Promise<Verdict>;
}

/** Options after defaults, shared by every check of a run. */
export interface Resolved {
  host: string;
  port: number;
  /** Whether the protocol checks use TLS, and how. */
  channel: 'plain' | 'starttls' | 'implicit';
  tls: tls.ConnectionOptions | undefined;
  clientName: string;
  sender: string;
  rcpt: string | null;
  credentials: { username: string; password: string; method: AuthMethod | null; accessToken?: string } | null;
  relayTest: boolean;
  replyTimeout: number;
  connectTimeout: number;
  unknownCommandLimit: number;
  signal: AbortSignal | undefined;
}

/** What the first session found; checks read it instead of asking again. */
export interface Baseline {
  greeting: Reply;
  /** EHLO in plaintext; null with implicit TLS. */
  plain: ServerInfo | null;
  /** EHLO on the channel the checks use (after STARTTLS when used). */
  info: ServerInfo;
  /** The certificate did not verify: sessions skip verification and never authenticate. */
  unverified: boolean;
  /** Sessions authenticate (credentials given and AUTH worked in the first session). */
  authenticate: boolean;
}

const pass = (reason: string): Verdict => ({ status: 'pass', reason });
const warn = (reason: string): Verdict => ({ status: 'warn', reason });
const fail = (reason: string): Verdict => ({ status: 'fail', reason });
const skipped = (reason: string): Verdict => ({ status: 'skipped', reason });
/** Verdict constructors, for brevity in the check modules. */
export const verdict = { pass, warn, fail, skipped };

/** Reply codes as `250 354 550`. */
export function codes(replies: readonly Reply[]): string {
  return replies.map((r) => r.code).join(' ') || 'none';
}

/** A check's view of the run. */
export class CheckContext {
  readonly options: Resolved;
  readonly baseline: Baseline;
  /** Absolute `performance.now()` after which the check's waits fail. */
  readonly deadline: number;
  readonly #sessions: RawSession[] = [];
  /** Raw reply lines of every session of the run, one array per session (for reply-syntax). */
  readonly #runLines: string[][];

  constructor(options: Resolved, baseline: Baseline, deadline: number, runLines: string[][]) {
    this.options = options;
    this.baseline = baseline;
    this.deadline = deadline;
    this.#runLines = runLines;
  }

  /** Raw reply lines of every session so far, one array per session. */
  runLines(): readonly (readonly string[])[] {
    return this.#runLines;
  }

  /** The capabilities on the checks' channel. */
  get info(): ServerInfo {
    return this.baseline.info;
  }

  /** TLS options for sessions: the caller's, without verification when the certificate failed it. */
  get tlsOptions(): tls.ConnectionOptions | undefined {
    return this.baseline.unverified ? { ...this.options.tls, rejectUnauthorized: false } : this.options.tls;
  }

  /** The evidence of every session this check opened, one after the other. */
  get evidence(): Evidence {
    const out: Evidence = { sent: [], received: [] };
    this.#sessions.forEach((s, i) => {
      if (this.#sessions.length > 1) {
        out.sent.push(`(connection ${i + 1})`);
        out.received.push(`(connection ${i + 1})`);
      }
      out.sent.push(...s.evidence.sent);
      out.received.push(...s.evidence.received);
    });
    return out;
  }

  /** Opens TCP (and implicit TLS) only: nothing read, nothing written. */
  async connect(overrides: { tls?: tls.ConnectionOptions; implicitTls?: boolean } = {}): Promise<RawSession> {
    const o = this.options;
    const lines: string[] = [];
    this.#runLines.push(lines);
    const session = await RawSession.connect({
      host: o.host,
      port: o.port,
      implicitTls: overrides.implicitTls ?? o.channel === 'implicit',
      tls: overrides.tls ?? this.tlsOptions,
      connectTimeout: o.connectTimeout,
      tlsTimeout: o.connectTimeout,
      replyTimeout: o.replyTimeout,
      deadline: this.deadline,
      signal: o.signal,
      lineSink: (line) => lines.push(line),
    });
    this.#sessions.push(session);
    return session;
  }

  /**
   * A session ready for commands: greeting, EHLO, STARTTLS + EHLO on a STARTTLS run (unless
   * `plain`), AUTH when the run authenticates (unless `auth: false`).
   * @throws SmtpError when a step is refused (the check turns it into an inconclusive verdict).
   */
  async open(options: { plain?: boolean; auth?: boolean } = {}): Promise<RawSession> {
    const o = this.options;
    const session = await this.connect();
    let info = await session.hello(o.clientName);
    if (o.channel === 'starttls' && options.plain !== true) {
      await session.startTls();
      info = await session.ehlo(o.clientName);
    }
    if (options.auth !== false && this.baseline.authenticate && o.credentials && options.plain !== true) {
      const method = o.credentials.method ?? chooseMechanism(info, o.credentials, true);
      if (method !== null) {
        const { username, password, accessToken } = o.credentials;
        const reply = await session.auth(method, username, password, accessToken);
        if (reply.code !== 235) throw new Error(`AUTH ${method} answered ${formatReply(reply)}`);
      }
    }
    return session;
  }

  /**
   * MAIL FROM the sender, RCPT TO the operator's mailbox, DATA. Returns null when the server said
   * 354, else an inconclusive verdict naming the refusal (nothing to judge then).
   */
  async beginData(session: RawSession, mailParams = ''): Promise<Verdict | null> {
    const rcpt = this.options.rcpt;
    if (rcpt === null) return skipped('needs --rcpt (a mailbox you own)');
    for (const [line, ok] of [
      [`MAIL FROM:<${this.options.sender}>${mailParams}`, (c: number) => c === 250],
      [`RCPT TO:<${rcpt}>`, (c: number) => c === 250 || c === 251],
      ['DATA', (c: number) => c === 354],
    ] as const) {
      const reply = await session.command(line);
      if (!ok(reply.code)) return warn(`inconclusive: ${line.split(/[: ]/)[0]} answered ${formatReply(reply)}`);
    }
    return null;
  }

  /** Header block of a test message naming the check (CRLF line ends, blank line included). */
  header(id: string, part = ''): string {
    const o = this.options;
    return (
      `From: <${o.sender}>\r\nTo: <${o.rcpt ?? ''}>\r\nSubject: smtpwire conform ${id}${part}\r\n` +
      `Date: ${new Date().toUTCString().replace('GMT', '+0000')}\r\n` +
      `Message-ID: <${id}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}@smtpwire.invalid>\r\n\r\n`
    );
  }

  /** Closes every session this check opened. */
  close(): void {
    for (const s of this.#sessions) {
      // A polite QUIT is not needed: the checks' sessions are throw-away.
      s.destroy();
    }
  }
}

/**
 * The mechanism the engine itself would choose among those advertised (`protocol/sasl`: a token →
 * OAUTHBEARER, XOAUTH2; a password → SCRAM first, then PLAIN, LOGIN, CRAM-MD5 under TLS), without
 * channel binding; null when none fits.
 */
export function chooseMechanism(
  info: ServerInfo,
  credentials: { username: string; password?: string | undefined; accessToken?: string | undefined },
  secure: boolean,
): AuthMethod | null {
  // The engine's own choice (strongest first), without channel binding: the raw session has none.
  try {
    return chooseSaslMechanism(
      info.authMechanisms,
      {
        username: credentials.username,
        ...(credentials.password === undefined ? {} : { password: credentials.password }),
        ...(credentials.accessToken === undefined ? {} : { accessToken: credentials.accessToken }),
      },
      { secure },
    );
  } catch {
    return null;
  }
}

/**
 * The one rule for values the raw session writes into a command line (host, addresses, EHLO name,
 * user): non-empty, no whitespace, angle bracket or NUL — so no CR/LF can reach the wire.
 * @throws InvalidArgumentError naming `field`.
 */
export function assertBareArgument(value: unknown, field: string): void {
  // CR, LF or NUL: the one injection code (errors.ts), whatever the field.
  if (typeof value === 'string') assertNoLineBreaks(value, field);
  if (typeof value !== 'string' || value === '' || /[\s<>\0]/.test(value))
    throw new InvalidArgumentError(`${field} must be a non-empty value without spaces, angle brackets or NUL`, {
      field,
    });
}
