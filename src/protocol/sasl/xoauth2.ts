/** XOAUTH2 (Google / Microsoft): `user=U\x01auth=Bearer T\x01\x01` in the initial response. */
import { InvalidArgumentError } from '../../errors.js';
import { assertNoSeparators } from './credentials.js';
import { b64, type Mechanism, type MechanismContext } from './types.js';

export function xoauth2(ctx: MechanismContext): Mechanism {
  const token = ctx.accessToken;
  if (token === undefined) throw new InvalidArgumentError('XOAUTH2 needs an access token', { field: 'accessToken' });
  const { username } = ctx.credentials;
  // A \x01 in the user name would let a caller's value forge the auth= field.
  assertNoSeparators(username, 'username');
  assertNoSeparators(token, 'accessToken');
  return {
    name: 'XOAUTH2',
    initialResponse: () => b64(`user=${username}\x01auth=Bearer ${token}\x01\x01`),
    // On failure the server sends a 334 with a JSON error; an empty answer makes it send the final 535.
    respond: () => '',
  };
}
