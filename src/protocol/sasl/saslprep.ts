/**
 * SASLprep (RFC 4013), the stringprep (RFC 3454) profile SCRAM applies to user names and passwords
 * (RFC 5802 §2.2, as a "query": unassigned code points are allowed).
 *
 *   map (B.1 → nothing, C.1.2 → SPACE) → NFKC → prohibited output (C.1.2–C.9) → bidi check (§6)
 *
 * The tables are RFC 3454's, as code point ranges; the bidi tables D.1 and D.2 (Unicode 3.2's bidi
 * property) are in `stringprep-bidi.ts`. A code point unassigned in Unicode 3.2 is in neither (a query
 * allows it), so a later RTL letter such as U+0750 never counts as a left-to-right one.
 */
import { ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { D1_RANDAL, D2_L } from './stringprep-bidi.js';

type Ranges = readonly (readonly [number, number])[];

const inRanges = (cp: number, ranges: Ranges): boolean => {
  // Small tables: a linear scan is faster than it looks and keeps the tables readable.
  for (const [lo, hi] of ranges) if (cp >= lo && cp <= hi) return true;
  return false;
};

/** B.1: commonly mapped to nothing. */
const B1: Ranges = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];

/** C.1.2: non-ASCII space characters (mapped to SPACE by RFC 4013 §2.1, then prohibited if any remain). */
const C12: Ranges = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

/** C.2.1 ASCII controls, C.2.2 non-ASCII controls. */
const C2: Ranges = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x180e, 0x180e],
  [0x200c, 0x200d],
  [0x2028, 0x2029],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffc],
  [0x1d173, 0x1d17a],
];

/** C.3 private use, C.4 non-characters, C.5 surrogates, C.6–C.9. */
const C3_C9: Ranges = [
  [0xe000, 0xf8ff],
  [0xf0000, 0xffffd],
  [0x100000, 0x10fffd],
  [0xfdd0, 0xfdef],
  ...Array.from({ length: 17 }, (_, plane) => [plane * 0x10000 + 0xfffe, plane * 0x10000 + 0xffff] as const),
  [0xd800, 0xdfff],
  [0xfff9, 0xfffd],
  [0x2ff0, 0x2ffb],
  [0x0340, 0x0341],
  [0x200e, 0x200f],
  [0x202a, 0x202e],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
];

/** In a flat [first, last, first, last, …] table (sorted): binary search. */
function inFlat(cp: number, table: readonly number[]): boolean {
  let lo = 0;
  let hi = table.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < table[2 * mid]!) hi = mid - 1;
    else if (cp > table[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

const isRandAL = (cp: number): boolean => inFlat(cp, D1_RANDAL);
const isL = (cp: number): boolean => inFlat(cp, D2_L);

/** Why a string was refused, and where. */
export type SaslprepFailure = 'prohibited' | 'bidi';

/**
 * Prepares `input` with SASLprep (RFC 4013).
 * @param field names the value in the error (`password`, `username`).
 * @throws InvalidArgumentError (`ERR_SMTP_SASLPREP`) naming the first prohibited code point (as U+XXXX,
 *   never the value itself) or the bidi rule broken.
 */
export function saslprep(input: string, field = 'password'): string {
  // §2.1 mapping. C.1.2 first: U+200B is in both tables, and the common implementations map it to SPACE.
  let mapped = '';
  for (const ch of input) {
    const cp = ch.codePointAt(0)!;
    if (inRanges(cp, C12)) mapped += ' ';
    else if (!inRanges(cp, B1)) mapped += ch;
  }
  // §2.2 normalization: Unicode NFKC (the engine's Unicode version, a superset of 3.2's).
  const normalized = mapped.normalize('NFKC');
  let hasRandAL = false;
  let hasL = false;
  const chars = [...normalized];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    const cp = ch.codePointAt(0)!;
    // A lone surrogate from a malformed JS string lands in C.5 too.
    if (inRanges(cp, C12) || inRanges(cp, C2) || inRanges(cp, C3_C9)) {
      throw new InvalidArgumentError(
        `${field} contains a character SASLprep prohibits (U+${cp.toString(16).toUpperCase().padStart(4, '0')} at position ${i}, RFC 4013 §2.3)`,
        { field, position: i, code: ErrorCodes.SASLPREP },
      );
    }
    if (isRandAL(cp)) hasRandAL = true;
    else if (isL(cp)) hasL = true;
  }
  // §2.4 / RFC 3454 §6: an RTL string has no LTR letter and starts and ends with an RTL character.
  if (hasRandAL) {
    const first = chars[0]!.codePointAt(0)!;
    const last = chars[chars.length - 1]!.codePointAt(0)!;
    if (hasL || !isRandAL(first) || !isRandAL(last)) {
      throw new InvalidArgumentError(
        `${field} mixes right-to-left and left-to-right text in a way SASLprep refuses (RFC 3454 §6)`,
        { field, code: ErrorCodes.SASLPREP },
      );
    }
  }
  return normalized;
}
