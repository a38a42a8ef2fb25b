/** CRAM-MD5 (RFC 2195): `user hex(HMAC-MD5(password, challenge))`. Obsolete, kept for old servers. */
import { createHmac } from 'node:crypto';
import { requirePassword } from './credentials.js';
import { b64, type Mechanism, type MechanismContext } from './types.js';

export function cramMd5(ctx: MechanismContext): Mechanism {
  const password = requirePassword(ctx.credentials, 'CRAM-MD5');
  let answered = false;
  return {
    name: 'CRAM-MD5',
    initialResponse: () => null,
    respond(challenge) {
      if (answered) return '*';
      answered = true;
      const digest = createHmac('md5', password).update(Buffer.from(challenge, 'base64')).digest('hex');
      return b64(`${ctx.credentials.username} ${digest}`);
    },
  };
}
