/**
 * One connection of the scripted SMTP server: the command dispatcher and the fault machinery that
 * sits between every command and its reply. Input is read through byte-reader.ts (lines, DATA
 * bodies, BDAT chunks).
 */
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';

import { serveAuth } from './auth-server.js';
import { ByteReader, type Line } from './byte-reader.js';
import { bodyFacts, unstuffDataBody } from './message-body.js';
import { EARLY_TALKER_REPLY, LenientTerminatorScanner, omitsEnhancedCode, type ServerQuirks } from './quirks.js';
import type { MessageRecord, SessionRecord, SmtpParams } from './records.js';
import type { CommandHook, RuleCounters, ScriptAction, ScriptRule } from './script.js';
import { DEFAULT_SPLIT_DELAY } from './script.js';

/** Resolved options, defaults applied. */
export interface Settings {
  host: string;
  port: number;
  hostname: string;
  greeting: readonly string[];
  capabilities: readonly string[] | ((defaults: string[]) => string[]) | undefined;
  secureContext: tls.SecureContext | null;
  requestCert: boolean;
  implicitTls: boolean;
  users: Readonly<Record<string, string>> | null;
  authMechanisms: readonly string[];
  requireAuth: boolean;
  requireTls: boolean;
  authRequiresTls: boolean;
  /** PBKDF2 iterations the SCRAM server asks for. */
  scramIterations: number;
  /** Speak LMTP (RFC 2033): LHLO, and one reply per accepted recipient after the data. */
  lmtp: boolean;
  maxMessageSize: number;
  maxLineLength: number;
  maxRecipients: number;
  onCommand: CommandHook | undefined;
  /** Keep commands, replies and message bodies in the records (false for a long-running sink). */
  record: boolean;
  /** Deliberate non-conformances (quirks.ts); empty by default. */
  quirks: ServerQuirks;
}

/** What a session needs from its server. */
export interface SessionHost {
  script(): readonly ScriptRule[];
  counters: RuleCounters;
  nextQueueId(): string;
  message(m: MessageRecord): void;
  closed(): void;
}

/** An open mail transaction (RFC 5321 §3.3). */
interface Transaction {
  mailFrom: string;
  mailParams: SmtpParams;
  rcptTo: string[];
  rcptParams: SmtpParams[];
  refusedRcptTo: string[];
  /** BDAT chunks so far (RFC 3030), or null when no BDAT was seen. */
  chunks: Buffer[] | null;
  chunkSizes: number[];
  chunkBytes: number;
  /** A BDAT chunk got a non-2xx reply: later chunks are refused until RSET (RFC 3030 §2). */
  bdatFailed: boolean;
}

/** The outcome of {@link Session.respond}. */
interface Answer {
  /** The reply written, or null when none was (silent, drop, closed). */
  sent: string | null;
  /** Its code (first three bytes), 0 when none or not numeric. */
  code: number;
}

/** Which EHLO keyword each MAIL/RCPT parameter needs. */
const PARAM_EXTENSION: Readonly<Record<string, string>> = {
  SIZE: 'SIZE', // RFC 1870
  BODY: '8BITMIME', // RFC 6152 (BINARYMIME checked separately, RFC 3030)
  SMTPUTF8: 'SMTPUTF8', // RFC 6531
  RET: 'DSN', // RFC 3461
  ENVID: 'DSN',
  NOTIFY: 'DSN',
  ORCPT: 'DSN',
  AUTH: 'AUTH', // RFC 4954 §5
  REQUIRETLS: 'REQUIRETLS', // RFC 8689
};

/** One connection: the reader, the command dispatcher and the fault machinery. */
export class Session {
  readonly record: SessionRecord;
  readonly #settings: Settings;
  readonly #host: SessionHost;
  readonly #raw: net.Socket;
  #socket: net.Socket;

  /** The client's bytes, as lines, DATA bodies and BDAT chunks (byte-reader.ts). */
  readonly #in = new ByteReader();

  #repliesSent = 0;
  readonly #timers = new Map<NodeJS.Timeout, () => void>();
  #closed = false;
  /** A drop or QUIT is under way: stop handling input. */
  #stopping = false;
  #silent = false;
  /** The greeting was not 220: only QUIT is served (RFC 5321 §3.1). */
  #refused = false;

  /** EHLO keywords advertised in this session, with their parameters (`SIZE` → `'100'`). */
  #advertised = new Map<string, string>();
  #enhanced = false;
  #tx: Transaction | null = null;

