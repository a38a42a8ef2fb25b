/** The sink's escaper: nothing a peer sends reaches a terminal raw. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeText, terminalSafeJson } from '../../src/cli/escape.js';

describe('escapeText', () => {
  it('escapes controls, DEL, C1, bidi and zero-width characters and the backslash; keeps the rest', () => {
    expect(escapeText('a\x1b[31mb\x07\r\n\t\\')).toBe('a\\x1b[31mb\\x07\\r\\n\\t\\\\');
    expect(escapeText('\x7f\x9b\u202egnp\u2066\u200b\ufeff\u061c')).toBe(
      '\\x7f\\x9b\\u{202e}gnp\\u{2066}\\u{200b}\\u{feff}\\u{61c}',
    );
    expect(escapeText('Grüße, 日本 ✓')).toBe('Grüße, 日本 ✓');
    expect(escapeText('abcdef', 3)).toBe('abc…');
  });

  it('never lets an unsafe character through, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        expect(escapeText(s)).not.toMatch(
          /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/,
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('terminalSafeJson', () => {
  it('is the same JSON value, with no unsafe character left', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => {
        const line = terminalSafeJson(JSON.stringify({ s }));
        expect(JSON.parse(line)).toEqual({ s });
        expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/);
      }),
      { numRuns: 300 },
    );
  });
});
