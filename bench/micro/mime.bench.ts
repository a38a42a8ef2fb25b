/** Micro-benchmarks of the MIME encoders (`npx vitest bench bench/micro/mime.bench.ts`). */
import { bench, describe } from 'vitest';
import {
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
