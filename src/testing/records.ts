/**
 * What the scripted server records: plain data objects a test asserts on. No code.
 */

/** MAIL / RCPT parameters (RFC 5321 §4.1.2 esmtp-param): keyword upper-cased, `true` when valueless. */
export type SmtpParams = Record<string, string | true>;

/** One line received from the client, outside DATA and BDAT bodies. */
export interface CommandRecord {
  /** The line as received, decoded as UTF-8, without its line ending (truncated when over-long). */
  line: string;
  /**
   * The upper-cased first word (`MAIL`, `RCPT`, …), or the pseudo-verb `AUTH_RESPONSE` for a
   * client line inside an AUTH exchange.
   */
  verb: string;
  /** `performance.now()` when the line's last byte arrived. */
  at: number;
  /**
   * How many replies (greeting included) the server had completely written when this line's
   * last byte arrived. Equal values on consecutive commands prove they were pipelined
   * (RFC 2920): MAIL, RCPT, RCPT, DATA sent in one go all arrive before the MAIL reply.
   */
  repliesBefore: number;
  /** The line ended with CRLF; false means a bare LF (RFC 5321 §2.3.8 requires CRLF). */
  crlf: boolean;
  /** Longer than `maxLineLength`: answered `500 5.5.2`, `line` holds its first 80 characters. */
  overlong: boolean;
  /** Received over TLS. */
  tls: boolean;
}

/** One reply the server wrote (scripted or not), after its last byte was written. */
export interface ReplyRecord {
  /** The bytes written, decoded as UTF-8 (CRLFs included; `append` bytes included). */
  text: string;
  /** The event it answered: `GREETING`, a verb, `DATA_END`, `BDAT`, `AUTH_RESPONSE` … */
  event: string;
  /** `performance.now()` when written. */
  at: number;
}

/** One message body the server received in full (whatever it then answered). */
export interface MessageRecord {
  /** The session it came in (its `id`). */
  session: number;
  /** The reverse-path without angle brackets (empty for the null sender `<>`). */
  mailFrom: string;
  mailParams: SmtpParams;
  /** The accepted recipients, in order, without angle brackets. */
  rcptTo: string[];
  /** The parameters of each accepted recipient, parallel to `rcptTo`. */
  rcptParams: SmtpParams[];
  /** Recipients the server refused (any non-2xx reply to their RCPT). */
  refusedRcptTo: string[];
  /** The message after dot un-stuffing, without the final `.CRLF` (for BDAT: the chunks joined). */
  data: Buffer;
  /** The bytes as received after the 354, up to and including the final `.CRLF` (BDAT: = data). */
  raw: Buffer;
  via: 'DATA' | 'BDAT';
  /** Sizes of the BDAT chunks in order (empty for DATA). */
  chunks: number[];
  /** `data` holds an LF not preceded by CR. */
  bareLf: boolean;
  /** `data` holds a CR not followed by LF. */
  bareCr: boolean;
  /** `data` holds a byte >= 0x80. */
  eightBit: boolean;
  /** `data` holds a NUL. */
  nul: boolean;
  /** Longest line of `data` in octets, without CRLF. */
  longestLine: number;
  /** Larger than `maxMessageSize`: answered 552 5.3.4 and `data`/`raw` are empty. */
  oversize: boolean;
  /** Size in octets of the body as received (before the cap). */
  size: number;
  /** Received over TLS. */
  tls: boolean;
  /** The authenticated user of the session, if any. */
  authUser: string | null;
  /** The id in the default acceptance reply (`250 2.0.0 OK: queued as <queueId>`). */
  queueId: string;
  /** The reply sent to the end of the body (final dot or BDAT LAST), or null if none was sent. */
  reply: string | null;
  /** That reply was 2xx: the server took responsibility for the message (LMTP: for at least one recipient). */
  accepted: boolean;
  /** LMTP only (RFC 2033 §4.2): the reply sent for each accepted recipient after the data, in RCPT order. */
  recipientReplies?: { recipient: string; reply: string | null; accepted: boolean }[];
}

/** Everything about one connection. Live: it keeps filling until the connection closes. */
export interface SessionRecord {
  /** 1-based connection number since the server started or was reset. */
  id: number;
  remoteAddress: string;
  remotePort: number;
  /** `performance.now()` at accept, and at close (null while open). */
  startedAt: number;
  endedAt: number | null;
  /** Every line received outside message bodies, in order. */
  commands: CommandRecord[];
  /** Every reply sent, in order. */
  replies: ReplyRecord[];
  /** Every message body received in this session. */
  messages: MessageRecord[];
  /** TLS is active (implicit TLS or after STARTTLS). */
  tls: boolean;
  /** TLS came from a STARTTLS upgrade. */
  starttls: boolean;
  /** Negotiated TLS version (`TLSv1.3` …) and cipher name, once TLS is up. */
  tlsProtocol: string | null;
  tlsCipher: string | null;
  /** The TLS handshake failed with this message (e.g. the client refused the certificate). */
  tlsError: string | null;
  /** The client certificate's subject CN, when `tls.requestCert` is set and one was sent. */
  clientCertificateCn: string | null;
  /**
   * Bytes received in plaintext after the STARTTLS command line and before the handshake: a
   * client must not pipeline anything after STARTTLS (RFC 3207 §4.2); the server discards them.
   */
  plaintextDiscarded: number;
  /** The last EHLO/HELO argument and which verb (reset by STARTTLS). */
  helo: string | null;
  heloVerb: 'EHLO' | 'HELO' | 'LHLO' | null;
  /** The authenticated user and mechanism, if any. */
  authUser: string | null;
  authMechanism: string | null;
  /** Socket errors seen (ECONNRESET …), as messages. */
  errors: string[];
  /** The connection is closed. */
  closed: boolean;
}
