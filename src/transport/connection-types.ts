/**
 * The types a caller of SmtpConnection writes: its options, the per-call options, the phases it goes
 * through and what it reports (timings, transcript lines). No code: connection.ts owns the behaviour.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import type { SmtpEncryption, SmtpProtocol } from '../enums.js';
import type { Timeouts } from '../options.js';
import type { OpenSocketOptions, TlsSessionStore } from './connect.js';
import type { RecipientRejection } from './outcome.js';

/** Where a connection is; the legal moves between phases are connection.ts's table. */
export type Phase = 'connecting' | 'greeting' | 'ready' | 'mail' | 'rcpt' | 'data' | 'closing' | 'closed';

/** Milliseconds per step of `connect()`; `starttls` covers STARTTLS, the handshake and the second EHLO. */
export interface ConnectionTimings {
  connect?: number;
  tls?: number;
  greeting?: number;
  ehlo?: number;
  starttls?: number;
}

export interface TranscriptEntry {
  direction: 'client' | 'server';
  line: string;
}

export interface SmtpConnectionOptions {
  host: string;
  /** Default from the encryption: 25, 587 or 465. */
  port?: number;
  /** Default `'tls'` (STARTTLS required). */
  encryption?: SmtpEncryption;
  /** With `encryption: 'tls'`: continue in plaintext when STARTTLS is not offered. Off by default. */
  opportunisticTls?: boolean;
  /** Passed to `tls.connect` (ca, rejectUnauthorized, servername, minVersion, cert, key …). */
  tls?: tls.ConnectionOptions;
  /** EHLO name; default the address literal of the local socket address. */
  clientName?: string;
  timeouts?: Partial<Timeouts>;
  /** Use PIPELINING when advertised. Default true. */
  pipelining?: boolean;
  /** Use BDAT when CHUNKING is advertised. Default false. */
  chunking?: boolean;
  chunkSize?: number;
  /** Allow credentials over plaintext to a host that is not loopback. Default false. */
  allowInsecureAuth?: boolean;
  /** SCRAM: refuse a server's PBKDF2 iteration count below this. Default 4096 (RFC 7677 §4). */
  scramMinIterations?: number;
  /**
   * `'lmtp'` (RFC 2033): LHLO instead of EHLO, port 24 by default, one reply per accepted recipient
   * after the data. A `host` starting with `/` is a Unix domain socket path. Default `'smtp'`.
   */
  protocol?: SmtpProtocol;
  maxLineLength?: number;
  maxReplyLines?: number;
  /** One call per protocol line, secrets redacted. */
  onTranscript?: (entry: TranscriptEntry) => void;
  /**
   * Opens the transport instead of `net.connect` (a proxy, or an in-process fake socket for transcript
   * tests). Must resolve with a connected `net.Socket`-like duplex.
   */
  socketFactory?: (options: OpenSocketOptions) => Promise<net.Socket>;
  /** Resume TLS sessions of this destination (the pool gives each destination one store). */
  tlsSessions?: TlsSessionStore;
  /**
   * Called right after each full TLS handshake, before anything is sent over TLS; throwing (a TlsError)
   * fails the connection. For checks Node's verification cannot make (DANE, RFC 7672). Only sessions
   * that passed it are resumed, and a resumed session is not checked again.
   */
  verifyPeer?: (socket: tls.TLSSocket) => void;
  /** Source address of the connection. */
  localAddress?: string;
}

export interface OperationOptions {
  signal?: AbortSignal;
}

export interface SendMailOptions extends OperationOptions {
  /**
   * Called once the whole message is written and only its reply is awaited: the moment another
   * transaction may start on this connection (a pool hands it on here, to pipeline the next message).
   */
  onHandedOver?: () => void;
  /**
   * Awaited just before the write that carries the final dot (or `BDAT … LAST`): the last moment at
   * which the message is certainly not handed over. A durable queue records "handing over" here.
   * If it throws, the final dot is never written and the connection is closed, so the server drops
   * the unterminated body; the send fails with `ERR_SMTP_HANDOVER_REFUSED` (not retried).
   */
  onBeforeHandOver?: () => void | Promise<void>;
  /** Measure each step of the transaction into `MailOutcome.timings` (off by default: six clock reads). */
  timings?: boolean;
  /** Called once the RCPT replies are in, with the accepted and refused recipients (also when all were refused). */
  onRecipients?: (accepted: readonly string[], rejected: readonly RecipientRejection[]) => void;
  /**
   * LMTP: called with each recipient's own reply after the data as it arrives, so that a connection lost
   * before the last one still leaves the earlier ones known (an UNKNOWN keeps them).
   */
  onRecipientReply?: (reply: RecipientRejection) => void;
}
