import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { assertKnownKeys, findUnknownKey, nearestKey, unknownKeyMessage } from '../../src/options.js';

const KNOWN = ['hostname', 'port', 'encryption', 'textBody', 'htmlBody', 'timeouts'] as const;

describe('strict option keys', () => {
  it('suggests the nearest known key: case first, then small edits', () => {
    expect(nearestKey('textbody', KNOWN)).toBe('textBody');
    expect(nearestKey('hostnam', KNOWN)).toBe('hostname');
    expect(nearestKey('timeots', KNOWN)).toBe('timeouts');
    expect(nearestKey('zzzzzz', KNOWN)).toBeNull();
  });

  it('names the key, the place and the suggestion; a hint wins over the suggestion', () => {
    expect(unknownKeyMessage('port', KNOWN, 'handler options')).toBeNull();
    expect(unknownKeyMessage('textbody', KNOWN, 'sendMessage')).toBe(
      "unknown option 'textbody' in sendMessage — did you mean 'textBody'?",
    );
    expect(unknownKeyMessage('auth', KNOWN, 'handler options', { auth: 'write username and password' })).toBe(
      "unknown option 'auth' in handler options: write username and password",
    );
    expect(unknownKeyMessage('toString', KNOWN, 'x')).toContain("unknown option 'toString'");
  });

  it('assertKnownKeys throws InvalidArgumentError with the key as field; findUnknownKey reports it', () => {
    expect(() => assertKnownKeys({ port: 1, prot: 2 }, KNOWN, 'handler options')).toThrow(InvalidArgumentError);
    try {
      assertKnownKeys({ prot: 2 }, KNOWN, 'handler options');
    } catch (err) {
      expect((err as InvalidArgumentError).field).toBe('prot');
      expect((err as Error).message).toContain("did you mean 'port'");
    }
    expect(findUnknownKey({ hostname: 'x', port: undefined }, KNOWN, 'h')).toBeNull();
    expect(findUnknownKey({ secure: true }, KNOWN, 'h')?.key).toBe('secure');
  });

  it('property: every known key passes, every key differing from all known keys fails', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (key) => {
        const verdict = findUnknownKey({ [key]: 1 }, KNOWN, 'x');
        expect(verdict === null).toBe((KNOWN as readonly string[]).includes(key));
      }),
    );
  });
});
