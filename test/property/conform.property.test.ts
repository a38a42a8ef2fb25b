/**
 * Properties of conform's pure pieces: the scripted server's lenient end-of-data scanner (the
 * smuggling knob), the evidence escaper and the reply-syntax judge.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { replySyntaxProblems } from '../../src/conform/checks/extensions.js';
import { escapeBytes } from '../../src/conform/raw-session.js';
import { DataTerminatorScanner } from '../../src/testing/message-body.js';
import { LenientTerminatorScanner } from '../../src/testing/quirks.js';

const dataChars = fc.constantFrom('a', '.', '\r', '\n', '\0', ' ', '\r\n', '\r\n.', '.\r\n');
const stream = fc.array(dataChars, { maxLength: 80 }).map((p) => Buffer.from(p.join(''), 'latin1'));
const cuts = fc.array(fc.nat(), { maxLength: 6 });

/** Feed `bytes` in pieces; the absolute end offset, or -1. */
function scan(scanner: { push(chunk: Uint8Array): number }, bytes: Buffer, at: number[]): number {
  const points = [...new Set(at.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let last = 0;
  for (const p of [...points, bytes.length]) {
    const end = scanner.push(bytes.subarray(last, p));
    if (end !== -1) return last + end;
    last = p;
  }
  return -1;
}

/** The reference: the earliest end of any sequence in CRLF + bytes (the CRLF that ended DATA). */
function earliest(bytes: Buffer, sequences: string[]): number {
  const all = Buffer.concat([Buffer.from('\r\n'), bytes]);
  let best = -1;
  for (const s of sequences) {
    const seq = Buffer.from(s, 'latin1');
    // The end must lie inside `bytes`: the first candidate that does.
    for (let at = all.indexOf(seq); at !== -1; at = all.indexOf(seq, at + 1)) {
      const end = at + seq.length - 2;
      if (end > 0) {
        if (best === -1 || end < best) best = end;
        break;
      }
    }
  }
  return best;
}

describe('LenientTerminatorScanner', () => {
  it('without extra sequences, agrees with the strict scanner whatever the chunking', () => {
    fc.assert(
      fc.property(stream, cuts, cuts, (bytes, a, b) => {
        expect(scan(new LenientTerminatorScanner([]), bytes, a)).toBe(scan(new DataTerminatorScanner(), bytes, b));
      }),
    );
  });

  it('with extra sequences, ends at the earliest of them, whatever the chunking', () => {
    const extra = fc.subarray(['\n.\n', '\n.\r\n', '\r.\r', '\r\n.\n', '\r\n\0.\r\n']);
    fc.assert(
      fc.property(stream, cuts, extra, (bytes, at, seqs) => {
        expect(scan(new LenientTerminatorScanner(seqs), bytes, at)).toBe(earliest(bytes, ['\r\n.\r\n', ...seqs]));
      }),
    );
  });
});

describe('escapeBytes (evidence)', () => {
  it('never lets a control character through, and keeps short printable text as is', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const out = escapeBytes(text);
        expect(out).not.toMatch(/[\x00-\x1f\x7f]/);
        if (/^[\x20-\x5b\x5d-\x7e]*$/.test(text)) expect(out).toBe(text);
      }),
    );
  });
});

describe('replySyntaxProblems', () => {
  it.each([
    ['250 ok\u0007', true],
    ['250 ok\u001b[2J', true],
    ['250 ok\u007f', true],
    ['250 ok\u0000', true],
    ['250 ok\tok', false],
    ['250 grüße', false],
  ])('%j: control character flagged = %s', (line, flagged) => {
    expect(replySyntaxProblems([line]).some((p) => p.startsWith('control character'))).toBe(flagged);
  });

  const code = fc.integer({ min: 200, max: 599 });
  const text = fc.stringMatching(/^[ -~]{0,30}$/);
  it('finds nothing in well-formed replies, and flags a changed code or an enhanced code of another class', () => {
    fc.assert(
      fc.property(code, fc.array(text, { minLength: 1, maxLength: 4 }), (c, lines) => {
        const klass = Math.floor(c / 100);
        const good = lines.map((l, i) => `${c}${i === lines.length - 1 ? ' ' : '-'}${klass}.0.0 ${l}`);
        expect(replySyntaxProblems(good)).toEqual([]);
        const other = klass === 5 ? 2 : 5;
        expect(replySyntaxProblems([`${c} ${other}.1.1 ${lines[0]}`])).toHaveLength(1);
        expect(replySyntaxProblems([`${c} ${klass}.0.0 a\tb ${lines[0]}`])).toEqual([]);
        if (lines.length > 1) {
          const changed = [...good];
          changed[1] = `${c === 599 ? 598 : c + 1}${changed[1]!.slice(3)}`;
          expect(replySyntaxProblems(changed).some((p) => /code changed/.test(p))).toBe(true);
        }
      }),
    );
  });
});
