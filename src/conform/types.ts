/**
 * Types of `conform()`: its options, one check's result and the report. Pure declarations.
 */
import type tls from 'node:tls';
import type { SmtpEncryption } from '../enums.js';
import type { AuthMethod } from '../protocol/auth.js';
import type { Evidence } from './raw-session.js';

/** Outcome of one check. `skipped`: it could not or should not run (the reason says which). */
export type ConformStatus = 'pass' | 'warn' | 'fail' | 'skipped';

/** The check groups of `conform` (issue 17). */
export type ConformGroup =
  | 'smuggling'
  | 'bare-characters'
  | 'starttls'
  | 'pipelining'
  | 'limits'
  | 'extensions'
  | 'relay'
  | 'reply-syntax';

/** Every group, in report order. */
export const CONFORM_GROUPS: readonly ConformGroup[] = Object.freeze([
  'smuggling',
  'bare-characters',
  'starttls',
  'pipelining',
  'limits',
  'extensions',
  'relay',
  'reply-syntax',
]);

/**
 * Every check id, in report order: the registry the check modules' definitions are typed against
 * (a definition with an id not listed here does not compile; `conform-checks.test.ts` proves every id
 * listed has its definition, in this order).
 */
export const CONFORM_CHECK_IDS = Object.freeze([
  'eod-lf-dot-lf',
  'eod-lf-dot-crlf',
  'eod-cr-dot-cr',
  'eod-crlf-dot-cr',
  'eod-cr-dot-lf',
  'eod-crlf-dot-lf',
  'eod-lf-dot-cr',
  'eod-cr-dot-crlf',
  'eod-crlf-nul-dot-crlf',
  'eod-crlf-dot-nul-crlf',
  'eod-crlf-sp-dot-crlf',
  'eod-crlf-dot-sp-crlf',
  'eod-lf-only-lf-dot-lf',
  'eod-lf-only-lf-dot-crlf',
  'data-bare-lf',
  'data-bare-cr',
  'data-nul',
  'cmd-bare-lf',
  'cmd-bare-cr',
  'cmd-nul',
  'starttls-offered',
  'starttls-injection',
  'starttls-capabilities',
  'auth-before-tls',
  'tls-v1.0',
  'tls-v1.1',
  'tls-certificate',
  'pipelining-mail-rcpt-data',
  'pipelining-reply-order',
  'early-talker',
  'limit-command-line',
  'limit-text-line',
  'limit-recipients',
  'size-declared',
  'size-enforced',
  'limit-unknown-commands',
  'cmd-unknown',
  'ext-8bitmime',
  'ext-smtputf8',
  'ext-chunking',
  'ext-dsn',
  'ext-enhancedstatuscodes',
  'ext-requiretls',
  'vrfy-disclosure',
  'relay-open',
  'reply-syntax',
] as const);

/** The id of one conform check. */
export type ConformCheckId = (typeof CONFORM_CHECK_IDS)[number];

/** One check in the report. `evidence` holds the exact bytes sent and lines received, secrets redacted. */
export interface ConformCheck {
  id: ConformCheckId;
  group: ConformGroup;
  status: ConformStatus;
  /** The RFC section the verdict rests on, e.g. `RFC 5321 §4.1.1.4`. */
  rfc: string;
  reason: string;
  evidence: Evidence;
  /** How long the check took, ms. */
  durationMs: number;
}

/** Options of {@link conform}. */
export interface ConformOptions {
  host: string;
  /** Default 25 when `encryption` is omitted (STARTTLS when offered), else 25, 587 or 465. */
  port?: number;
  /** `'ssl'`: implicit TLS; `'tls'`: STARTTLS required; `'none'`: no TLS for the protocol checks. */
  encryption?: SmtpEncryption;
  tls?: tls.ConnectionOptions;
  /** EHLO name; default `smtpwire.conform`. */
  clientName?: string;
  /** Credentials: every session authenticates (submission servers refuse MAIL without AUTH). */
  username?: string;
  password?: string;
  /** A bearer token for XOAUTH2 / OAUTHBEARER (with `username`), instead of a password. */
  accessToken?: string;
  /** Default: the strongest mechanism advertised that the credentials allow. */
  authMethod?: AuthMethod;
  /** Reverse-path of the test transactions; default `conform@smtpwire.invalid`. */
  sender?: string;
  /**
   * A mailbox the operator owns. Checks that send mail (end-of-data, DATA contents, text line
   * length, SIZE enforced, CHUNKING) send only to it, and are skipped without it.
   */
  rcpt?: string;
  /** Run the open-relay check (RCPT to `example.net`, never DATA). Default false. */
  relayTest?: boolean;
  /** Only these groups or check ids; default all. */
  only?: readonly string[];
  /** Longest wait for one reply, ms; default 5000. */
  replyTimeout?: number;
  /** Longest run of one check, ms; default 20000. */
  checkTimeout?: number;
  /** Longest run of the whole report, ms; default 180000. Checks not started in time are skipped. */
  budget?: number;
  /** Unknown commands sent before giving up on a disconnect; default 12. */
  unknownCommandLimit?: number;
  signal?: AbortSignal;
}

/** What the first session learnt about the server. */
export interface ConformServer {
  host: string;
  port: number;
  encryption: SmtpEncryption;
  greeting: string | null;
  /** EHLO keywords in plaintext (null with implicit TLS). */
  capabilitiesBeforeTls: string[] | null;
  /** EHLO keywords on the channel the checks use. */
  capabilities: string[] | null;
  /** Whether the checks run under TLS. */
  secure: boolean;
  /** The certificate could not be verified: the checks ran without verification and without credentials. */
  unverified: boolean;
  /** Whether the checks' sessions authenticated. */
  authenticated: boolean;
  /** Why the run stopped before the checks, or why AUTH was not used. */
  error: string | null;
}

/** Counts per status and the overall verdict: `fail` if any check failed, else `warn` if any warned. */
export interface ConformSummary {
  pass: number;
  warn: number;
  fail: number;
  skipped: number;
  total: number;
  status: 'pass' | 'warn' | 'fail';
  durationMs: number;
}

/** The result of {@link conform}. JSON-serialisable. */
export interface ConformReport {
  server: ConformServer;
  checks: ConformCheck[];
  summary: ConformSummary;
}
