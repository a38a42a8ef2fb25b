/**
 * The measurements behind the module-level caches kept on the send path
 * (`npx vitest bench bench/micro/module-state.bench.ts`): DKIM signers by the caller's per-message option
 * object (dkim/sign.ts `dkimSignersFor`), against building them (the key parsed) every message.
 */
import { generateKeyPairSync } from 'node:crypto';
import { bench, describe } from 'vitest';
import { createDkimSigners, dkimSignersFor } from '../../src/message/dkim/sign.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const option = {
  domainName: 'example.com',
  keySelector: 'sel',
  privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
};

describe('per-message DKIM signers', () => {
  bench('dkimSignersFor, the same option object (a WeakMap hit)', () => {
    dkimSignersFor(option, null);
  });
  bench('createDkimSigners every message (the PEM key parsed)', () => {
    createDkimSigners(option);
  });
});
