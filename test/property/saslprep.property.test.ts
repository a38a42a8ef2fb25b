import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { saslprep } from '../../src/protocol/sasl/saslprep.js';

describe('SASLprep (RFC 4013)', () => {
  it('RFC 4013 §3 examples', () => {
    expect(saslprep('I\u00adX')).toBe('IX'); // soft hyphen mapped to nothing
    expect(saslprep('user')).toBe('user');
    expect(saslprep('USER')).toBe('USER'); // no case folding
    expect(saslprep('\u00aa')).toBe('a'); // NFKC
    expect(saslprep('\u2168')).toBe('IX'); // NFKC
    expect(() => saslprep('\u0007')).toThrow(expect.objectContaining({ code: 'ERR_SMTP_SASLPREP' })); // C.2.1
    expect(() => saslprep('\u0627\u0031')).toThrow(expect.objectContaining({ code: 'ERR_SMTP_SASLPREP' })); // bidi
  });

  it('maps non-ASCII spaces to SPACE and zero-width characters to nothing', () => {
    expect(saslprep('a\u00a0b\u3000c')).toBe('a b c');
    expect(saslprep('a\u200bb\u00adc\u034f')).toBe('a bc');
  });

  it('refuses private use, non-characters, surrogates, tags and display controls, naming the code point only', () => {
    for (const bad of ['\ue000', '\ufffe', '\ud800', '\u{e0041}', '\u202e', '\u2ff0', '\u200e']) {
      let err: unknown;
      try {
        saslprep(`secret${bad}`, 'password');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field).toBe('password');
      expect((err as Error).message).toMatch(/U\+[0-9A-F]{4,}/);
      expect((err as Error).message).not.toContain('secret');
    }
  });

  it('accepts an RTL string that starts and ends with RTL characters', () => {
    expect(saslprep('\u05d0\u05d1\u0031\u05d2')).toBe('\u05d0\u05d1\u0031\u05d2');
    expect(() => saslprep('\u05d0a\u05d1')).toThrow(/right-to-left/);
  });

  const printable = fc.stringMatching(/^[\x20-\x7e]*$/);

  it('printable ASCII passes unchanged', () => {
    fc.assert(
      fc.property(printable, (s) => {
        expect(saslprep(s)).toBe(s);
      }),
    );
  });

  it('is idempotent on what it accepts, and its output holds no prohibited code point', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (s) => {
        let out: string;
        try {
          out = saslprep(s);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidArgumentError);
          return;
        }
        expect(saslprep(out)).toBe(out);
        expect(out).toBe(out.normalize('NFKC'));
        expect(out).not.toMatch(/[\x00-\x1f\x7f-\x9f\u00a0\u00ad\u200b\ue000-\uf8ff\ufeff]/u);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws anything but InvalidArgumentError, even on lone surrogates', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (s) => {
        try {
          saslprep(s);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidArgumentError);
        }
      }),
    );
  });
});
