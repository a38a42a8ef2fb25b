/**
 * DKIM canonicalization: the streaming body canonicalizer equals the one-shot reference (written from
 * RFC 6376 §3.4.3/§3.4.4 with regular expressions) for every body and every way of cutting it into chunks;
 * header canonicalization against RFC 6376's own example (§3.4.6).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BodyCanonicalizer,
  type Canonicalization,
  canonicalizeBodyReference,
  canonicalizeHeader,
  parseHeaderFields,
} from '../../src/message/dkim/canonicalize.js';
import { DkimMessageHasher } from '../../src/message/dkim/message.js';
import { DkimSigner } from '../../src/message/dkim/sign.js';
import { DKIM_KEYS } from '../helpers/dkim-verifiers.js';

function stream(chunks: readonly Buffer[], c: Canonicalization): Buffer {
  const out: Buffer[] = [];
  const canon = new BodyCanonicalizer(c, (b) => out.push(Buffer.from(b)));
  for (const chunk of chunks) canon.update(chunk);
  canon.end();
  const all = Buffer.concat(out);
  expect(canon.length).toBe(all.length);
  return all;
}

/** Bodies made of the bytes that matter: CR, LF, SP, TAB, letters; lines of only spaces, empty lines at the end. */
const bodyArb = fc
  .array(fc.constantFrom('\r\n', '\r\n', '\r', '\n', ' ', ' ', '\t', 'a', 'b', '.', 'é', '   \r\n', '\r\n\r\n'), {
    maxLength: 60,
  })
  .map((parts) => Buffer.from(parts.join(''), 'latin1'));

/** The body and a set of cut points. */
const chunkedArb = bodyArb.chain((body) =>
  fc.uniqueArray(fc.integer({ min: 0, max: body.length }), { maxLength: 12 }).map((cuts) => {
    const points = [0, ...cuts.sort((a, b) => a - b), body.length];
    const chunks: Buffer[] = [];
    for (let i = 1; i < points.length; i++) chunks.push(body.subarray(points[i - 1], points[i]));
    return { body, chunks };
  }),
);

describe('body canonicalization', () => {
  for (const c of ['simple', 'relaxed'] as const) {
    it(`${c}: streaming over any chunking equals the one-shot reference`, () => {
      fc.assert(
        fc.property(chunkedArb, ({ body, chunks }) => {
          expect(stream(chunks, c).toString('latin1')).toBe(canonicalizeBodyReference(body, c).toString('latin1'));
        }),
        { numRuns: Number(process.env.DKIM_CANON_RUNS ?? 2000) },
      );
    });
  }

  it('RFC 6376 §3.4.6 example body', () => {
    const body = Buffer.from(' C \r\nD \t E\r\n\r\n\r\n', 'latin1');
    expect(stream([body], 'relaxed').toString('latin1')).toBe(' C\r\nD E\r\n');
    expect(stream([body], 'simple').toString('latin1')).toBe(' C \r\nD \t E\r\n');
  });

  it('empty bodies: simple is one CRLF, relaxed is empty (RFC 6376 §3.4.3, §3.4.4)', () => {
    expect(stream([], 'simple').toString('latin1')).toBe('\r\n');
    expect(stream([], 'relaxed').toString('latin1')).toBe('');
    expect(stream([Buffer.from('\r\n\r\n  \r\n\t\r\n')], 'relaxed').toString('latin1')).toBe('');
    expect(stream([Buffer.from('\r\n\r\n')], 'simple').toString('latin1')).toBe('\r\n');
  });

  it('a last line without CRLF is completed', () => {
    expect(stream([Buffer.from('abc  ')], 'relaxed').toString('latin1')).toBe('abc\r\n');
    expect(stream([Buffer.from('abc  ')], 'simple').toString('latin1')).toBe('abc  \r\n');
  });
});

describe('header canonicalization', () => {
  it('RFC 6376 §3.4.6 example headers', () => {
    const fields = parseHeaderFields('A: X\r\nB : Y\t\r\n\tZ  \r\n');
    expect(fields.map((f) => f.name)).toEqual(['A', 'B']);
    expect(fields.map((f) => canonicalizeHeader(f.raw, 'relaxed'))).toEqual(['a:X', 'b:Y Z']);
    expect(fields.map((f) => canonicalizeHeader(f.raw, 'simple'))).toEqual(['A: X', 'B : Y\t\r\n\tZ  ']);
  });

  it('relaxed lower-cases ASCII only and keeps 8-bit bytes of the value', () => {
    const raw = Buffer.from('SUBJECT:  Caf\u00e9   ok ', 'latin1').toString('latin1');
    expect(canonicalizeHeader(raw, 'relaxed')).toBe('subject:Caf\u00e9 ok');
  });
});

describe('whole-message hashing', () => {
  // Ed25519 signatures are deterministic: any chunking of the same message gives the same field.
  const signers = (['relaxed/relaxed', 'simple/simple'] as const).map(
    (c) =>
      new DkimSigner({
        domainName: 'example.com',
        keySelector: 's',
        privateKey: DKIM_KEYS.ed25519,
        canonicalization: c,
      }),
  );
  const sign = (chunks: readonly Buffer[]): string => {
    const h = new DkimMessageHasher(signers);
    for (const c of chunks) h.update(c);
    return h.finish(new Date(0));
  };
  const messageArb = fc
    .tuple(
      fc.constantFrom('From: a@example.com', 'from : a@example.com', '\r\nFrom: a@example.com'),
      fc.array(fc.constantFrom('\r\n', '\n', '\r', 'Subject: x', '\t folded', 'To:  b@example.org  ', 'body ', '.'), {
        maxLength: 20,
      }),
    )
    .map(([first, rest]) => Buffer.from(first + rest.join(''), 'latin1'));

  it('any chunking (separator split anywhere, bare CR/LF) gives the same signature as one chunk', () => {
    fc.assert(
      fc.property(
        messageArb.chain((m) =>
          fc.uniqueArray(fc.integer({ min: 0, max: m.length }), { maxLength: 10 }).map((cuts) => ({ m, cuts })),
        ),
        ({ m, cuts }) => {
          const points = [0, ...cuts.sort((a, b) => a - b), m.length];
          const chunks = points.slice(1).map((p, i) => m.subarray(points[i], p));
          let whole: string;
          try {
            whole = sign([m]);
          } catch (err) {
            // No From field (e.g. the message starts with an empty line): every chunking refuses it alike.
            expect(() => sign(chunks)).toThrow((err as Error).message);
            return;
          }
          expect(sign(chunks)).toBe(whole);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
