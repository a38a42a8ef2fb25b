/**
 * Round trips of the MIME builder through mailparser (an independent parser), and invariants of
 * the raw output, over arbitrary Unicode input.
 */

import fc from 'fast-check';
import { type AddressObject, simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { type BuildMessageOptions, buildMessage } from '../../src/message/mime/index.js';
import { headerSafe } from '../helpers/header-safe.js';

/** Property runs; raise with MIME_RUNS=2000 for a deeper search. */
const RUNS = Number(process.env.MIME_RUNS ?? 100);

/** No CR, LF or NUL: values that may go into a header. */

/** Unicode text mixing every kind of character with the awkward ASCII bits of headers. */
const unicodeText = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 10 }),
      fc.string({ maxLength: 20 }),
      fc.constantFrom(
        ' ',
        '  ',
        '\t',
        '=?',
        '?=',
        '=?UTF-8?Q?a?=',
        '"',
        '\\',
        '_',
        '=',
        'From ',
        '.',
        'x'.repeat(120),
        'é'.repeat(50),
        '😀',
      ),
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));

/** Multi-line body text: dots and "From " at line starts, very long lines, CR/LF mixtures. */
const bodyText = fc
  .array(
    fc.tuple(
      fc.oneof(
        unicodeText,
        fc.constantFrom('.', '..', '.hidden', 'From me', '', ' ', 'trailing space ', 'tab\t', '-- ', '--=_smtpwire_'),
        fc.string({ maxLength: 3000 }),
        fc.constant('a'.repeat(1200)),
        fc.constant('ü'.repeat(600)),
      ),
      fc.constantFrom('\r\n', '\n', '\r', '\r\n', '\n'),
    ),
    { maxLength: 10 },
  )
  .chain((lines) =>
    fc.boolean().map((endsWithBreak) => {
      const text = lines.map(([line, br]) => line + br).join('');
      return endsWithBreak || lines.length === 0 ? text : text.slice(0, text.length - lines.at(-1)![1].length);
    }),
  );

/** A display name: the address parser refuses C0/C1 controls and the line separators U+2028/U+2029 in one. */
const displayName = unicodeText.map((s) => s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, ''));

const attachment = fc.record({
  filename: fc
    .oneof(unicodeText, fc.constantFrom('report.pdf', 'a b.txt', 'ünïcödé.png', `${'x'.repeat(150)}.bin`))
    .map(headerSafe),
  bytes: fc.uint8Array({ maxLength: 3000 }),
  source: fc.constantFrom('content', 'data', 'uint8'),
});

/** mailparser writes line breaks as LF. */
const asLf = (text: string): string => text.replace(/\r\n|\r|\n/g, '\n');

/**
 * mailparser's quirks on the final line break: a single-part body includes the CRLF that ends
 * the message (so it may gain one "\n"), an empty text part comes back as "\n", an empty HTML
 * part as false.
 */
function expectTextEqual(actual: string | false | undefined, expected: string): void {
  if (expected === '' && (actual === false || actual === undefined)) return; // empty HTML: false
  expect(typeof actual).toBe('string');
  const a = actual as string;
  if (a !== expected) expect(a).toBe(`${expected}\n`);
}

/**
 * mailparser trims the spaces at the edges of a quoted-string display name; a name written as
 * encoded-words comes back exactly. `field` is the header line the name was written in.
 */
const expectedName = (name: string, field: string): string =>
  field.includes('=?UTF-8?') ? name : name.replace(/^ +| +$/g, '');

/** The unfolded header field `name` of a raw message. */
function headerField(raw: Buffer, name: string): string {
  const head = raw
    .toString('utf8')
    .split('\r\n\r\n')[0]!
    .replace(/\r\n(?=[ \t])/g, '');
  return head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)) ?? '';
}

function firstAddress(obj: AddressObject | AddressObject[] | undefined): { name: string; address: string | undefined } {
  const o = Array.isArray(obj) ? obj[0] : obj;
  const v = o?.value[0];
  return { name: v?.name ?? '', address: v?.address };
}

