/**
 * MIME parameters (params.ts): RFC 2231 values and continuations, the RFC 2047 `name=`, and the
 * folded field. Readers' view of the same output: test/readers/reader-matrix.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWords } from '../../src/message/mime/encodings.js';
import {
  encodeParameter,
  filenameParameter,
  formatParameterField,
  nameParameter,
} from '../../src/message/mime/params.js';

const RUNS = 200;

/** Decodes RFC 2231 segments of one parameter back to its value (a tiny reference decoder). */
function decode2231(attribute: string, segments: readonly string[]): string {
  let decoded = '';
  const bytes: number[] = [];
  for (const seg of segments) {
    const m = new RegExp(`^${attribute}(?:\\*(\\d+))?(\\*?)=(.*)$`).exec(seg)!;
    if (m[2] === '*') {
      const text = m[3]!.replace(/^utf-8''/, '');
      for (let i = 0; i < text.length; i++) {
        if (text[i] === '%') {
          bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
          i += 2;
        } else bytes.push(text.charCodeAt(i));
      }
    } else {
      const raw = m[3]!;
      decoded += raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    }
  }
  if (bytes.length > 0) decoded += Buffer.from(bytes).toString('utf8');
  return decoded;
}

const fileNames = fc
  .oneof(
    fc.string({ unit: 'grapheme', maxLength: 120 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.string({ maxLength: 200 }),
  )
  .map((s) => s.replace(/[\r\n\0]/g, ''));

describe('encodeParameter (RFC 2231)', () => {
  it('writes tokens, quoted strings, extended values and continuations', () => {
    expect(encodeParameter('filename', 'report.pdf')).toEqual(['filename=report.pdf']);
    expect(encodeParameter('filename', 'a b "c".txt')).toEqual(['filename="a b \\"c\\".txt"']);
    expect(encodeParameter('filename', 'é.txt')).toEqual(["filename*=utf-8''%C3%A9.txt"]);
    expect(encodeParameter('filename', 'ab', true)).toEqual(["filename*=utf-8''ab"]);
    const long = encodeParameter('filename', 'é'.repeat(40));
    expect(long.length).toBeGreaterThan(1);
    expect(long[0]).toMatch(/^filename\*0\*=utf-8''/);
    expect(long[1]).toMatch(/^filename\*1\*=%/);
  });

  it('round-trips: segments decode to the value and stay within a line', () => {
    fc.assert(
      fc.property(fileNames, (value) => {
        const segments = encodeParameter('filename', value);
        for (const seg of segments) expect(seg.length).toBeLessThanOrEqual(74);
        expect(decode2231('filename', segments)).toBe(value);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('filenameParameter (Content-Disposition)', () => {
  it('has no lossy ASCII stand-in before the RFC 2231 form', () => {
    expect(filenameParameter('报告 2026.zip')).toEqual(["filename*=utf-8''%E6%8A%A5%E5%91%8A%202026.zip"]);
    expect(filenameParameter('résumé final (v2).pdf')).toEqual([
      "filename*=utf-8''r%C3%A9sum%C3%A9%20final%20%28v2%29.pdf",
    ]);
    expect(filenameParameter('plain name.pdf')).toEqual(['filename="plain name.pdf"']);
    expect(filenameParameter('=?UTF-8?Q?x?=.txt')).toEqual(["filename*=utf-8''%3D%3FUTF-8%3FQ%3Fx%3F%3D.txt"]);
    expect(filenameParameter('')).toEqual([]);
  });

  it('only ever writes filename parameters that decode to the name', () => {
    fc.assert(
      fc.property(fileNames, (value) => {
        const segments = filenameParameter(value);
        if (value === '') return;
        expect(segments.every((s) => /^filename(\*\d+)?\*?=/.test(s))).toBe(true);
        // One form only: either plain segments or extended ones, never both kinds of first segment.
        expect(segments.filter((s) => /^filename(\*0)?\*?=/.test(s))).toHaveLength(1);
        expect(decode2231('filename', segments)).toBe(value);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('nameParameter (Content-Type, RFC 2047)', () => {
  it('keeps short ASCII readable and encodes the rest', () => {
    expect(nameParameter('a.pdf')).toEqual(['name=a.pdf']);
    expect(nameParameter('a b.pdf')).toEqual(['name="a b.pdf"']);
    expect(nameParameter('报告.zip')).toEqual(['name="=?UTF-8?B?5oql5ZGKLnppcA==?="']);
  });

  it('decodes back to the name', () => {
    fc.assert(
      fc.property(fileNames, (value) => {
        const [param] = nameParameter(value);
        if (value === '') {
          expect(param).toBeUndefined();
          return;
        }
        const m = /^name=(?:"(.*)"|(.*))$/.exec(param!)!;
        const inner = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!;
        expect(inner.startsWith('=?') ? decodeWords(inner) : inner).toBe(value);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('formatParameterField', () => {
  it('folds before parameters and between encoded-words only, within 78 characters', () => {
    fc.assert(
      fc.property(fileNames, (value) => {
        const params = [...nameParameter(value), ...filenameParameter(value)];
        const field = formatParameterField('Content-Type', 'application/octet-stream', params);
        expect(field.endsWith('\r\n')).toBe(true);
        const lines = field.slice(0, -2).split('\r\n');
        for (const line of lines.slice(1)) expect(line.startsWith(' ')).toBe(true);
        for (const line of lines) expect(line.length).toBeLessThanOrEqual(78);
        // Unfolding (RFC 5322 §2.2.3: remove the CRLF) gives back the one-line field exactly.
        expect(field.slice(0, -2).replace(/\r\n/g, '')).toBe(
          ['Content-Type: application/octet-stream', ...params].join('; '),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('writes a short field on one line', () => {
    expect(formatParameterField('Content-Disposition', 'attachment', ['filename=a.pdf'])).toBe(
      'Content-Disposition: attachment; filename=a.pdf\r\n',
    );
  });
});
