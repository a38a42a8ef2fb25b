/**
 * OAUTHBEARER (RFC 7628), the standard form of XOAUTH2:
 *
 *   C: AUTH OAUTHBEARER base64("n,a=user,\x01host=H\x01port=P\x01auth=Bearer T\x01\x01")
 *   S: 235                                         (token accepted)
 *   S: 334 base64({"status":"invalid_token",…})    (refused: RFC 7628 §3.2.2)
 *   C: AQ==                                        (the \x01 dummy response, §3.2.3)
 *   S: 535
 *
 * After that JSON error the exchange asks (wantsRetry) for one more try with a fresh token from the
 * caller's provider: an expired token is the common case.
 */
import { InvalidArgumentError } from '../../errors.js';
import { assertNoSeparators } from './credentials.js';
import { saslName } from './scram.js';
import { b64, type Mechanism, type MechanismContext, unb64 } from './types.js';

/** The server's JSON error (RFC 7628 §3.2.2), as far as it parsed. */
export interface OAuthBearerError {
  status?: string;
  scope?: string;
  'openid-configuration'?: string;
}

export function oauthbearer(ctx: MechanismContext): Mechanism & { readonly error: OAuthBearerError | null } {
  const token = ctx.accessToken;
  if (token === undefined)
    throw new InvalidArgumentError('OAUTHBEARER needs an access token', { field: 'accessToken' });
  const { username } = ctx.credentials;
  assertNoSeparators(username, 'username');
  assertNoSeparators(token, 'accessToken');
  // RFC 7628 §3.1: host and port are the server's; a Unix socket path has neither.
  const hostPart = ctx.host.startsWith('/') ? '' : `host=${ctx.host}\x01port=${ctx.port}\x01`;
  let error: OAuthBearerError | null = null;
  let answered = false;
  return {
    name: 'OAUTHBEARER',
    get error() {
      return error;
    },
    initialResponse: () => b64(`n,a=${saslName(username)},\x01${hostPart}auth=Bearer ${token}\x01\x01`),
    respond(challenge) {
      if (answered) return '*';
      answered = true;
      const decoded = unb64(challenge);
      try {
        const parsed: unknown = decoded === null ? null : JSON.parse(decoded.toString('utf8'));
        error = parsed !== null && typeof parsed === 'object' ? (parsed as OAuthBearerError) : {};
      } catch {
        error = {};
      }
      // §3.2.3: the client must answer the error with a single \x01; the server then fails the exchange.
      return b64('\x01');
    },
    wantsRetry: () => error !== null,
  };
}