/** Every line ends in CRLF and is at most 998 octets; no bare CR or LF. */
function checkLines(raw: Buffer): void {
  const text = raw.toString('latin1');
  expect(text.endsWith('\r\n')).toBe(true);
  expect(/\r(?!\n)|(?<!\r)\n/.test(text)).toBe(false);
  for (const line of text.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
}

/** Each boundary appears only in its declaration and as delimiter lines. */
function checkBoundaries(raw: Buffer): void {
  const text = raw.toString('latin1');
  const declared = [...text.matchAll(/boundary="([^"]+)"/g)].map((m) => m[1]!);
  for (const b of declared) {
    const occurrences = text.split(b).length - 1;
    const lines = text.split('\r\n').filter((l) => l === `--${b}` || l === `--${b}--`).length;
    expect(occurrences).toBe(lines + 1);
  }
}

/** The last message built, printed when a property fails. */
const context = { raw: '' };

describe('buildMessage round trip through mailparser', () => {
  it('keeps subject, names, text, HTML and every attachment byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          subject: unicodeText.map(headerSafe),
          fromName: displayName,
          toName: displayName,
          text: fc.option(bodyText, { nil: undefined }),
          html: fc.option(bodyText, { nil: undefined }),
          attachments: fc.array(attachment, { maxLength: 3 }),
          allow8bit: fc.boolean(),
        }),
        async (m) => {
          context.raw = '';
          const options: BuildMessageOptions = {
            fromAddress: m.fromName === '' ? 'sender@example.com' : formatName(m.fromName, 'sender@example.com'),
            toAddresses: [m.toName === '' ? 'rcpt@example.org' : formatName(m.toName, 'rcpt@example.org')],
            subject: m.subject,
            textBody: m.text,
            htmlBody: m.html,
            allow8bit: m.allow8bit,
            attachments: m.attachments.map((a) => ({
              filename: a.filename,
              ...(a.source === 'data'
                ? { data: Buffer.from(a.bytes).toString('base64') }
                : a.source === 'uint8'
                  ? { content: a.bytes }
                  : { content: Buffer.from(a.bytes) }),
            })),
          };
          const built = buildMessage(options);
          const raw = await built.toBuffer();
          expect(raw.length).toBe(built.size);
          // No address needs SMTPUTF8 here, so every header is 7-bit (RFC 2047 did the rest).
          expect(built.needsSmtpUtf8).toBe(false);
          expect(built.headers).toMatch(/^[\x20-\x7e\t\r\n]*$/);
          expect(raw.subarray(0, built.headers.length).toString('latin1')).toBe(built.headers);
          checkLines(raw);
          checkBoundaries(raw);
          const parsed = await simpleParser(raw);
          context.raw = raw.toString('utf8');

          expect(parsed.subject ?? '').toBe(m.subject);
          expect(firstAddress(parsed.from)).toEqual({
            name: expectedName(m.fromName, headerField(raw, 'From')),
            address: 'sender@example.com',
          });
          expect(firstAddress(parsed.to)).toEqual({
            name: expectedName(m.toName, headerField(raw, 'To')),
            address: 'rcpt@example.org',
          });
          if (m.text !== undefined) expectTextEqual(parsed.text, asLf(m.text));
          if (m.html !== undefined) expectTextEqual(parsed.html, asLf(m.html));
          else expect(parsed.html).toBe(false);

          expect(parsed.attachments.length).toBe(m.attachments.length);
          parsed.attachments.forEach((got, i) => {
            const want = m.attachments[i]!;
            expect(got.filename ?? '').toBe(want.filename);
            expect(Buffer.compare(got.content, Buffer.from(want.bytes))).toBe(0);
          });
        },
      ),
      {
        numRuns: RUNS,
        reporter: (out) => {
          if (out.failed)
            throw new Error(
              `${fc.defaultReportMessage(out)}\n${String(out.errorInstance)}\n${JSON.stringify(context.raw)}`,
            );
        },
      },
    );
  });
});

/** `"name" <address>` with the name as a quoted-string: the address module parses it back. */
function formatName(name: string, address: string): string {
  return `"${name.replace(/["\\]/g, '\\$&')}" <${address}>`;
}
