/** PLAIN (RFC 4616): `authzid \0 authcid \0 password` in the initial response; one round trip. */
import { requirePassword } from './credentials.js';
import { b64, type Mechanism, type MechanismContext } from './types.js';

export function plain(ctx: MechanismContext): Mechanism {
  const password = requirePassword(ctx.credentials, 'PLAIN');
  const { username } = ctx.credentials;
  // authzid empty: act as the authenticated identity.
  return { name: 'PLAIN', initialResponse: () => b64(`\0${username}\0${password}`), respond: () => '*' };
}
