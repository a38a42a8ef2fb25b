/** The encoders under src/message/mime/encodings.ts: tables for the fixed cases, properties for the rest. */

import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  base64EncodedLength,
  base64Stream,
  decodeQuotedPrintable,
  decodeWords,
  encodeBase64,
  encodeQuotedPrintable,
  encodeUnstructured,
  encodeWords,
  foldHeader,
} from '../../src/message/mime/encodings.js';

const RUNS = 200;

describe('encodeWords / decodeWords (RFC 2047)', () => {
  it('picks Q for mostly-ASCII text and B for the rest', () => {
    expect(encodeWords('Café au lait')).toBe('=?UTF-8?Q?Caf=C3=A9_au_lait?=');
    expect(encodeWords('Café')).toBe('=?UTF-8?B?Q2Fmw6k=?='); // 8 characters against Q's 10
    expect(encodeWords('日本語')).toBe('=?UTF-8?B?5pel5pys6Kqe?=');
    expect(encodeWords('a b')).toBe('=?UTF-8?Q?a_b?=');
    expect(encodeWords('')).toBe('');
  });

  it('round-trips any string, with every word at most 75 characters of whole characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 20, max: 75 }), (text, max) => {
        const encoded = encodeWords(text, max);
        const words = encoded === '' ? [] : encoded.split(' ');
        for (const word of words) {
          expect(word).toMatch(/^=\?UTF-8\?[QB]\?[^?\s]*\?=$/);
          expect(word.length).toBeLessThanOrEqual(max);
          // Each word decodes on its own to valid UTF-8: no character was split.
          const alone = decodeWords(word);
          expect(Buffer.from(alone, 'utf8').toString('utf8')).toBe(alone);
          expect(alone).not.toContain('\uFFFD');
        }
        expect(decodeWords(encoded)).toBe(text);
      }),
      { numRuns: RUNS },
    );
  });

  it('never splits a surrogate pair', () => {
    const text = '😀'.repeat(40);
    for (const word of encodeWords(text).split(' ')) expect(decodeWords(word)).toMatch(/^(😀)+$/u);
  });

  it('decodes other charsets, drops whitespace between adjacent words only, keeps malformed words', () => {
    expect(decodeWords('=?ISO-8859-1?Q?Andr=E9?= Pirard')).toBe('André Pirard');
    expect(decodeWords('=?us-ascii?q?a?=   =?us-ascii?q?b?=')).toBe('ab');
    expect(decodeWords('=?utf-8?b?w6k=?= x =?utf-8?q?y?=')).toBe('é x y');
    expect(decodeWords('=?utf-8*en?Q?a?=')).toBe('a');
    // A multi-byte character split across two words by a careless encoder.
    expect(decodeWords('=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=')).toBe('é');
    expect(decodeWords('=?nosuch?Q?a?=')).toBe('=?nosuch?Q?a?=');
    expect(decodeWords('=?utf-8?Q?=ZZ?=')).toBe('=?utf-8?Q?=ZZ?=');
    expect(decodeWords('=?utf-8?B?%%%?=')).toBe('=?utf-8?B?%%%?=');
    expect(decodeWords('plain text')).toBe('plain text');
  });
});

describe('encodeWords word breaks', () => {
  it('ends each encoded-word after a space of the text when one fits', () => {
    const text = 'Александр Сергеевич Пушкин и Наталья Николаевна Гончарова';
    const words = encodeWords(text).split(' ');
    expect(words.length).toBeGreaterThan(1);
    const decoded = words.map((w) => decodeWords(w));
    expect(decoded.join('')).toBe(text);
    // Every word but the last ends with a space: no word of the text is cut in two.
    for (const d of decoded.slice(0, -1)) expect(d.endsWith(' ')).toBe(true);
    // A single word longer than an encoded-word still has to be cut inside.
    expect(encodeWords('東'.repeat(40)).split(' ').length).toBeGreaterThan(1);
  });
});

