/**
 * A real, in-process SMTP server for tests: correct by default (RFC 5321 with PIPELINING,
 * 8BITMIME, SMTPUTF8, SIZE, ENHANCEDSTATUSCODES, CHUNKING, STARTTLS, AUTH), every fault
 * scriptable, everything recorded. Built on `node:net` / `node:tls` only. This module owns
 * the listener, the options and the records; `session.ts` serves each connection.
 *
 * Input is read from one buffer in arrival order and handled strictly one command at a time,
 * so pipelined commands are answered in order whatever the delays a script adds.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

import { testCertificates } from './certs.js';
import type { ServerQuirks } from './quirks.js';
import type { CommandRecord, MessageRecord, SessionRecord } from './records.js';
import type { CommandHook, ScriptRule } from './script.js';
import { RuleCounters } from './script.js';
import { Session } from './session.js';
import type { Settings } from './session-types.js';

/** Default SIZE limit and advertisement: 10 MiB (RFC 1870). */
export const DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024;
/**
 * Default cap on a command line, CRLF excluded. RFC 5321 §4.5.3.1.4 says 512 octets, but AUTH
 * lines carry long base64 tokens (XOAUTH2), so be generous while still bounding memory.
 */
export const DEFAULT_MAX_LINE_LENGTH = 4096;
/** Default cap on recipients per message (RFC 5321 §4.5.3.1.8 requires at least 100). */
export const DEFAULT_MAX_RECIPIENTS = 100;
/**
 * Mechanisms advertised when `users` is set (RFC 4954, RFC 2195, Google XOAUTH2). The server also
 * implements OAUTHBEARER, SCRAM-SHA-1, SCRAM-SHA-256 and SCRAM-SHA-256-PLUS: list them in
 * `authMechanisms` to offer them.
 */
export const DEFAULT_AUTH_MECHANISMS: readonly string[] = Object.freeze(['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2']);

/** Server-side TLS material; the test certificates are used for what is left out. */
export interface ScriptedTlsOptions {
  cert?: string | Buffer;
  key?: string | Buffer;
  /** CAs used to verify client certificates (with `requestCert`). */
  ca?: string | Buffer;
  /** Ask for a client certificate (never rejects: the CN is recorded, see `clientCertificateCn`). */
  requestCert?: boolean;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** OpenSSL cipher list, e.g. `'DEFAULT:@SECLEVEL=0'` to allow TLS 1.0/1.1 with `minVersion: 'TLSv1'`. */
  ciphers?: string;
}

