/**
 * The shape every SASL mechanism shares (RFC 4422 over SMTP AUTH, RFC 4954). Pure: values in, values
 * out; no socket. A mechanism answers each 334 challenge; `finish` lets one that authenticates the
 * server (SCRAM) refuse a 235 that came without a valid server proof.
 */

/** Every mechanism smtpwire speaks. */
export type AuthMethod =
  | 'PLAIN'
  | 'LOGIN'
  | 'CRAM-MD5'
  | 'XOAUTH2'
  | 'SCRAM-SHA-256'
  | 'SCRAM-SHA-256-PLUS'
  | 'SCRAM-SHA-1'
  | 'OAUTHBEARER';

export const AUTH_METHODS: readonly AuthMethod[] = Object.freeze([
  'PLAIN',
  'LOGIN',
  'CRAM-MD5',
  'XOAUTH2',
  'SCRAM-SHA-256',
  'SCRAM-SHA-256-PLUS',
  'SCRAM-SHA-1',
  'OAUTHBEARER',
]);

/** An OAuth 2 access token, or a function that fetches a fresh one (called once per AUTH, once more on an expired token). */
export type AccessTokenProvider = string | (() => string | Promise<string>);

export interface Credentials {
  username: string;
  password?: string;
  /** For XOAUTH2 and OAUTHBEARER. */
  accessToken?: AccessTokenProvider;
}

/** TLS channel binding data for SCRAM-*-PLUS (RFC 5929, RFC 9266), computed by the transport. */
export interface ChannelBinding {
  type: 'tls-exporter' | 'tls-server-end-point';
  data: Buffer;
}

/** What a mechanism may know about the session it runs in. */
export interface MechanismContext {
  credentials: Credentials;
  /** The resolved token (XOAUTH2, OAUTHBEARER). */
  accessToken?: string | undefined;
  /** Channel binding of the TLS session, null in plaintext or when it cannot be computed. */
  channelBinding: ChannelBinding | null;
  /** Mechanisms the server advertised (upper case), for SCRAM's downgrade flag `y`. */
  advertised: readonly string[];
  /** Host and port for OAUTHBEARER's `host=` / `port=` fields. */
  host: string;
  port: number;
  /** SCRAM: refuse an iteration count below this (default 4096, RFC 7677 §4). */
  scramMinIterations?: number | undefined;
}

/** One SASL exchange. Payloads are base64, as on the wire. */
export interface Mechanism {
  readonly name: AuthMethod;
  /** Base64 initial response sent on the AUTH line, or null to wait for a challenge. */
  initialResponse(): string | null | Promise<string | null>;
  /**
   * Answers one 334 challenge (base64 as sent). Throws AuthError on a challenge it must not answer
   * (the exchange then sends `*` and fails).
   */
  respond(challenge: string): string | Promise<string>;
  /** Called on 235: throws AuthError when the server did not prove itself (SCRAM's `v=`). */
  finish?(): void;
  /** After a failure: true when a fresh token is worth one more try (OAUTHBEARER's JSON error path). */
  wantsRetry?(): boolean;
}

/** RFC 4954 §4: a client must be able to stop a runaway exchange; we allow this many challenges. */
export const MAX_CHALLENGES = 10;

export const b64 = (text: string | Buffer): string =>
  (typeof text === 'string' ? Buffer.from(text, 'utf8') : text).toString('base64');

/** Decodes a server challenge; strict base64 (RFC 4648 §4 alphabet), else null. */
export function unb64(challenge: string): Buffer | null {
  if (challenge.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(challenge)) return null;
  return Buffer.from(challenge, 'base64');
}
