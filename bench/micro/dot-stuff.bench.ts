/**
 * Micro-benchmark of the DATA dot-stuffer (`npx vitest bench bench/micro/dot-stuff.bench.ts`):
 * a typical 1 KB message, 1 MiB of base64-like lines, a body where every line starts with a dot,
 * and bare-LF input that must be normalised, in one piece and in 16 KiB stream chunks.
 */
import { bench, describe } from 'vitest';
import { BodyEncoder, dataForm, encodeBody, toWireBody } from '../../src/protocol/dot-stuff.js';

const small = Buffer.from(
  `From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\n\r\n${'The quick brown fox jumps over the lazy dog.\r\n'.repeat(20)}`,
);
const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n';
const base64 = Buffer.from(line.repeat(Math.ceil((1024 * 1024) / line.length)));
const dots = Buffer.from('.leading dot on every line\r\n'.repeat(40_000));
const bareLf = Buffer.from('a line that ends in a bare LF\n'.repeat(40_000));
const CHUNK = 16 * 1024;

function chunked(buf: Buffer): void {
  const encoder = new BodyEncoder({ dotStuff: true });
  for (let i = 0; i < buf.length; i += CHUNK) encoder.encode(buf.subarray(i, i + CHUNK));
  encoder.end();
}

describe('dot-stuffing', () => {
  bench('1 KB message, encodeBody', () => {
    encodeBody(small);
  });
  bench('1 MiB base64 lines, encodeBody', () => {
    encodeBody(base64);
  });
  bench('1 MiB base64 lines, 16 KiB chunks', () => {
    chunked(base64);
  });
  bench('1.1 MB, every line starts with a dot', () => {
    encodeBody(dots);
  });
  bench('1.2 MB of bare-LF lines (normalised to CRLF)', () => {
    encodeBody(bareLf);
  });
});

/** The send-time check of a wire body (a line starting with a dot?) on 100 KB of base64 lines and of prose. */
const base64Wire = toWireBody(base64.subarray(0, 100 * 1024 - ((100 * 1024) % line.length)));
const prose = toWireBody(Buffer.from('Dr. Smith met Mr. Jones. They talked. It was fine.\r\n'.repeat(2000)));
describe('dataForm (the send-time dot check)', () => {
  bench('100 KB base64 lines', () => {
    dataForm(base64Wire);
  });
  bench('100 KB prose with a dot every few words', () => {
    dataForm(prose);
  });
});
