import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { bodyFacts, DataTerminatorScanner, unstuffDataBody } from '../../src/testing/message-body.js';

/** Reference client-side encoder: CRLF lines, leading dots doubled, then `.CRLF` (RFC 5321 §4.5.2). */
function stuff(lines: readonly string[]): Buffer {
  const body = lines.map((l) => `${l.startsWith('.') ? `.${l}` : l}\r\n`).join('');
  return Buffer.from(`${body}.\r\n`, 'latin1');
}

/** Feed `bytes` to a scanner in the given chunk sizes; return the absolute end offset or -1. */
function scan(bytes: Buffer, cuts: readonly number[]): number {
  const scanner = new DataTerminatorScanner();
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  let start = 0;
  for (const end of [...points, bytes.length]) {
    const at = scanner.push(bytes.subarray(start, end));
    if (at !== -1) return start + at;
    start = end;
  }
  return -1;
}

// Lines without CR or LF: what a conforming client puts between CRLFs.
const line = fc.string({ unit: fc.constantFrom('a', '.', ' ', 'é', '\t', 'Z'), maxLength: 12 });

describe('DataTerminatorScanner', () => {
  it.each([
    ['empty body', '.\r\n', 3],
    ['one line', 'hi\r\n.\r\n', 7],
    ['stuffed dot line', '..\r\n.\r\n', 7],
    ['trailing bytes', 'a\r\n.\r\nMAIL', 6],
  ])('finds the end: %s', (_name, input, end) => {
    expect(scan(Buffer.from(input, 'latin1'), [])).toBe(end);
  });

  it.each([
    ['LF.LF (smuggling shape)', 'a\n.\nb\r\n'],
    ['CR.CR', 'a\r.\rb'],
    ['dot then text', 'a\r\n.x\r\n'],
    ['no terminator yet', 'a\r\n.\r'],
  ])('does not end on %s', (_name, input) => {
    expect(scan(Buffer.from(input, 'latin1'), [])).toBe(-1);
  });

  it('finds the end at the same place whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.array(fc.nat(200), { maxLength: 10 }), (lines, cuts) => {
        const wire = stuff(lines);
        const withTail = Buffer.concat([wire, Buffer.from('QUIT\r\n')]);
        expect(scan(withTail, cuts)).toBe(wire.length);
      }),
    );
  });
});

describe('unstuffDataBody', () => {
  it('restores what the client meant, for any lines', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), (lines) => {
        const expected = Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');
        expect(unstuffDataBody(stuff(lines)).equals(expected)).toBe(true);
      }),
    );
  });

  it('handles the edge shapes', () => {
    expect(unstuffDataBody(Buffer.from('.\r\n')).toString()).toBe('');
    expect(unstuffDataBody(Buffer.from('..\r\n.\r\n')).toString()).toBe('.\r\n');
    expect(unstuffDataBody(Buffer.from('a\r\n...b\r\n.\r\n')).toString()).toBe('a\r\n..b\r\n');
  });
});

describe('bodyFacts', () => {
  it.each([
    ['a\r\nb\r\n', { bareLf: false, bareCr: false, eightBit: false, nul: false, longestLine: 1 }],
    ['a\nb', { bareLf: true, bareCr: false, eightBit: false, nul: false, longestLine: 1 }],
    ['abc\rd\r\n', { bareLf: false, bareCr: true, eightBit: false, nul: false, longestLine: 5 }],
    ['x\r', { bareLf: false, bareCr: true, eightBit: false, nul: false, longestLine: 2 }],
    ['\u00e9\r\n', { bareLf: false, bareCr: false, eightBit: true, nul: false, longestLine: 1 }],
    ['a\u0000\r\n', { bareLf: false, bareCr: false, eightBit: false, nul: true, longestLine: 2 }],
  ])('%j', (input, facts) => {
    expect(bodyFacts(Buffer.from(input, 'latin1'))).toEqual(facts);
  });
});
