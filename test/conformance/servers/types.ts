/**
 * Shared types of the real-server conformance harness (issue 7).
 *
 * Every server the suite runs (a private Postfix, aiosmtpd, the npm smtp-server in
 * its own process) is started by this harness on 127.0.0.1 and described by one
 * {@link RealServer}. The client-side matrix is written against this interface only.
 */

/** Names of the servers the harness knows how to start. */
export const SERVER_NAMES = ['postfix', 'aiosmtpd', 'smtp-server'] as const;

/** One of {@link SERVER_NAMES}. */
export type ServerName = (typeof SERVER_NAMES)[number];

/** Servers outside the SMTP matrix: the SASL and LMTP suites start them themselves (issue 15). */
export type ExtraServerName = 'dovecot' | 'aiosmtpd-lmtp';

/** Domain whose recipients every server accepts (any local part). */
export const TEST_DOMAIN = 'test.example';

/** The one recipient every server refuses at RCPT with `550 5.1.1` (RFC 3463 "bad destination mailbox"). */
export const REFUSED_RECIPIENT = `refused@${TEST_DOMAIN}`;

/** Largest message every server accepts by default (SIZE, RFC 1870): room for a 20 MB attachment in base64. */
export const DEFAULT_SIZE_LIMIT = 50 * 1024 * 1024;

/** A SASL account known to a server. */
export interface ServerUser {
  readonly username: string;
  readonly password: string;
}

/** The account every server knows unless {@link StartOptions.users} says otherwise. */
export const DEFAULT_USER: ServerUser = Object.freeze({ username: 'alice', password: 'wonderland-7' });

/** What a server offers, so the matrix can pick its cases without sending EHLO itself. */
export interface ServerFeatures {
  /** STARTTLS (RFC 3207) on {@link RealServer.port}. */
  readonly starttls: boolean;
  /** Implicit TLS (RFC 8314) on {@link RealServer.tlsPort}. */
  readonly implicitTls: boolean;
  /** SASL mechanisms in the AUTH keyword (RFC 4954), offered with and without TLS. */
  readonly authMechanisms: readonly string[];
  /** PIPELINING (RFC 2920) advertised. */
  readonly pipelining: boolean;
  /** CHUNKING / BDAT (RFC 3030) advertised. */
  readonly chunking: boolean;
  /** SMTPUTF8 (RFC 6531) advertised and UTF-8 addresses delivered. */
  readonly smtputf8: boolean;
  /** 8BITMIME (RFC 6152) advertised. */
  readonly eightBitMime: boolean;
  /** SIZE value advertised (RFC 1870), in octets. */
  readonly sizeLimit: number;
}

/** One accepted message, as the server delivered it to the spool directory. */
export interface DeliveredMessage {
  /** Spool id: sortable by arrival within one server. */
  readonly id: string;
  readonly server: ServerName;
  /**
   * The delivered bytes. Line endings are {@link DeliveredMessage.lineEnding}: Postfix
   * stores lines without their CRLF and its pipe(8) writes LF; the others keep CRLF.
   * Headers the server prepends are listed in {@link RealServer.addedHeaders}.
   */
  readonly raw: Buffer;
  readonly lineEnding: 'crlf' | 'lf';
  /** Envelope sender (MAIL FROM), `''` for the null reverse-path. */
  readonly sender: string;
  /** Envelope recipients that were accepted for this message. */
  readonly recipients: readonly string[];
  /** Absolute path of the `.eml` file. */
  readonly file: string;
  /** Server-specific extras (`mailOptions`, `tls`, `authUser`, `receivedAt` ...) where known. */
  readonly meta: Readonly<Record<string, unknown>>;
}

/** Trust material for the test certificate the servers present. */
export interface ServerTls {
  /** PEM of the test CA that signed the server certificate (fixtures/certs/ca.pem). */
  readonly ca: string;
  /** Name in the certificate: use it as `servername`. */
  readonly servername: string;
}

/** A running server started by this harness. Always call {@link RealServer.stop}. */
export interface RealServer {
  readonly name: ServerName;
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** Plain port, STARTTLS offered there when {@link ServerFeatures.starttls}. */
  readonly port: number;
  /** Implicit-TLS port when {@link ServerFeatures.implicitTls}. */
  readonly tlsPort?: number;
  readonly tls: ServerTls;
  /** Accounts that AUTH accepts. */
  readonly users: readonly ServerUser[];
  readonly features: ServerFeatures;
  /** Header names the server prepends to each delivered message (compare without them). */
  readonly addedHeaders: readonly string[];
  /** Known quirks worth knowing when a matrix case differs (free text, one per entry). */
  readonly notes: readonly string[];
  /** Private directory of this instance (config, logs, spool); removed by stop(). */
  readonly workDir: string;
  /** Every delivered message so far, in arrival order. */
  readMessages(): Promise<DeliveredMessage[]>;
  /**
   * Resolves with all delivered messages once at least `count` exist.
   * @throws Error naming the server, the count seen and the log tail after `timeoutMs` (default 10 s).
   */
  waitForMessages(count: number, timeoutMs?: number): Promise<DeliveredMessage[]>;
  /** Deletes every delivered message, so the next case starts from an empty spool. */
  clearMessages(): Promise<void>;
  /** Last `lines` lines (default 40) of the server's log. */
  logTail(lines?: number): Promise<string>;
  /** Stops every process of this instance and removes {@link RealServer.workDir}. Idempotent. */
  stop(): Promise<void>;
}

/** Options common to every `start*` function. */
export interface StartOptions {
  /** Accounts to create; default `[DEFAULT_USER]`. Usernames are plain (no `@`, no spaces). */
  users?: readonly ServerUser[];
  /** Advertised SIZE in octets; default {@link DEFAULT_SIZE_LIMIT}. */
  sizeLimit?: number;
  /** How long to wait for the server to greet; default 20 s. */
  startTimeoutMs?: number;
}

/** A server could not start: carries its log tail so the test output says why. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
  readonly server: ServerName | ExtraServerName;
  readonly logTail: string;

  constructor(server: ServerName | ExtraServerName, message: string, logTail: string, options?: { cause?: unknown }) {
    super(`${server} failed to start: ${message}\n--- ${server} log tail ---\n${logTail || '(empty)'}`, options);
    this.server = server;
    this.logTail = logTail;
  }
}
