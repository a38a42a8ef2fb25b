/**
 * One connection of the scripted SMTP server: the command dispatcher and the fault machinery that
 * sits between every command and its reply, TLS (implicit and STARTTLS) and AUTH. Input is read
 * through byte-reader.ts (lines, DATA bodies, BDAT chunks); MAIL, RCPT, DATA and BDAT (and the LMTP
 * replies) are transaction.ts; the EHLO keywords capabilities.ts; the server side of each SASL
 * mechanism auth-server.ts; reply bytes and codes wire.ts.
 */
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';

import { serveAuth } from './auth-server.js';
import { ByteReader, type Line } from './byte-reader.js';
import { capabilities } from './capabilities.js';
import { EARLY_TALKER_REPLY, omitsEnhancedCode } from './quirks.js';
import type { SessionRecord } from './records.js';
import type { ScriptAction } from './script.js';
import { DEFAULT_SPLIT_DELAY } from './script.js';
import type { Answer, SessionHost, Settings } from './session-types.js';
import { Transactions } from './transaction.js';
import { cut, isPositive, replyCode, toBuffer, toLines } from './wire.js';

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
  /** MAIL, RCPT, DATA, BDAT and the open transaction (transaction.ts). */
  readonly #mail: Transactions;

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
    this.#mail = new Transactions(
      {
        record: this.record,
        respond: (events, line, lines, effect) => this.respond(events, line, lines, effect),
        fmt: (code, enhanced, text) => this.#fmt(code, enhanced, text),
        offers: (keyword) => this.#offers(keyword),
        sizeLimit: () => this.#sizeLimit(),
      },
      settings,
      host,
      this.#in,
    );
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
        const line = await this.#in.readLine(
          this.#settings.maxLineLength,
          this.#repliesSent,
          this.#settings.quirks.longCommandLines,
        );
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
        return this.#mail.mail(text, arg);
      case 'RCPT':
        return this.#mail.rcpt(text, arg);
      case 'DATA':
        return this.#mail.data(text, arg);
      case 'BDAT':
        return this.#mail.bdat(text, arg);
      case 'RSET':
        if (arg !== '') return void (await this.respond([verb], text, [this.#fmt(501, '5.5.4', 'Syntax: RSET')]));
        await this.respond([verb], text, [this.#fmt(250, '2.0.0', 'OK')], (code) => {
          if (isPositive(code)) this.#mail.current = null;
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
    const caps = verb === 'HELO' ? [] : capabilities(this.#settings, this.record.tls);
    const lines = [greeting, ...caps].map((l, i, all) => `250${i === all.length - 1 ? ' ' : '-'}${l}`);
    await this.respond([verb], text, lines, (code) => {
      if (!isPositive(code)) return;
      // RFC 5321 §4.1.4: EHLO/HELO resets the state as RSET does.
      this.#mail.current = null;
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
      this.#mail.current = null;
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
    if (this.#mail.current !== null)
      return void (await fail(503, '5.5.1', 'AUTH not allowed during a mail transaction'));
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