describe('encodeUnstructured', () => {
  it('leaves printable ASCII alone and encodes only the span that needs it', () => {
    expect(encodeUnstructured('Hello world')).toBe('Hello world');
    expect(encodeUnstructured('Hello Wörld and more')).toBe('Hello =?UTF-8?B?V8O2cmxk?= and more');
    expect(encodeUnstructured('Hello Wörld! and more')).toBe('Hello =?UTF-8?Q?W=C3=B6rld!?= and more');
    expect(encodeUnstructured('looks =?like?= a word')).toMatch(/^looks =\?UTF-8\?/);
    expect(decodeWords(encodeUnstructured('  edges  '))).toBe('  edges  ');
  });

  it('round-trips and folds to 78-character lines with encodeLongTokens', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 400 }).map((s) => s.replace(/[\r\n\0]/g, '')),
        (text) => {
          const folded = foldHeader('Subject', encodeUnstructured(text, { encodeLongTokens: true, maxWordLength: 69 }));
          for (const line of folded.split('\r\n').slice(0, -1)) {
            expect(line.length).toBeLessThanOrEqual(78);
            expect(line).toMatch(/^[\x20-\x7e\t]*$/);
          }
          const unfolded = folded.slice('Subject: '.length, -2).replace(/\r\n(?=[ \t])/g, '');
          expect(decodeWords(unfolded)).toBe(text);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('foldHeader', () => {
  it('folds at whitespace only, never leaving a whitespace-only line', () => {
    const value = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
    const folded = foldHeader('X-Long', value);
    expect(folded.endsWith('\r\n')).toBe(true);
    for (const line of folded.split('\r\n').slice(0, -1)) {
      expect(line.length).toBeLessThanOrEqual(78);
      expect(line.trim()).not.toBe('');
    }
    expect(folded.slice(0, -2).replace(/\r\n/g, '')).toBe(`X-Long: ${value}`);
  });

  it('keeps a quoted-string whole in a structured field', () => {
    const value = `"${'a '.repeat(50)}" <a@example.com>`;
    const folded = foldHeader('To', value, { structured: true });
    expect(folded).toContain(`"${'a '.repeat(50)}"`);
    expect(foldHeader('Subject', value)).not.toContain(`"${'a '.repeat(50)}"`);
  });

  it('keeps an over-long word whole', () => {
    // Never folded right after the colon (Python's policy.default would keep that space).
    expect(foldHeader('X', 'y'.repeat(100))).toBe(`X: ${'y'.repeat(100)}\r\n`);
  });
});

describe('quoted-printable (RFC 2045 §6.7)', () => {
  it('encodes the fixed cases', () => {
    expect(encodeQuotedPrintable('a=b')).toBe('a=3Db');
    expect(encodeQuotedPrintable('trailing \r\nx\t')).toBe('trailing=20\r\nx=09');
    expect(encodeQuotedPrintable('é')).toBe('=C3=A9');
    expect(encodeQuotedPrintable(Buffer.from('a\nb\rc'))).toBe('a=0Ab=0Dc');
    const long = encodeQuotedPrintable('x'.repeat(200));
    expect(long.split('\r\n').map((l) => l.length)).toEqual([76, 76, 50]);
  });

  it('round-trips any bytes with lines of at most 76 characters and no trailing whitespace', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1000 }).map((u) => Buffer.from(u)),
          fc.string({ unit: 'binary', maxLength: 500 }).map((s) => Buffer.from(s.replace(/\r\n|\r|\n/g, '\r\n'))),
        ),
        (bytes) => {
          const qp = encodeQuotedPrintable(bytes);
          for (const line of qp.split('\r\n')) {
            expect(line.length).toBeLessThanOrEqual(76);
            expect(line).not.toMatch(/[ \t]$/);
            expect(line).toMatch(/^[\x20-\x7e\t]*$/);
          }
          expect(/\r(?!\n)|(?<!\r)\n/.test(qp)).toBe(false);
          expect(decodeQuotedPrintable(qp).equals(bytes)).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('base64 (RFC 2045 §6.8)', () => {
  it('writes 76-character CRLF lines and predicts its length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (u) => {
        const b64 = encodeBase64(u);
        expect(b64.length).toBe(base64EncodedLength(u.length));
        const lines = b64.split('\r\n');
        expect(lines.pop()).toBe('');
        for (const line of lines.slice(0, -1)) expect(line.length).toBe(76);
        expect(Buffer.from(lines.join(''), 'base64').equals(Buffer.from(u))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('the base64 streamer gives the same output however the input is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }), async (chunks) => {
        let out = '';
        let total = -1;
        const source = Readable.from(chunks.map((c) => Buffer.from(c)));
        const record = (n: number): void => {
          total = n;
        };
        for await (const piece of base64Stream(source, record)) out += piece.toString('latin1');
        const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        expect(out).toBe(all.length === 0 ? '\r\n' : encodeBase64(all));
        expect(total).toBe(all.length);
      }),
      { numRuns: 100 },
    );
  });
});