  constructor(socket: net.Socket, id: number, settings: Settings, host: SessionHost) {
    this.#settings = settings;
    this.#host = host;
    this.#raw = socket;
    this.#socket = socket;
    this.record = {
      id,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      startedAt: performance.now(),
      endedAt: null,
      commands: [],
      replies: [],
      messages: [],
      tls: false,
      starttls: false,
      tlsProtocol: null,
      tlsCipher: null,
      tlsError: null,
      clientCertificateCn: null,
      plaintextDiscarded: 0,
      helo: null,
      heloVerb: null,
      authUser: null,
      authMechanism: null,
      errors: [],
      closed: false,
    };
    // Split replies must leave as separate segments.
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  /** Serve the connection until it closes. Never rejects. */
  async run(): Promise<void> {
    try {
      if (this.#settings.implicitTls) {
        await this.#startTls();
        if (!this.record.tls) return;
      }
      if (await this.#earlyTalker()) return;
      const greeted = await this.respond(['GREETING'], '', [...this.#settings.greeting]);
      // RFC 5321 §3.1: after a 554 (or anything but 220) only QUIT makes sense.
      if (greeted.sent !== null && greeted.code !== 220) this.#refused = true;
      for (;;) {
        const line = await this.#in.readLine(this.#settings.maxLineLength, this.#repliesSent);
        if (line === null || this.#stopping) break;
        await this.#dispatch(line);
        if (this.#stopping) break;
      }
    } catch (err) {
      this.record.errors.push(err instanceof Error ? err.message : String(err));
      this.destroy();
    }
  }

  /** Close at once (server.close()). */
  destroy(): void {
    this.#stopping = true;
    this.#socket.destroy();
    if (this.#socket !== this.#raw) this.#raw.destroy();
    // A wrapped raw socket may not emit 'close' itself.
    this.#onClose();
  }

  // ---------------------------------------------------------------- input

  #onData = (chunk: Buffer): void => {
    this.#in.push(chunk, this.#repliesSent);
    // Bounded memory even when a script delays the reader: a client may not run this far ahead.
    const cap = 2 * this.#sizeLimit() + 8 * this.#settings.maxLineLength + 65_536;
    if (this.#in.buffered > cap) {
      this.record.errors.push(`input buffer over ${cap} bytes: connection dropped`);
      this.destroy();
    }
  };

  #onError = (err: Error): void => {
    this.record.errors.push(err.message);
  };

  #onClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.record.closed = true;
    this.record.endedAt = performance.now();
    for (const [timer, resolve] of this.#timers) {
      clearTimeout(timer);
      resolve();
    }
    this.#timers.clear();
    this.#in.close();
    this.#host.closed();
  };

  #record(line: Line, verb: string): void {
    if (!this.#settings.record) return;
    this.record.commands.push({
      line: line.text,
      verb,
      at: line.at,
      repliesBefore: line.repliesBefore,
      crlf: line.crlf,
      overlong: line.overlong,
      tls: this.record.tls,
    });
  }

  // ---------------------------------------------------------------- output and faults

  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.set(timer, resolve);
    });
  }

  /**
   * Answer an event: consult the hook and the script, then send `lines` (the correct reply) or
   * what the script says. `effect` runs after the reply was written, with the code sent, so
   * the command's state change follows what the client was actually told.
   */
  async respond(
    events: readonly string[],
    line: string,
    lines: readonly string[],
    effect?: (code: number) => void | Promise<void>,
  ): Promise<Answer> {
    const none: Answer = { sent: null, code: 0 };
    if (this.#closed || this.#stopping || this.#silent) return none;
    const event = events[0] ?? '';
    let action: ScriptAction | undefined;
    if (this.#settings.onCommand !== undefined) {
      action = await this.#settings.onCommand(this.record, line, event);
    }
    action ??= this.#host.counters.select(this.#host.script(), events, line, this.record);
    const kind = action?.action ?? 'reply';
    if (kind === 'silent') {
      this.#silent = true;
      return none;
    }
    if (action?.delay !== undefined && action.delay > 0) await this.#sleep(action.delay);
    if (this.#closed) return none;
    if (kind === 'drop') {
      this.#drop();
      return none;
    }
    if (kind === 'reset') {
      this.#resetConnection();
      return none;
    }
    const body =
      action?.raw !== undefined
        ? toBuffer(action.raw)
        : Buffer.from(
            toLines(action?.reply ?? lines)
              .map((l) => `${l}\r\n`)
              .join(''),
            'utf8',
          );
    const bytes = action?.append === undefined ? body : Buffer.concat([body, toBuffer(action.append)]);
    const code = replyCode(body);
    await this.#send(bytes, event, action?.split, action?.splitDelay ?? DEFAULT_SPLIT_DELAY);
    if (this.#closed) return { sent: null, code: 0 };
    const answer: Answer = { sent: bytes.toString('utf8'), code };
    // RFC 5321 §3.8: 421 means the server is closing the channel.
    if (kind === 'drop-after-reply' || code === 421) {
      this.#drop();
      return answer;
    }
    if (effect !== undefined) await effect(code);
    return answer;
  }

  async #send(bytes: Buffer, event: string, split: ScriptAction['split'], splitDelay: number): Promise<void> {
    const pieces = split === undefined ? [bytes] : cut(bytes, split);
    for (let i = 0; i < pieces.length; i++) {
      if (i > 0) await this.#sleep(splitDelay);
      if (this.#closed) return;
      this.#socket.write(pieces[i] as Buffer);
    }
    if (this.#settings.record) this.record.replies.push({ text: bytes.toString('utf8'), event, at: performance.now() });
    this.#repliesSent += 1;
  }

  /** Close after what was written has been flushed (FIN, not RST: all input was read). */
  #drop(): void {
    this.#stopping = true;
    const socket = this.#socket;
    socket.end(() => socket.destroy());
  }

  #resetConnection(): void {
    this.#stopping = true;
    // RST needs the TCP handle itself; a TLS wrap shares it.
    this.#raw.resetAndDestroy();
    if (this.#socket !== this.#raw) this.#socket.destroy();
  }

  // ---------------------------------------------------------------- TLS

  /** Wrap the socket in server-side TLS and wait for the handshake (or its failure). */
  async #startTls(): Promise<void> {
    const context = this.#settings.secureContext;
    if (context === null) throw new Error('TLS requested without TLS material');
    // RFC 3207 §4.2 / §6: plaintext that arrived after STARTTLS is discarded, never obeyed.
    if (!this.#settings.quirks.starttlsKeepsPlaintext) this.record.plaintextDiscarded += this.#in.discardBuffered();
    this.#raw.off('data', this.#onData);
    const secure = new tls.TLSSocket(this.#raw, {
      isServer: true,
      secureContext: context,
      requestCert: this.#settings.requestCert,
      rejectUnauthorized: false,
    });
    this.#socket = secure;
    secure.on('data', this.#onData);
    secure.on('close', this.#onClose);
    await new Promise<void>((resolve) => {
      secure.once('secure', () => {
        this.record.tls = true;
        this.record.tlsProtocol = secure.getProtocol();
        this.record.tlsCipher = secure.getCipher()?.name ?? null;
        if (this.#settings.requestCert) {
          const peer = secure.getPeerCertificate();
          const cn = peer?.subject?.CN;
          this.record.clientCertificateCn = typeof cn === 'string' ? cn : null;
        }
        resolve();
      });
      secure.on('error', (err: Error) => {
        if (!this.record.tls) this.record.tlsError = err.message;
        this.record.errors.push(err.message);
        secure.destroy();
        resolve();
      });
      secure.once('close', () => resolve());
    });
  }

  // ---------------------------------------------------------------- commands

  /** Reply text with an enhanced status code when ENHANCEDSTATUSCODES is in force (RFC 2034). */
  #fmt(code: number, enhanced: string, text: string): string {
    return this.#enhanced && !omitsEnhancedCode(this.#settings.quirks, code)
      ? `${code} ${enhanced} ${text}`
      : `${code} ${text}`;
  }

  /** The `rejectEarlyTalkers` quirk: true when the client talked first and was dropped. */
  async #earlyTalker(): Promise<boolean> {
    const wait = this.#settings.quirks.rejectEarlyTalkers;
    if (wait === undefined) return false;
    await this.#sleep(wait);
    if (this.#in.buffered === 0 || this.#closed) return false;
    await this.respond(['GREETING'], '', [EARLY_TALKER_REPLY]);
    this.#drop();
    return true;
  }

  /** The EHLO keywords for the session's current state. */
  #capabilities(): string[] {
    const s = this.#settings;
    const extensions = [
      'PIPELINING',
      '8BITMIME',
      'SMTPUTF8',
      `SIZE ${s.maxMessageSize}`,
      'ENHANCEDSTATUSCODES',
      'CHUNKING',
    ];
    // STARTTLS and AUTH follow the session's state (tls configured and not active yet; users set).
    const stateful: string[] = [];
    if (s.secureContext !== null && !s.implicitTls && !this.record.tls) stateful.push('STARTTLS');
    if (s.users !== null && (!s.authRequiresTls || this.record.tls))
      stateful.push(`AUTH ${s.authMechanisms.join(' ')}`);
    const given = s.capabilities;
    if (given === undefined) return [...extensions, ...stateful];
    if (typeof given === 'function') return given([...extensions, ...stateful]);
    // An array replaces the extensions; STARTTLS and AUTH still follow `tls` and `users` (a server
    // configured with TLS that silently stopped offering it was a trap), unless the array names them.
    const keyword = (k: string): string => k.split(' ')[0]!.toUpperCase();
    const named = new Set(given.map(keyword));
    return [...given, ...stateful.filter((k) => !named.has(keyword(k)))];
  }

  async #dispatch(line: Line): Promise<void> {
    const text = line.text;
    const space = text.indexOf(' ');
    const verb = (space === -1 ? text : text.slice(0, space)).toUpperCase();
    const arg = space === -1 ? '' : text.slice(space + 1);
    this.#record(line, verb);
    if (this.#silent) return;
    if (line.overlong) {
      await this.respond([verb], text, [this.#fmt(500, '5.5.2', 'Line too long')]);
      return;
    }
    if (this.#refused && verb !== 'QUIT') {
      await this.respond([verb], text, [this.#fmt(503, '5.5.1', 'Bad sequence of commands: only QUIT')]);
      return;
    }
    if (
      this.#settings.requireTls &&
      !this.record.tls &&
      !['EHLO', 'HELO', 'LHLO', 'STARTTLS', 'NOOP', 'RSET', 'QUIT'].includes(verb)
    ) {
      await this.respond([verb], text, [this.#fmt(530, '5.7.0', 'Must issue a STARTTLS command first')]);
      return;
    }
    // LMTP (RFC 2033 §4.1): LHLO replaces EHLO and HELO; an SMTP server does not know LHLO.
    if (this.#settings.lmtp ? verb === 'EHLO' || verb === 'HELO' : verb === 'LHLO') {
      await this.respond([verb], text, [this.#fmt(500, '5.5.1', 'Command unrecognized')]);
      return;
    }
    switch (verb) {
      case 'EHLO':
      case 'HELO':
      case 'LHLO':
        return this.#hello(verb, text, arg);
      case 'MAIL':
        return this.#mail(text, arg);
      case 'RCPT':
        return this.#rcpt(text, arg);
      case 'DATA':
        return this.#data(text, arg);
      case 'BDAT':
        return this.#bdat(text, arg);
      case 'RSET':
        if (arg !== '') return void (await this.respond([verb], text, [this.#fmt(501, '5.5.4', 'Syntax: RSET')]));
        await this.respond([verb], text, [this.#fmt(250, '2.0.0', 'OK')], (code) => {
          if (isPositive(code)) this.#tx = null;
        });
        return;
      case 'NOOP':
        await this.respond([verb], text, [this.#fmt(250, '2.0.0', 'OK')]);
        return;
      case 'QUIT':
        await this.respond(
          [verb],
          text,
          [this.#fmt(221, '2.0.0', `${this.#settings.hostname} closing connection`)],
          (code) => {
            if (isPositive(code)) this.#drop();
          },
        );
        return;
      case 'VRFY':
        if (arg === '')
          return void (await this.respond([verb], text, [this.#fmt(501, '5.5.4', 'Syntax: VRFY address')]));
        await this.respond([verb], text, [
          this.#fmt(252, '2.5.2', 'Cannot VRFY user, but will accept message and attempt delivery'),
        ]);
        return;
      case 'HELP':
        await this.respond([verb], text, [this.#fmt(214, '2.0.0', 'See RFC 5321')]);
        return;
      case 'STARTTLS':
        return this.#starttls(text, arg);
      case 'AUTH':
        return this.#auth(text, arg);
      default:
        await this.respond([verb], text, [this.#fmt(500, '5.5.1', 'Command unrecognized')]);
    }
  }

  async #hello(verb: 'EHLO' | 'HELO' | 'LHLO', text: string, arg: string): Promise<void> {
    if (arg.trim() === '') {
      await this.respond([verb], text, [this.#fmt(501, '5.5.4', `Syntax: ${verb} hostname`)]);
      return;
    }
    const name = arg.trim();
    const greeting = `${this.#settings.hostname} Hello ${name}`;
    const caps = verb === 'HELO' ? [] : this.#capabilities();
    const lines = [greeting, ...caps].map((l, i, all) => `250${i === all.length - 1 ? ' ' : '-'}${l}`);
    await this.respond([verb], text, lines, (code) => {
      if (!isPositive(code)) return;
      // RFC 5321 §4.1.4: EHLO/HELO resets the state as RSET does.
      this.#tx = null;
      this.record.helo = name;
      this.record.heloVerb = verb;
      this.#advertised = new Map(
        caps.map((c) => {
          const space = c.indexOf(' ');
          return [(space === -1 ? c : c.slice(0, space)).toUpperCase(), space === -1 ? '' : c.slice(space + 1).trim()];
        }),
      );
      this.#enhanced = this.#advertised.has('ENHANCEDSTATUSCODES');
    });
  }

  #offers(keyword: string): boolean {
    return this.#advertised.has(keyword);
  }

  /**
   * The message size limit in force: the advertised `SIZE n` when n > 0 (so a custom
   * `capabilities` list is honoured), else `maxMessageSize` (RFC 1870 §4: SIZE 0 means no
   * declared limit, but memory stays bounded).
   */
  #sizeLimit(): number {
    const advertised = Number(this.#advertised.get('SIZE') ?? '');
    return Number.isSafeInteger(advertised) && advertised > 0 ? advertised : this.#settings.maxMessageSize;
  }

  /**
   * Parse `<path> params` after `FROM:` / `TO:` (RFC 5321 §4.1.2). Strict: no space before
   * `<`, parameters as `KEY[=VALUE]` separated by spaces.
   */
  #parsePath(arg: string, prefix: 'FROM:' | 'TO:'): { path: string; params: SmtpParams } | string {
    if (arg.slice(0, prefix.length).toUpperCase() !== prefix) return `Syntax: expected ${prefix}<address>`;
    const rest = arg.slice(prefix.length);
    const m = /^<([^<>\s]*)>(.*)$/.exec(rest);
    if (m === null) return `Syntax: expected ${prefix}<address>`;
    const params: SmtpParams = {};
    const tail = m[2] ?? '';
    if (tail !== '') {
      if (!tail.startsWith(' ')) return 'Syntax: a space must separate parameters';
      for (const token of tail.trim().split(/ +/)) {
        const eq = token.indexOf('=');
        const key = (eq === -1 ? token : token.slice(0, eq)).toUpperCase();
        if (!/^[A-Z0-9][A-Z0-9-]*$/.test(key)) return `Syntax: bad parameter ${token}`;
        params[key] = eq === -1 ? true : token.slice(eq + 1);
      }
    }
    return { path: m[1] ?? '', params };
  }

  /** 555 when a parameter's extension was not advertised or is unknown (RFC 5321 §4.1.1.11). */
  #unsupportedParam(params: SmtpParams): string | null {
    for (const key of Object.keys(params)) {
      const value = params[key];
      const extension = key === 'BODY' && value === 'BINARYMIME' ? 'BINARYMIME' : PARAM_EXTENSION[key];
      if (extension === undefined || !this.#offers(extension)) return key;
    }
    return null;
  }

  async #mail(text: string, arg: string): Promise<void> {
    const fail = (code: number, enhanced: string, message: string): Promise<Answer> =>
      this.respond(['MAIL'], text, [this.#fmt(code, enhanced, message)]);
    if (this.record.helo === null) return void (await fail(503, '5.5.1', 'Send EHLO or HELO first'));
    if (this.#settings.requireAuth && this.record.authUser === null) {
      return void (await fail(530, '5.7.0', 'Authentication required'));
    }
    if (this.#tx !== null) return void (await fail(503, '5.5.1', 'Nested MAIL command'));
    const parsed = this.#parsePath(arg, 'FROM:');
    if (typeof parsed === 'string') return void (await fail(501, '5.5.4', parsed));
    const { path, params } = parsed;
    const unsupported = this.#unsupportedParam(params);
    if (unsupported !== null) return void (await fail(555, '5.5.4', `${unsupported} parameter not supported`));
    if (params.SIZE !== undefined) {
      if (typeof params.SIZE !== 'string' || !/^\d+$/.test(params.SIZE)) {
        return void (await fail(501, '5.5.4', 'Syntax: SIZE=<octets>'));
      }
      if (Number(params.SIZE) > this.#sizeLimit()) {
        return void (await fail(552, '5.3.4', 'Message size exceeds fixed maximum message size'));
      }
    }
    if (params.BODY !== undefined && !['7BIT', '8BITMIME', 'BINARYMIME'].includes(String(params.BODY).toUpperCase())) {
      return void (await fail(501, '5.5.4', 'Syntax: BODY=7BIT|8BITMIME|BINARYMIME'));
    }
    if (params.SMTPUTF8 !== undefined && params.SMTPUTF8 !== true) {
      return void (await fail(501, '5.5.4', 'SMTPUTF8 takes no value'));
    }
    // RFC 6531 §3.4: a UTF-8 address needs the SMTPUTF8 parameter.
    if (!isAscii(path) && params.SMTPUTF8 === undefined) {
      return void (await fail(553, '5.6.7', 'Non-ASCII address requires SMTPUTF8'));
    }
    await this.respond(['MAIL'], text, [this.#fmt(250, '2.1.0', `Sender <${path}> OK`)], (code) => {
      if (!isPositive(code)) return;
      this.#tx = {
        mailFrom: path,
        mailParams: params,
        rcptTo: [],
        rcptParams: [],
        refusedRcptTo: [],
        chunks: null,
        chunkSizes: [],
        chunkBytes: 0,
        bdatFailed: false,
      };
    });
  }

  async #rcpt(text: string, arg: string): Promise<void> {
    const tx = this.#tx;
    const parsed = this.#parsePath(arg, 'TO:');
    const refuse = (code: number, enhanced: string, message: string): Promise<Answer> => {
      if (tx !== null && typeof parsed !== 'string') tx.refusedRcptTo.push(parsed.path);
      return this.respond(['RCPT'], text, [this.#fmt(code, enhanced, message)]);
    };
    if (tx === null) return void (await refuse(503, '5.5.1', 'Need MAIL command'));
    if (typeof parsed === 'string') return void (await refuse(501, '5.5.4', parsed));
    const { path, params } = parsed;
    if (path === '') return void (await refuse(501, '5.1.3', 'Empty recipient address'));
    const unsupported = this.#unsupportedParam(params);
    if (unsupported !== null) return void (await refuse(555, '5.5.4', `${unsupported} parameter not supported`));
    if (!isAscii(path) && tx.mailParams.SMTPUTF8 === undefined) {
      return void (await refuse(553, '5.6.7', 'Non-ASCII address requires SMTPUTF8'));
    }
    if (tx.rcptTo.length >= this.#settings.maxRecipients) {
      return void (await refuse(452, '4.5.3', 'Too many recipients'));
    }
    await this.respond(['RCPT'], text, [this.#fmt(250, '2.1.5', `Recipient <${path}> OK`)], (code) => {
      if (isPositive(code)) {
        tx.rcptTo.push(path);
        tx.rcptParams.push(params);
      } else {
        tx.refusedRcptTo.push(path);
      }
    });
  }

  async #data(text: string, arg: string): Promise<void> {
    const fail = (code: number, enhanced: string, message: string): Promise<Answer> =>
      this.respond(['DATA'], text, [this.#fmt(code, enhanced, message)]);
    const tx = this.#tx;
    if (arg !== '') return void (await fail(501, '5.5.4', 'Syntax: DATA'));
    if (tx === null) return void (await fail(503, '5.5.1', 'Need MAIL command'));
    if (tx.chunks !== null) return void (await fail(503, '5.5.1', 'DATA not allowed after BDAT'));
    // RFC 2920 §3.1: with every recipient refused, DATA gets 554 and no body follows.
    if (tx.rcptTo.length === 0) return void (await fail(554, '5.5.1', 'No valid recipients'));
    // 354 has no enhanced code: RFC 2034 gives them to 2xx, 4xx and 5xx only.
    await this.respond(['DATA'], text, ['354 End data with <CR><LF>.<CR><LF>'], async (code) => {
      if (code !== 354) return;
      // A lenient end-of-data recognizer is a quirk, to prove a smuggling check can fail.
      const lenient = this.#settings.quirks.endOfData;
      const body = await this.#in.readDataBody(
        2 * this.#sizeLimit() + 5,
        lenient ? new LenientTerminatorScanner(lenient) : undefined,
      );
      if (body === null) return;
      const data = body.oversize ? Buffer.alloc(0) : unstuffDataBody(body.raw);
      const oversize = body.oversize || data.length > this.#sizeLimit();
      const message = this.#message(
        tx,
        'DATA',
        oversize ? Buffer.alloc(0) : data,
        oversize ? Buffer.alloc(0) : body.raw,
        {
          oversize,
          size: body.size,
        },
      );
      await this.#finishMessage(['DATA_END'], text, message);
    });
  }

  async #bdat(text: string, arg: string): Promise<void> {
    const m = /^(\d{1,15})(?: +(LAST))?$/i.exec(arg.trim());
    if (m === null) {
      // The chunk size is unknown, so the stream cannot be resynchronised: say so and go on.
      await this.respond(['BDAT'], text, [this.#fmt(501, '5.5.4', 'Syntax: BDAT <size> [LAST]')]);
      return;
    }
    const size = Number(m[1]);
    const last = m[2] !== undefined;
    const events = last ? ['BDAT_LAST', 'BDAT'] : ['BDAT'];
    const tx = this.#tx;
    // RFC 3030 §2: the chunk is read even when it is going to be refused.
    const room = tx === null ? 0 : Math.max(0, this.#sizeLimit() - tx.chunkBytes);
    const chunk = await this.#in.readExact(size, room);
    if (chunk === null) return;
    const fail = (code: number, enhanced: string, message: string): Promise<Answer> =>
      this.respond(events, text, [this.#fmt(code, enhanced, message)]);
    if (!this.#offers('CHUNKING')) return void (await fail(502, '5.5.1', 'BDAT without CHUNKING advertised'));
    if (tx === null) return void (await fail(503, '5.5.1', 'Need MAIL command'));
    if (tx.rcptTo.length === 0) return void (await fail(554, '5.5.1', 'No valid recipients'));
    if (tx.bdatFailed) return void (await fail(503, '5.5.1', 'Previous BDAT failed, send RSET'));
    tx.chunks ??= [];
    tx.chunkSizes.push(size);
    tx.chunkBytes += size;
    const oversize = !chunk.kept || tx.chunkBytes > this.#sizeLimit();
    if (!oversize) tx.chunks.push(chunk.bytes);
    if (!last) {
      if (oversize) {
        tx.bdatFailed = true;
        tx.chunks = [];
        return void (await fail(552, '5.3.4', 'Message size exceeds fixed maximum message size'));
      }
      await this.respond(events, text, [this.#fmt(250, '2.0.0', `${size} octets received`)], (code) => {
        if (!isPositive(code)) tx.bdatFailed = true;
      });
      return;
    }
    const data = oversize ? Buffer.alloc(0) : Buffer.concat(tx.chunks);
    const message = this.#message(tx, 'BDAT', data, data, { oversize, size: tx.chunkBytes });
    await this.#finishMessage(events, text, message);
  }

  #message(
    tx: Transaction,
    via: 'DATA' | 'BDAT',
    data: Buffer,
    raw: Buffer,
    extra: { oversize: boolean; size: number },
  ): MessageRecord {
    return {
      session: this.record.id,
      mailFrom: tx.mailFrom,
      mailParams: tx.mailParams,
      rcptTo: [...tx.rcptTo],
      rcptParams: [...tx.rcptParams],
      refusedRcptTo: [...tx.refusedRcptTo],
      data,
      raw,
      via,
      chunks: [...tx.chunkSizes],
      ...bodyFacts(data),
      oversize: extra.oversize,
      size: extra.size,
      tls: this.record.tls,
      authUser: this.record.authUser,
      queueId: this.#host.nextQueueId(),
      reply: null,
      accepted: false,
    };
  }

  /**
   * Record a complete message, then answer its end. Recorded first, so that a test can see
   * what the server got even when the script drops the connection instead of answering.
   */
  async #finishMessage(events: readonly string[], text: string, message: MessageRecord): Promise<void> {
    if (this.#settings.record) this.record.messages.push(message);
    this.#host.message(message);
    // The transaction ends with the final reply whatever it says (RFC 5321 §4.1.1.4).
    this.#tx = null;
    const reply = message.oversize
      ? this.#fmt(552, '5.3.4', 'Message size exceeds fixed maximum message size')
      : this.#fmt(250, '2.0.0', `OK: queued as ${message.queueId}`);
    if (this.#settings.lmtp) return this.#lmtpReplies(events, message, reply);
    const answer = await this.respond(events, text, [reply]);
    message.reply = answer.sent;
    message.accepted = answer.sent !== null && isPositive(answer.code);
  }

  /**
   * LMTP (RFC 2033 §4.2): one reply per accepted recipient, in RCPT order. Each is the event
   * `LMTP_RCPT` (matched against the recipient address) as well as the message's end event, so a
   * script can refuse one recipient (`{ on: 'LMTP_RCPT', match: /full@/, reply: '552 5.2.2 Over quota' }`).
   */
  async #lmtpReplies(events: readonly string[], message: MessageRecord, reply: string): Promise<void> {
    message.recipientReplies = [];
    for (const recipient of message.rcptTo) {
      const answer = await this.respond(['LMTP_RCPT', ...events], recipient, [reply]);
      const accepted = answer.sent !== null && isPositive(answer.code);
      message.recipientReplies.push({ recipient, reply: answer.sent, accepted });
      if (answer.sent === null) break;
    }
    message.reply = message.recipientReplies[0]?.reply ?? null;
    message.accepted = message.recipientReplies.some((r) => r.accepted);
  }

  async #starttls(text: string, arg: string): Promise<void> {
    const fail = (code: number, enhanced: string, message: string): Promise<Answer> =>
      this.respond(['STARTTLS'], text, [this.#fmt(code, enhanced, message)]);
    if (this.record.tls) return void (await fail(503, '5.5.1', 'TLS already active'));
    if (!this.#offers('STARTTLS') || this.#settings.secureContext === null) {
      return void (await fail(502, '5.5.1', 'STARTTLS not advertised'));
    }
    if (arg !== '') return void (await fail(501, '5.5.4', 'Syntax: STARTTLS'));
    await this.respond(['STARTTLS'], text, [this.#fmt(220, '2.0.0', 'Ready to start TLS')], async (code) => {
      if (!isPositive(code)) return;
      await this.#startTls();
      if (!this.record.tls) return;
      // RFC 3207 §4.2: forget everything learnt in plaintext; the client must EHLO again.
      this.record.starttls = true;
      this.record.helo = null;
      this.record.heloVerb = null;
      this.record.authUser = null;
      this.record.authMechanism = null;
      this.#advertised = new Map();
      this.#enhanced = false;
      this.#tx = null;
    });
  }

  // ---------------------------------------------------------------- AUTH (RFC 4954)

  async #auth(text: string, arg: string): Promise<void> {
    const fail = (code: number, enhanced: string, message: string): Promise<Answer> =>
      this.respond(['AUTH'], text, [this.#fmt(code, enhanced, message)]);
    const users = this.#settings.users;
    if (this.#settings.authRequiresTls && !this.record.tls && users !== null) {
      return void (await fail(538, '5.7.11', 'Encryption required for requested authentication mechanism'));
    }
    if (users === null || !this.#offers('AUTH')) return void (await fail(502, '5.5.1', 'AUTH not advertised'));
    if (this.record.authUser !== null) return void (await fail(503, '5.5.1', 'Already authenticated'));
    if (this.#tx !== null) return void (await fail(503, '5.5.1', 'AUTH not allowed during a mail transaction'));
    const [mechanismRaw = '', initialRaw, ...extra] = arg.split(' ');
    const mechanism = mechanismRaw.toUpperCase();
    if (mechanism === '' || extra.length > 0)
      return void (await fail(501, '5.5.4', 'Syntax: AUTH mechanism [initial-response]'));
    if (!this.#settings.authMechanisms.includes(mechanism)) {
      return void (await fail(504, '5.5.4', 'Unrecognized authentication type'));
    }
    // RFC 4954 §4: "=" is an empty initial response.
    const initial = initialRaw === undefined ? undefined : initialRaw === '=' ? '' : initialRaw;
    let events: readonly string[] = ['AUTH'];
    let current = text;

    // Send a 334 challenge and return the client's answer; null when the exchange is over.
    const ask = async (challenge: string): Promise<string | null> => {
      let goOn = false;
      await this.respond(events, current, [`334 ${challenge}`], (code) => {
        goOn = code === 334;
        if (isPositive(code) && code !== 334) this.#authenticated('', mechanism);
      });
      events = ['AUTH_RESPONSE'];
      if (!goOn || this.#closed || this.#stopping || this.#silent) return null;
      const line = await this.#in.readLine(this.#settings.maxLineLength, this.#repliesSent);
      if (line === null) return null;
      this.#record(line, 'AUTH_RESPONSE');
      current = line.text;
      if (line.overlong) {
        await this.respond(events, current, [this.#fmt(500, '5.5.6', 'Authentication exchange line is too long')]);
        return null;
      }
      if (line.text === '*') {
        await this.respond(events, current, [this.#fmt(501, '5.7.0', 'Authentication cancelled')]);
        return null;
      }
      return line.text;
    };
    await serveAuth(mechanism, initial, {
      ask,
      users,
      hostname: this.#settings.hostname,
      advertised: this.#settings.authMechanisms,
      tlsSocket: this.record.tls ? (this.#socket as tls.TLSSocket) : null,
      scramIterations: this.#settings.scramIterations,
      decode: async (b64) => {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 === 1) {
          await this.respond(events, current, [this.#fmt(501, '5.5.2', 'Cannot decode response')]);
          return null;
        }
        return Buffer.from(b64, 'base64');
      },
      finish: async (user) => {
        const ok = user !== null;
        const reply = ok
          ? this.#fmt(235, '2.7.0', 'Authentication successful')
          : this.#fmt(535, '5.7.8', 'Authentication credentials invalid');
        await this.respond(events, current, [reply], (code) => {
          if (isPositive(code)) this.#authenticated(user ?? '', mechanism);
        });
      },
      fail: async (code, enhanced, text) => {
        await this.respond(events, current, [this.#fmt(code, enhanced, text)]);
      },
    });
  }

  #authenticated(user: string, mechanism: string): void {
    this.record.authUser = user;
    this.record.authMechanism = mechanism;
  }
}

// ------------------------------------------------------------------ helpers

function toBuffer(value: string | Uint8Array): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
}

function toLines(reply: string | readonly string[]): readonly string[] {
  return typeof reply === 'string' ? reply.split('\n').map((l) => l.replace(/\r$/, '')) : reply;
}

/** The reply code in the first three bytes, or 0 when they are not digits. */
function replyCode(bytes: Buffer): number {
  if (bytes.length < 3) return 0;
  const text = bytes.toString('latin1', 0, 3);
  return /^\d{3}$/.test(text) ? Number(text) : 0;
}

/** 2xx or 3xx (RFC 5321 §4.2.1). */
function isPositive(code: number): boolean {
  return code >= 200 && code < 400;
}

function isAscii(value: string): boolean {
  return /^[\x00-\x7f]*$/.test(value);
}

/** Cut `bytes` at the given offsets (sorted, out-of-range ignored) or into single bytes. */
function cut(bytes: Buffer, split: readonly number[] | 'byte'): Buffer[] {
  if (split === 'byte') {
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
    return out;
  }
  const offsets = [...new Set(split)].filter((o) => o > 0 && o < bytes.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const offset of offsets) {
    out.push(bytes.subarray(start, offset));
    start = offset;
  }
  out.push(bytes.subarray(start));
  return out;
}
