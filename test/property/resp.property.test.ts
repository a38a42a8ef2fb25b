/**
 * RESP2 parser (src/outbox/resp.ts): any reply stream, cut at any points, parses to the same values as
 * in one piece; commands encode to the exact multibulk form.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCommand, RespParser, RespProtocolError, RespReplyError, type RespValue } from '../../src/outbox/resp.js';

type Model =
  | { t: 'simple'; v: string }
  | { t: 'error'; v: string }
  | { t: 'int'; v: number }
  | { t: 'bulk'; v: string | null }
  | { t: 'array'; v: Model[] | null };

/** Independent encoder for the test: the wire form of a model reply. */
function wire(m: Model): string {
  switch (m.t) {
    case 'simple':
      return `+${m.v}\r\n`;
    case 'error':
      return `-${m.v}\r\n`;
    case 'int':
      return `:${m.v}\r\n`;
    case 'bulk':
      return m.v === null ? '$-1\r\n' : `$${Buffer.byteLength(m.v)}\r\n${m.v}\r\n`;
    case 'array':
      return m.v === null ? '*-1\r\n' : `*${m.v.length}\r\n${m.v.map(wire).join('')}`;
  }
}

function expected(m: Model): unknown {
  switch (m.t) {
    case 'error':
      return { error: m.v };
    case 'array':
      return m.v === null ? null : m.v.map(expected);
    default:
      return m.v;
  }
}

function plain(v: RespValue): unknown {
  if (v instanceof RespReplyError) return { error: v.message };
  return Array.isArray(v) ? v.map(plain) : v;
}

const line = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !/[\r\n]/.test(s));
const model: fc.Arbitrary<Model> = fc.letrec<{ m: Model }>((tie) => ({
  m: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    line.map((v) => ({ t: 'simple' as const, v })),
    line.map((v) => ({ t: 'error' as const, v })),
    fc.integer().map((v) => ({ t: 'int' as const, v })),
    // Bulk strings may hold CR, LF and any UTF-8.
    fc.option(fc.string({ unit: 'binary', maxLength: 40 }), { nil: null }).map((v) => ({ t: 'bulk' as const, v })),
    fc.option(fc.array(tie('m'), { maxLength: 4 }), { nil: null }).map((v) => ({ t: 'array' as const, v })),
  ),
})).m;

describe('RespParser', () => {
  it('parses any reply stream cut at any points like the stream in one piece', () => {
    fc.assert(
      fc.property(
        fc.array(model, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (replies, cuts) => {
          const bytes = Buffer.from(replies.map(wire).join(''), 'utf8');
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const parser = new RespParser();
          const out: RespValue[] = [];
          let from = 0;
          for (const p of [...points, bytes.length]) {
            out.push(...parser.push(bytes.subarray(from, p)));
            from = p;
          }
          expect(out.map(plain)).toEqual(replies.map(expected));
        },
      ),
    );
  });

  it('refuses an unknown reply type (the connection is then dropped)', () => {
    expect(() => new RespParser().push(Buffer.from('%2\r\n'))).toThrow(RespProtocolError);
  });

  it('encodes commands as multibulk with byte lengths (UTF-8, numbers, Buffers)', () => {
    expect(encodeCommand(['SET', 'clé', 5, Buffer.from([0, 13, 10])]).toString('latin1')).toBe(
      `*4\r\n$3\r\nSET\r\n$4\r\n${Buffer.from('clé').toString('latin1')}\r\n$1\r\n5\r\n$3\r\n\0\r\n\r\n`,
    );
  });
});
