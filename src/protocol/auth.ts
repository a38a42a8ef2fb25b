/**
 * SASL mechanisms for SMTP AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), XOAUTH2.
 * Each mechanism is a small value: an optional initial response, then one answer per server challenge.
 * Pure: no socket, no secrets in anything it returns other than the base64 payloads themselves.
 */
import { createHmac } from 'node:crypto';
import { AuthError, ErrorCodes, InvalidArgumentError } from '../errors.js';

export type AuthMethod = 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | 'XOAUTH2';
export const AUTH_METHODS: readonly AuthMethod[] = Object.freeze(['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2']);

/** An OAuth 2 access token, or a function that fetches a fresh one (called once per AUTH). */
export type AccessTokenProvider = string | (() => string | Promise<string>);

export interface Credentials {
  username: string;
  password?: string;
  /** For XOAUTH2. */
  accessToken?: AccessTokenProvider;
}

/** One SASL exchange. `respond` gets each 334 challenge (base64, as sent) and returns base64. */
export interface Mechanism {
  readonly name: AuthMethod;
  /** Base64 initial response sent on the AUTH line, or null to wait for a challenge. */
  initialResponse(): string | null;
  respond(challenge: string): string;
}

/** RFC 4954 §4: a client must be able to stop a runaway exchange; we allow this many challenges. */
export const MAX_CHALLENGES = 10;

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function requirePassword(credentials: Credentials, name: string): string {
  if (credentials.password === undefined)
    throw new InvalidArgumentError(`${name} needs a password`, { field: 'password' });
  return credentials.password;
}

/** Creates the mechanism `name` for these credentials; XOAUTH2 needs the token already resolved. */
export function createMechanism(name: AuthMethod, credentials: Credentials, accessToken?: string): Mechanism {
  const { username } = credentials;
  switch (name) {
    case 'PLAIN': {
      const password = requirePassword(credentials, name);
      // authzid empty: act as the authenticated identity.
      return { name, initialResponse: () => b64(`\0${username}\0${password}`), respond: () => '*' };
    }
    case 'LOGIN': {
      const password = requirePassword(credentials, name);
      // Answer by position, not by prompt text: servers word "Username:" in many ways.
      const answers = [b64(username), b64(password)];
      let step = 0;
      return { name, initialResponse: () => null, respond: () => answers[step++] ?? '*' };
    }
    case 'CRAM-MD5': {
      const password = requirePassword(credentials, name);
      let answered = false;
      return {
        name,
        initialResponse: () => null,
        respond(challenge) {
          if (answered) return '*';
          answered = true;
          const digest = createHmac('md5', password).update(Buffer.from(challenge, 'base64')).digest('hex');
          return b64(`${username} ${digest}`);
        },
      };
    }
    case 'XOAUTH2': {
      if (accessToken === undefined)
        throw new InvalidArgumentError('XOAUTH2 needs an access token', { field: 'accessToken' });
      // \x01 separates the fields: one inside the user name would let it add an `auth=` of its own.
      if (/[\x00-\x1f\x7f]/.test(username))
        throw new InvalidArgumentError('username must not contain control characters for XOAUTH2', {
          field: 'username',
        });
      // On failure the server sends a 334 with a JSON error; an empty answer makes it send the final 535.
      return {
        name,
        initialResponse: () => b64(`user=${username}\x01auth=Bearer ${accessToken}\x01\x01`),
        respond: () => '',
      };
    }
  }
}

/**
 * Picks the mechanism to use. A configured one must be advertised. Otherwise XOAUTH2 when a token is
 * given; over TLS (or loopback) PLAIN, then LOGIN, then CRAM-MD5: all are safe inside TLS and PLAIN is
 * one round trip; over plaintext CRAM-MD5 first, because it never sends the password itself.
 * @throws AuthError `ERR_SMTP_AUTH_UNAVAILABLE` when nothing usable is advertised.
 */
export function chooseMechanism(
  advertised: readonly string[],
  credentials: Credentials,
  options: { preferred?: AuthMethod | undefined; secure: boolean },
): AuthMethod {
  const offered = new Set(advertised.map((m) => m.toUpperCase()));
  if (options.preferred) {
    if (!offered.has(options.preferred)) {
      throw new AuthError(
        `the server does not offer AUTH ${options.preferred} (it offers: ${[...offered].join(' ') || 'none'})`,
        {
          code: ErrorCodes.AUTH_UNAVAILABLE,
        },
      );
    }
    return options.preferred;
  }
  const order: AuthMethod[] = [];
  if (credentials.accessToken !== undefined) order.push('XOAUTH2');
  if (credentials.password !== undefined)
    order.push(
      ...(options.secure ? (['PLAIN', 'LOGIN', 'CRAM-MD5'] as const) : (['CRAM-MD5', 'PLAIN', 'LOGIN'] as const)),
    );
  const pick = order.find((m) => offered.has(m));
  if (!pick) {
    throw new AuthError(`no usable AUTH mechanism (server offers: ${[...offered].join(' ') || 'none'})`, {
      code: ErrorCodes.AUTH_UNAVAILABLE,
    });
  }
  return pick;
}
