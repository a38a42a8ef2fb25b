/**
 * Properties of the SASL parsers and encoders: the SCRAM client agrees with an independent
 * server-side computation for any user name and password SASLprep accepts (escaping of = and , and
 * the AuthMessage assembly included); the DER reader and the attribute parser never throw.
 */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as cmd from '../../src/protocol/commands.js';
import { saslprep } from '../../src/protocol/sasl/saslprep.js';
import { scram, scramAttributes } from '../../src/protocol/sasl/scram.js';
import { certificateSignatureOid, tlsServerEndPoint } from '../../src/protocol/sasl/tls-server-end-point.js';

const enc = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const dec = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

/** RFC 5802 §3 written out again, from Node primitives only, as the server computes it. */
function serverExpects(password: string, salt: Buffer, i: number, authMessage: string) {
  const salted = pbkdf2Sync(saslprep(password), salt, i, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const signature = createHmac('sha256', storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, k) => b ^ signature[k]!));
  const serverSig = createHmac('sha256', createHmac('sha256', salted).update('Server Key').digest())
    .update(authMessage)
    .digest();
  return { proof, serverSig };
}

const accepted = (s: string): boolean => {
  try {
    saslprep(s);
    return s.length > 0;
  } catch {
    return false;
  }
};

describe('SCRAM client against an independent server computation', () => {
  it('any accepted user name and password: the proof verifies and the server signature is accepted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter(accepted),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter(accepted),
        fc.uint8Array({ minLength: 8, maxLength: 24 }),
        fc.integer({ min: 4096, max: 4100 }),
        async (username, password, saltBytes, iterations) => {
          const salt = Buffer.from(saltBytes);
          const m = scram(
            { credentials: { username, password }, channelBinding: null, advertised: [], host: 'h', port: 25 },
            { hash: 'sha256', plus: false },
          );
          const clientFirst = dec((await m.initialResponse())!);
          expect(clientFirst.startsWith('n,,n=')).toBe(true);
          const bare = clientFirst.slice(3);
          // The escaped name decodes back to the prepared user name (RFC 5802 §5.1).
          const name = /^n=([^,]*),r=/.exec(bare)![1]!;
          expect(name.replace(/=2C/g, ',').replace(/=3D/g, '=')).toBe(saslprep(username));
          const nonce = `${scramAttributes(bare).get('r')}srv`;
          const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${iterations}`;
          const clientFinal = dec(await m.respond(enc(serverFirst)));
          const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(',p='));
          const { proof, serverSig } = serverExpects(
            password,
            salt,
            iterations,
            `${bare},${serverFirst},${withoutProof}`,
          );
          expect(scramAttributes(clientFinal).get('p')).toBe(proof.toString('base64'));
          expect(await m.respond(enc(`v=${serverSig.toString('base64')}`))).toBe('');
          m.finish!();
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('parsers never throw', () => {
  it('certificateSignatureOid / tlsServerEndPoint on arbitrary bytes: a value or null', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const oid = certificateSignatureOid(buf);
        expect(oid === null || /^\d+(\.\d+)+$/.test(oid)).toBe(true);
        const data = tlsServerEndPoint(buf);
        expect(data === null || data.length >= 28).toBe(true);
      }),
    );
  });

  it('scramAttributes keeps the first value of each single-letter key, values may hold =', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('r', 's', 'i', 'v'), fc.stringMatching(/^[^,]*$/)), { maxLength: 6 }),
        (pairs) => {
          const attrs = scramAttributes(pairs.map(([k, v]) => `${k}=${v}`).join(','));
          for (const [k] of pairs) expect(attrs.get(k)).toBe(pairs.find(([key]) => key === k)![1]);
        },
      ),
    );
  });

  it('a SASL continuation line is base64, * or empty, always CRLF-terminated', () => {
    expect(cmd.saslResponse('')).toBe('\r\n');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
        const line = cmd.saslResponse(Buffer.from(bytes).toString('base64'));
        expect(line).toMatch(/^[A-Za-z0-9+/]+=*\r\n$/);
      }),
    );
    expect(() => cmd.saslResponse('a b')).toThrow();
  });
});
