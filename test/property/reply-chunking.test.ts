import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeReply, ReplyParser } from '../../src/protocol/reply.js';

const text = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);
const reply = fc.record({
  code: fc.integer({ min: 200, max: 599 }),
  enhanced: fc.option(fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 })), { nil: undefined }),
  lines: fc.array(text, { minLength: 1, maxLength: 5 }),
});

function render(r: { code: number; enhanced: [number, number] | undefined; lines: string[] }): string {
  const cls = Math.floor(r.code / 100);
  const prefix = r.enhanced ? `${cls}.${r.enhanced[0]}.${r.enhanced[1]} ` : '';
  return r.lines.map((line, i) => `${r.code}${i === r.lines.length - 1 ? ' ' : '-'}${prefix}${line}\r\n`).join('');
}

describe('ReplyParser under arbitrary chunking', () => {
  it('any split of a valid reply stream parses the same as the whole', () => {
    fc.assert(
      fc.property(
        fc.array(reply, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (replies, cuts) => {
          const bytes = Buffer.from(replies.map(render).join(''), 'utf8');
          const whole = new ReplyParser().push(bytes);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const parser = new ReplyParser();
          const pieces = [];
          let last = 0;
          for (const p of [...points, bytes.length]) {
            pieces.push(...parser.push(bytes.subarray(last, p)));
            last = p;
          }
          expect(pieces).toEqual(whole);
          expect(whole.map((r) => r.code)).toEqual(replies.map((r) => r.code));
          expect(parser.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it('one byte at a time gives the same replies', () => {
    fc.assert(
      fc.property(fc.array(reply, { minLength: 1, maxLength: 4 }), (replies) => {
        const bytes = Buffer.from(replies.map(render).join(''), 'utf8');
        const parser = new ReplyParser();
        const out = [];
        for (const b of bytes) out.push(...parser.push(Buffer.from([b])));
        expect(out).toEqual(new ReplyParser().push(bytes));
      }),
      { numRuns: 50 },
    );
  });

  it('never buffers more than the line limit, whatever the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const parser = new ReplyParser({ maxLineLength: 200 });
        try {
          for (let i = 0; i < bytes.length; i += 97) parser.push(bytes.subarray(i, i + 97));
        } catch (err) {
          expect((err as { code: string }).code).toMatch(/^ERR_SMTP_(PROTOCOL|LINE_TOO_LONG)$/);
        }
        expect(parser.bufferedBytes).toBeLessThanOrEqual(200 + 97);
      }),
    );
  });
});

describe('the one-line fast path', () => {
  it('reads the same Reply as the general rule (makeReply) for any one-line text', () => {
    // Text built to hit the edges: enhanced-code look-alikes, leading zeros, tabs, other white space, UTF-8.
    const piece = fc.constantFrom(
      '2',
      '4',
      '5',
      '0',
      '00',
      '1',
      '123',
      '1234',
      '.',
      ' ',
      '\t',
      '\v',
      '\u00a0',
      'x',
      'ü',
      '',
    );
    const line = fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 599 }), line, (code, text) => {
        const [parsed] = new ReplyParser().push(Buffer.from(`${code} ${text}\r\n`, 'utf8'));
        expect(parsed).toEqual(makeReply(code, [text]));
      }),
      { numRuns: 2000 },
    );
  });
});
