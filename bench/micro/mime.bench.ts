/** Micro-benchmarks of the MIME encoders (`npx vitest bench bench/micro/mime.bench.ts`). */
import { randomBytes } from 'node:crypto';
import { bench, describe } from 'vitest';
import {
  base64Lines,
  encodeBase64,
  encodeQuotedPrintable,
  encodeUnstructured,
  encodeWords,
  foldHeader,
} from '../../src/message/mime/encodings.js';
import { buildMessage } from '../../src/message/mime/index.js';

const binary = Buffer.alloc(1024 * 1024);
for (let i = 0; i < binary.length; i++) binary[i] = (i * 131 + 17) & 0xff;
const german = Buffer.from('Grüße aus Köln, wir sehen uns morgen am Bahnhof.\r\n'.repeat(20_000));
const subject = 'Grüße aus Köln — Ihre Bestellung Nr. 12345 wurde versandt und kommt bald an 📦';

describe('body encoders (1 MiB)', () => {
  bench('base64', () => {
    encodeBase64(binary);
  });
  bench('quoted-printable', () => {
    encodeQuotedPrintable(german);
  });
});

describe('header encoders', () => {
  bench('encodeWords', () => {
    encodeWords(subject);
  });
  bench('encodeUnstructured + foldHeader', () => {
    foldHeader('Subject', encodeUnstructured(subject, { encodeLongTokens: true, maxWordLength: 69 }));
  });
});

describe('buildMessage', () => {
  bench('text + html + 64 KiB attachment, toBuffer', async () => {
    await buildMessage({
      fromAddress: 'a@example.com',
      toAddresses: ['b@example.org'],
      subject,
      textBody: 'hello',
      htmlBody: '<p>hello</p>',
      attachments: [{ filename: 'x.bin', content: binary.subarray(0, 65_536) }],
    }).toBuffer();
  });
});

/** The old base64 path (a string per 76-character line, then one Buffer) beside `base64Lines`. */
function base64ViaStrings(bytes: Buffer): Buffer {
  const b64 = bytes.toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 76) out += `${b64.slice(i, i + 76)}\r\n`;
  return Buffer.from(out, 'latin1');
}
const attachment = binary.subarray(0, 100 * 1024);

describe('base64 of a 100 KB attachment into a Buffer', () => {
  bench('base64Lines (lines moved apart in one Buffer)', () => {
    base64Lines(attachment);
  });
  bench('a string per line, then Buffer.from (before)', () => {
    base64ViaStrings(attachment);
  });
});

/**
 * The builder's module-level random pool (Message-ID and boundaries draw 16 bytes each, 2–4 times a
 * message) against a `randomBytes` call per draw: the measurement behind keeping that module state.
 */
let pool = Buffer.alloc(0);
let offset = 0;
function pooledHex(n: number): string {
  if (offset + n > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  offset += n;
  return pool.toString('hex', offset - n, offset);
}
describe('16 random bytes as hex', () => {
  bench('from a 4 KiB pool (builder.ts)', () => {
    pooledHex(16);
  });
  bench('randomBytes(16) per draw', () => {
    randomBytes(16).toString('hex');
  });
});