/** Options of {@link startScriptedServer}. Everything is optional: the defaults are a correct server. */
export interface ScriptedServerOptions {
  /** Address to listen on; default `127.0.0.1`. */
  host?: string;
  /** Port; default 0 (a free port, read it from `server.port`). */
  port?: number;
  /** Name the server gives in its greeting and EHLO reply; default `localhost`. */
  hostname?: string;
  /** Greeting lines; default `220 <hostname> ESMTP`. Script `GREETING` for faults. */
  greeting?: string | readonly string[];
  /**
   * EHLO keywords. An array replaces the default extensions (only these are honoured: e.g. BDAT
   * without CHUNKING gets 502), while STARTTLS and AUTH are still added from `tls` and `users`
   * unless the array names them; a function edits the full list (and may drop STARTTLS).
   * Defaults: PIPELINING, 8BITMIME, SMTPUTF8, `SIZE <maxMessageSize>`, ENHANCEDSTATUSCODES,
   * CHUNKING, then STARTTLS when `tls` is set and TLS is not active yet, then
   * `AUTH <mechanisms>` when `users` is set (and TLS is active, if `authRequiresTls`).
   */
  capabilities?: readonly string[] | ((defaults: string[]) => string[]);
  /**
   * Offer STARTTLS: `true` uses the test certificate for localhost (signed by the test CA,
   * see `server.ca`), `'untrusted'` the self-signed one, or give your own material.
   */
  tls?: boolean | 'untrusted' | ScriptedTlsOptions;
  /** Implicit TLS (port 465 style, RFC 8314): handshake first, then the greeting. Uses `tls` material. */
  implicitTls?: boolean;
  /** Accounts for AUTH: user name to password (for XOAUTH2, the password is the bearer token). */
  users?: Readonly<Record<string, string>>;
  /** Mechanisms to advertise and accept; default {@link DEFAULT_AUTH_MECHANISMS}. */
  authMechanisms?: readonly string[];
  /** MAIL before a successful AUTH gets `530 5.7.0`. */
  requireAuth?: boolean;
  /** Anything but EHLO/HELO/STARTTLS/NOOP/RSET/QUIT before TLS gets `530 5.7.0` (RFC 3207 §4). */
  requireTls?: boolean;
  /** Advertise AUTH only under TLS; AUTH in plaintext gets `538 5.7.11` (RFC 4954 §4). */
  authRequiresTls?: boolean;
  /**
   * Largest accepted message in octets (SIZE, RFC 1870), advertised as `SIZE n`; default
   * {@link DEFAULT_MAX_MESSAGE_SIZE}. When `capabilities` advertises another `SIZE n` (n > 0),
   * that n is enforced instead. Bigger messages are read to their end, not kept, and get 552.
   */
  maxMessageSize?: number;
  /** Longest accepted command line, CRLF excluded; default {@link DEFAULT_MAX_LINE_LENGTH}. */
  maxLineLength?: number;
  /** Recipients per message before `452 4.5.3`; default {@link DEFAULT_MAX_RECIPIENTS}. */
  maxRecipients?: number;
  /** The fault script (see {@link ScriptRule}); also settable later via `server.script`. */
  script?: ScriptRule[];
  /**
   * Keep every command, reply and message (with its bytes) in `sessions` and `messages`; default
   * true. False for a long-running sink: only `messageCount` and the connection counters grow.
   */
  record?: boolean;
  /** Called at every event before the script; see {@link CommandHook}. */
  onCommand?: CommandHook;
  /**
   * Called with each complete message as soon as its body is read, before its final reply (also with
   * `record: false`): an `onCommand` hook at `DATA_END` / `BDAT_LAST` can then decide that reply.
   */
  onMessage?: (message: MessageRecord) => void;
  /** Deliberate non-conformances, to prove a conformance checker can fail; see {@link ServerQuirks}. */
  quirks?: ServerQuirks;
  /**
   * PBKDF2 iterations the SCRAM server asks for (advertise `SCRAM-SHA-256`, `SCRAM-SHA-1` or
   * `SCRAM-SHA-256-PLUS` in `authMechanisms` to offer them); default 4096 (RFC 7677 §4).
   */
  scramIterations?: number;
  /**
   * Speak LMTP (RFC 2033) instead of SMTP: `220 <hostname> LMTP`, LHLO (EHLO and HELO get 500),
   * and after the data one reply per accepted recipient (script them with the `LMTP_RCPT` event).
   */
  lmtp?: boolean;
}

/**
 * The scripted SMTP server. Create it with {@link startScriptedServer}.
 *
 * Records are live objects: read them after the client is done (see `waitFor` for the server
 * side catching up). `close()` in `afterEach`.
 */
export class ScriptedSmtpServer {
  /** The fault script, checked in order at every event; replace or push to it at any time. */
  script: ScriptRule[];
  /** The PEM of the CA that signed the server certificate (give it to clients as `ca`); read on first use. */
  get ca(): string {
    return testCertificates().ca;
  }
  /** Every session since start or `reset()`, in connection order. */
  readonly sessions: SessionRecord[] = [];
  /** Every message received since start or `reset()`, across sessions, in order. */
  readonly messages: MessageRecord[] = [];

  readonly #settings: Settings;
  readonly #onMessage: ((message: MessageRecord) => void) | undefined;
  readonly #server: net.Server;
  readonly #live = new Set<Session>();
  readonly #counters = new RuleCounters();
  #connectionCount = 0;
  #messageCount = 0;
  #maxConcurrent = 0;
  #queueSeq = 0;
  #closed: Promise<void> | null = null;

