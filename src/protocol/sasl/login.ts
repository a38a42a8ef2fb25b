/** LOGIN (draft-murchison-sasl-login): user name, then password, each on its own challenge. */
import { requirePassword } from './credentials.js';
import { b64, type Mechanism, type MechanismContext } from './types.js';

export function login(ctx: MechanismContext): Mechanism {
  const password = requirePassword(ctx.credentials, 'LOGIN');
  // Answer by position, not by prompt text: servers word "Username:" in many ways.
  const answers = [b64(ctx.credentials.username), b64(password)];
  let step = 0;
  return { name: 'LOGIN', initialResponse: () => null, respond: () => answers[step++] ?? '*' };
}
