/**
 * SASLprep's bidi check with RFC 3454's own tables D.1 and D.2 (issue 23): U+0750 (Arabic Supplement, unassigned in
 * Unicode 3.2) was counted as a left-to-right letter, so a valid right-to-left string was refused. Expected values
 * are RFC 3454 §6 applied by hand to code points whose Unicode 3.2 bidi class is stated in each case.
 */
import { describe, expect, it } from 'vitest';
import { saslprep } from '../../src/protocol/sasl/saslprep.js';
import { D1_RANDAL, D2_L } from '../../src/protocol/sasl/stringprep-bidi.js';

describe('SASLprep with RFC 3454 tables', () => {
  it('U+0750 in an Arabic string is accepted (unassigned in 3.2: neither RandAL nor L)', () => {
    expect(saslprep('\u0627\u0750\u0627')).toBe('\u0627\u0750\u0627');
    expect(saslprep('\u0750')).toBe('\u0750');
  });

  it('RTL strings: accepted when they start and end with RandAL and hold no L character', () => {
    expect(saslprep('\u05d0\u05d1')).toBe('\u05d0\u05d1'); // Hebrew alef, bet: R
    expect(saslprep('\u0627 1 \u0628')).toBe('\u0627 1 \u0628'); // digits are EN, space WS: allowed inside
    expect(() => saslprep('\u0627a\u0628')).toThrow(/right-to-left/); // 'a' is L
    expect(() => saslprep('\u06271')).toThrow(/right-to-left/); // ends with EN
    expect(() => saslprep('1\u0627')).toThrow(/right-to-left/); // starts with EN
  });

  it('D.2 is the bidi-L table, not "any letter": U+0F00 (Tibetan, L) mixes; U+0300 (NSM) does not', () => {
    expect(() => saslprep('\u0627\u0f00\u0627')).toThrow(/right-to-left/);
    expect(saslprep('\u0627\u0651\u0627')).toBe('\u0627\u0651\u0627'); // Arabic shadda: NSM, neither table
  });

  it('the tables have RFC 3454’s shape: D.1 34 ranges, D.2 360 ranges, sorted and disjoint', () => {
    expect(D1_RANDAL.length / 2).toBe(34);
    expect(D2_L.length / 2).toBe(360);
    for (const t of [D1_RANDAL, D2_L])
      for (let i = 1; i < t.length; i++) expect(t[i]!).toBeGreaterThanOrEqual(t[i - 1]! + (i % 2 ? 0 : 2));
  });
});
