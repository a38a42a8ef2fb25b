import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RESERVED_FIELDS } from '../../src/message/mime/headers.js';
import type { MessageInput } from '../../src/message/types.js';
import { SmtpMessageValidator as V } from '../../src/message/validator.js';

const lineBreak = fc.constantFrom('\r', '\n', '\r\n', '\0');

describe('validator properties', () => {
  it('a subject is valid exactly when it has no line break (CR/LF/NUL/VT/FF/NEL/LS/PS) and at most 998 code points', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1100 }), (s) => {
        const expected = !/[\r\n\0\v\f\u0085\u2028\u2029]/.test(s) && [...s].length <= 998;
        expect(V.validateSubject(s).valid).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('a line break injected anywhere in a subject, filename or header value is refused', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), lineBreak, fc.nat(), (s, br, n) => {
        const i = n % (s.length + 1);
        const bad = s.slice(0, i) + br + s.slice(i);
        expect(V.validateSubject(bad).valid).toBe(false);
        expect(V.validateAttachments([{ filename: `f${bad}`, data: 'aGk=' }]).valid).toBe(false);
        const msg: MessageInput = { toAddresses: ['a@example.com'], subject: 's', customHeaders: { 'X-Test': bad } };
        expect(V.validateMessage(msg).error).toMatch(/CR, LF or NUL/);
      }),
      { numRuns: 300 },
    );
  });

  it('a custom header name is valid exactly when it is printable ASCII without ":" and not a field the builder writes', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 12 }), fc.constantFrom('to', 'Subject', 'X-Tag')),
        (name) => {
          const expected = /^[\x21-\x39\x3b-\x7e]+$/.test(name) && !RESERVED_FIELDS.has(name.toLowerCase());
          const msg: MessageInput = { toAddresses: ['a@example.com'], subject: 's', customHeaders: { [name]: 'v' } };
          expect(V.validateMessage(msg).valid).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('base64 data is accepted exactly when it decodes, and its size is the decoded size', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, stripPadding) => {
        let data = Buffer.from(bytes).toString('base64');
        if (stripPadding) data = data.replace(/=+$/, '');
        const limit = Math.max(bytes.length, 1);
        expect(V.validateAttachments([{ filename: 'a', data }], { maxAttachmentSize: limit }).valid).toBe(true);
        if (bytes.length >= 2) {
          const r = V.validateAttachments([{ filename: 'a', data }], { maxAttachmentSize: bytes.length - 1 });
          expect(r.error).toContain(`is ${bytes.length} bytes`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('validateMessage never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (input, limits) => {
        let r: unknown;
        expect(() => {
          r = V.validateMessage(input as MessageInput, limits as never);
        }).not.toThrow();
        expect(r).toMatchObject({
          valid: expect.any(Boolean),
          error: expect.toSatisfy((e: unknown) => e === null || typeof e === 'string'),
        });
        const { valid, code } = r as { valid: boolean; code?: string };
        expect(valid ? code === undefined : typeof code === 'string' && code.startsWith('ERR_SMTP_')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
