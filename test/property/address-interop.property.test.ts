import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { formatAddress } from '../../src/message/address.js';

/**
 * Interoperability: what formatAddress writes, a third-party parser (mailparser, as a receiving
 * client would) reads back as the same name and address. mailparser trims white space around a
 * name, so names here have none at their ends.
 */
const name = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 6 }),
      fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
      fc.constantFrom('"', ',', '\\', '(', ')', '<', '>', ':', ';', '@', '.', ' ', '=?', '?=', 'Zoë', '中文'),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((parts) => parts.join(''))
  .filter((n) => n.trim() === n && n.length > 0 && !/[\x00-\x1f\x7f-\x9f]/.test(n));
const address = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9][a-z0-9.+_-]{0,10}[a-z0-9]$/),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]\.[a-z]{2,6}$/),
  )
  .filter(([l]) => !l.includes('..'))
  .map(([l, d]) => `${l}@${d}`);

describe('formatAddress output read by mailparser', () => {
  it('gives back the same name and address', async () => {
    await fc.assert(
      fc.asyncProperty(name, address, async (n, a) => {
        const header = formatAddress({ name: n, address: a });
        const parsed = await simpleParser(`From: s@x.example\r\nTo: ${header}\r\nSubject: t\r\n\r\nbody\r\n`);
        const to = parsed.to;
        const value = Array.isArray(to) ? to[0]?.value : to?.value;
        expect(value).toEqual([{ name: n, address: a }]);
      }),
      { numRuns: 150 },
    );
  });
});
