/** The sink's use of the one escaper: nothing a peer sends reaches a terminal raw. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeClipped as escapeText, terminalSafeJson } from '../../src/util/terminal-text.js';

describe('escapeText', () => {
  it('escapes controls, DEL, C1, bidi characters and the backslash; keeps the rest', () => {
    expect(escapeText('a\x1b[31mb\x07\r\n\t\\')).toBe('a\\x1b[31mb\\x07\\r\\n\\t\\\\');
    expect(escapeText('\x7f\x9b\u202egnp\u2066\u061c')).toBe('\\x7f\\u009b\\u202egnp\\u2066\\u061c');
    expect(escapeText('Grüße, 日本 ✓')).toBe('Grüße, 日本 ✓');
    expect(escapeText('abcdef', 3)).toBe('abc…');
  });

  it('never lets an unsafe character through, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        expect(escapeText(s)).not.toMatch(
          /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/,
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
        expect(line).not.toMatch(
          /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/,
        );
      }),
      { numRuns: 300 },
    );
  });
});
