import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyEncoder, dataForm, encodeBody, toWireBody } from '../../src/protocol/dot-stuff.js';

/** What a receiving server does (RFC 5321 §4.5.2): split on CRLF, drop the final ".", un-stuff. */
function receive(wire: Buffer): string {
  const text = wire.toString('latin1');
  expect(text.endsWith('\r\n.\r\n') || text === '.\r\n').toBe(true);
  const body = text === '.\r\n' ? '' : text.slice(0, -3);
  return body
    .split('\r\n')
    .map((line) => (line.startsWith('.') ? line.slice(1) : line))
    .join('\r\n');
}

/** The body a caller meant: every bare CR, bare LF and CRLF is one line break, and the last line is terminated. */
function normalise(body: string): string {
  const lines = body.replace(/\r\n|\r|\n/g, '\n');
  if (lines === '') return '';
  return (lines.endsWith('\n') ? lines : `${lines}\n`).replace(/\n/g, '\r\n');
}

const bodyChars = fc.constantFrom('a', '.', '\r', '\n', ' ', 'é', 'From ', '..', '\r\n');
const body = fc.array(bodyChars, { maxLength: 200 }).map((parts) => parts.join(''));

function encodeInPieces(bytes: Buffer, cuts: number[], dotStuff = true): Buffer {
  const encoder = new BodyEncoder({ dotStuff });
  const out: Buffer[] = [];
  let last = 0;
  for (const p of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    out.push(encoder.encode(bytes.subarray(last, p)));
    last = p;
  }
  out.push(encoder.encode(bytes.subarray(last)), encoder.end());
  return Buffer.concat(out);
}

describe('BodyEncoder (DATA transparency)', () => {
  it('round-trips any body through a receiving server, after line-break normalisation', () => {
    fc.assert(
      fc.property(body, fc.array(fc.nat(), { maxLength: 10 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'latin1');
        const wire = encodeInPieces(bytes, cuts);
        expect(receive(wire)).toBe(normalise(text));
      }),
    );
  });

  it('never emits a bare CR or LF, and any chunking gives the same bytes', () => {
    fc.assert(
      fc.property(body, fc.array(fc.nat(), { maxLength: 10 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'latin1');
        const wire = encodeInPieces(bytes, cuts);
        expect(wire.equals(encodeBody(bytes))).toBe(true);
        const s = wire.toString('latin1');
        expect(/\r(?!\n)/.test(s)).toBe(false);
        expect(/(?<!\r)\n/.test(s)).toBe(false);
        // No line of the wire data is a lone "." except the terminator.
        expect(s.slice(0, -3).split('\r\n').includes('.')).toBe(false);
      }),
    );
  });

  it('with stuffing off (BDAT) keeps dots and still normalises line breaks', () => {
    fc.assert(
      fc.property(body, fc.array(fc.nat(), { maxLength: 5 }), (text, cuts) => {
        const wire = encodeInPieces(Buffer.from(text, 'latin1'), cuts, false).toString('latin1');
        expect(wire).toBe(normalise(text));
      }),
    );
  });

  it('neutralises SMTP smuggling sequences', () => {
    const smuggle = Buffer.from('hi\n.\nMAIL FROM:<evil@x>\r\n.\r\r\nRCPT TO:<v@x>\r.\r');
    const wire = encodeBody(smuggle).toString('latin1');
    expect(wire).toBe('hi\r\n..\r\nMAIL FROM:<evil@x>\r\n..\r\n\r\nRCPT TO:<v@x>\r\n..\r\n.\r\n');
  });

  it('refuses a line over 998 octets and accepts exactly 998', () => {
    expect(() => encodeBody(Buffer.from(`${'x'.repeat(998)}\r\n`))).not.toThrow();
    expect(() => encodeBody(Buffer.from('x'.repeat(999)))).toThrow(
      expect.objectContaining({ code: 'ERR_SMTP_BODY_LINE_TOO_LONG' }),
    );
  });

  it('counts the dots it adds, so the transmitted size is known', () => {
    fc.assert(
      fc.property(body, (text) => {
        const encoder = new BodyEncoder();
        const out = Buffer.concat([encoder.encode(Buffer.from(text, 'latin1')), encoder.end()]);
        expect(out.length - 3 - encoder.dotsAdded).toBe(Buffer.byteLength(normalise(text), 'latin1'));
      }),
    );
  });
});

describe('dataForm: the send-time dot check', () => {
  it('sends a wire body as it is exactly when no line starts with a dot, and the stuffed form equals encodeBody', () => {
    const piece = fc.constantFrom('.', '..', '\r\n', 'a', 'bc', ' ');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 400 }), (parts) => {
        const wire = toWireBody(Buffer.from(`${parts.join('')}\r\n`));
        const b = wire.bytes;
        const dotted = b[0] === 0x2e || b.indexOf('\n.') !== -1 || b.indexOf('\r.') !== -1;
        const form = dataForm(wire);
        expect(form.ready === null).toBe(dotted);
        expect(
          (form.ready === null ? form.stuffed : Buffer.concat([form.ready, Buffer.from('.\r\n')])).equals(
            encodeBody(b),
          ),
        ).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