  /** Prefer {@link startScriptedServer}; call `listen()` yourself when using the constructor. */
  constructor(options: ScriptedServerOptions = {}) {
    this.#settings = resolveSettings(options);
    this.#onMessage = options.onMessage;
    this.script = options.script ?? [];
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  /** Messages received since start (also with `record: false`; not cleared by `reset()`). */
  get messageCount(): number {
    return this.#messageCount;
  }

  /** Start listening. Resolves once the port is known. */
  listen(): Promise<this> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#settings.port, this.#settings.host, () => {
        this.#server.off('error', reject);
        resolve(this);
      });
    });
  }

  /** The address it listens on (`127.0.0.1` by default). */
  get host(): string {
    return this.#settings.host;
  }

  /** The port it listens on (the real one when 0 was asked for). */
  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : this.#settings.port;
  }

  /** The name in the greeting and EHLO reply. */
  get hostname(): string {
    return this.#settings.hostname;
  }

  /** Connections accepted since start or `reset()`. */
  get connectionCount(): number {
    return this.#connectionCount;
  }

  /** Connections open right now. */
  get openConnections(): number {
    return this.#live.size;
  }

  /** The most connections that were open at the same time since start or `reset()`. */
  get maxConcurrentConnections(): number {
    return this.#maxConcurrent;
  }

  /** The most recent session, if any. */
  get lastSession(): SessionRecord | undefined {
    return this.sessions[this.sessions.length - 1];
  }

  /** Every command line received, across sessions, in order (a convenience over `sessions`). */
  get commands(): CommandRecord[] {
    return this.sessions.flatMap((s) => s.commands);
  }

  /**
   * Forget the records (sessions, messages, counts) and the script's `nth`/`once`/`times`
   * bookkeeping. Open connections keep running; their later messages are still recorded in
   * `messages`, but their session records are no longer listed.
   */
  reset(): void {
    this.sessions.length = 0;
    this.messages.length = 0;
    this.#connectionCount = 0;
    this.#maxConcurrent = this.#live.size;
    this.#counters.clear();
  }

  /** Stop listening and destroy every connection at once. Idempotent; resolves when done. */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#closed = new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const session of this.#live) session.destroy();
    });
    return this.#closed;
  }

  #accept(socket: net.Socket): void {
    if (this.#closed !== null) {
      socket.destroy();
      return;
    }
    this.#connectionCount += 1;
    const session = new Session(socket, this.#connectionCount, this.#settings, {
      script: () => this.script,
      counters: this.#counters,
      nextQueueId: () => `SW${(++this.#queueSeq).toString().padStart(6, '0')}`,
      message: (m) => {
        this.#messageCount++;
        if (this.#settings.record) this.messages.push(m);
        this.#onMessage?.(m);
      },
      closed: () => this.#live.delete(session),
    });
    this.sessions.push(session.record);
    this.#live.add(session);
    if (this.#live.size > this.#maxConcurrent) this.#maxConcurrent = this.#live.size;
    void session.run();
  }
}

/**
 * Start a {@link ScriptedSmtpServer} on 127.0.0.1 and a free port.
 *
 * @example
 * ```ts
 * const server = await startScriptedServer({
 *   tls: true, users: { alice: 'secret' },
 *   script: [{ on: 'RCPT', nth: 2, reply: '550 5.1.1 No such user' }, { on: 'DATA_END', action: 'drop' }],
 * });
 * // connect to server.host:server.port, trust server.ca … then:
 * expect(server.messages[0]?.data.toString()).toBe('Subject: hi\r\n\r\nbody\r\n');
 * await server.close();
 * ```
 * @throws Error when the port cannot be bound, or the TLS material is unusable.
 */
export async function startScriptedServer(options: ScriptedServerOptions = {}): Promise<ScriptedSmtpServer> {
  return new ScriptedSmtpServer(options).listen();
}

function resolveSettings(options: ScriptedServerOptions): Settings {
  const hostname = options.hostname ?? 'localhost';
  let secureContext: tls.SecureContext | null = null;
  let requestCert = false;
  const wantTls = options.tls !== undefined && options.tls !== false;
  if (wantTls || options.implicitTls === true) {
    const certs = testCertificates();
    const given: ScriptedTlsOptions =
      options.tls === 'untrusted'
        ? { cert: certs.untrustedCert, key: certs.untrustedKey }
        : typeof options.tls === 'object'
          ? options.tls
          : {};
    requestCert = given.requestCert === true;
    secureContext = tls.createSecureContext({
      cert: given.cert ?? certs.cert,
      key: given.key ?? certs.key,
      ca: given.ca ?? certs.ca,
      ...(given.minVersion === undefined ? {} : { minVersion: given.minVersion }),
      ...(given.maxVersion === undefined ? {} : { maxVersion: given.maxVersion }),
      ...(given.ciphers === undefined ? {} : { ciphers: given.ciphers }),
    });
  }
  const greeting = options.greeting ?? `220 ${hostname} ${options.lmtp === true ? 'LMTP' : 'ESMTP'}`;
  return {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    hostname,
    greeting: typeof greeting === 'string' ? greeting.split('\n') : greeting,
    capabilities: options.capabilities,
    // Implicit TLS alone needs the material but must not advertise STARTTLS.
    secureContext,
    requestCert,
    implicitTls: options.implicitTls === true,
    users: options.users ?? null,
    authMechanisms: (options.authMechanisms ?? DEFAULT_AUTH_MECHANISMS).map((m) => m.toUpperCase()),
    requireAuth: options.requireAuth === true,
    requireTls: options.requireTls === true,
    authRequiresTls: options.authRequiresTls === true,
    scramIterations: options.scramIterations ?? 4096,
    lmtp: options.lmtp === true,
    maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    maxLineLength: options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH,
    maxRecipients: options.maxRecipients ?? DEFAULT_MAX_RECIPIENTS,
    onCommand: options.onCommand,
    record: options.record !== false,
    quirks: options.quirks ?? {},
  };
}
