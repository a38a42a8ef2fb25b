import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidArgumentError } from '../../src/errors.js';
import type { AttachmentInput, MessageInput } from '../../src/message/types.js';
import {
  DEFAULT_VALIDATION_LIMITS,
  MB,
  resolveLimits,
  SmtpMessageValidator as V,
} from '../../src/message/validator.js';

const OK = { valid: true, error: null };

describe('limits', () => {
  it('defaults are the reference values, MB = 1024 * 1024, and frozen', () => {
    expect(DEFAULT_VALIDATION_LIMITS).toEqual({
      maxAddressLength: 254,
      maxLocalPartLength: 64,
      maxLabelLength: 63,
      maxSubjectLength: 998,
      maxBodySize: 100 * 1024 * 1024,
      maxAttachmentSize: 25 * 1024 * 1024,
      maxTotalAttachmentSize: 100 * 1024 * 1024,
      maxRecipients: 100,
      requireTld: true,
    });
    expect(MB).toBe(1_048_576);
    expect(Object.isFrozen(DEFAULT_VALIDATION_LIMITS)).toBe(true);
  });

  it('resolveLimits fills in defaults and returns a frozen object', () => {
    const l = resolveLimits({ maxRecipients: 5, requireTld: false, maxBodySize: undefined });
    expect(l).toEqual({ ...DEFAULT_VALIDATION_LIMITS, maxRecipients: 5, requireTld: false });
    expect(Object.isFrozen(l)).toBe(true);
    expect(resolveLimits()).toBe(DEFAULT_VALIDATION_LIMITS);
    expect(resolveLimits({})).toEqual(DEFAULT_VALIDATION_LIMITS);
  });

  it.each([
    [{ maxRecipients: 0 }, 'limits.maxRecipients'],
    [{ maxRecipients: -1 }, 'limits.maxRecipients'],
    [{ maxSubjectLength: 1.5 }, 'limits.maxSubjectLength'],
    [{ maxBodySize: Number.POSITIVE_INFINITY }, 'limits.maxBodySize'],
    [{ maxAttachmentSize: '25' }, 'limits.maxAttachmentSize'],
    [{ requireTld: 'yes' }, 'limits.requireTld'],
    [{ maxRecipent: 3 }, 'limits.maxRecipent'],
    [[], 'limits'],
    ['x', 'limits'],
  ])('resolveLimits(%j) throws naming %s', (partial, field) => {
    let caught: unknown;
    try {
      resolveLimits(partial as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    expect((caught as InvalidArgumentError).field).toBe(field);
    expect((caught as InvalidArgumentError).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect((caught as InvalidArgumentError).message).toContain(field);
  });

  it('an invalid limit makes a validator method return invalid, not throw', () => {
    const r = V.validateSubject('hi', { maxSubjectLength: -3 });
    expect(r.valid).toBe(false);
    expect(r.error).toContain('limits.maxSubjectLength');
  });
});

describe('validateEmailAddress', () => {
  it.each(['user@example.com', 'test.user@example.co.uk', 'user+tag@sub.example.com'])(
    'reference valid: %s',
    (email) => {
      expect(V.validateEmailAddress(email)).toEqual(OK);
    },
  );

  it.each([
    ['user@example', /no top-level domain/],
    ['@example.com', /missing local part/],
    ['user@@example.com', /second "@"/],
  ])('reference invalid: %s', (email, reason) => {
    const r = V.validateEmailAddress(email);
    expect(r.valid).toBe(false);
    expect(r.error).toContain(JSON.stringify(email));
    expect(r.error).toMatch(reason);
  });

  it.each([
    '"Doe, John" <a@b.example>',
    'John Doe <john@example.com>',
    '=?UTF-8?Q?Zo=C3=AB?= <zoe@example.com>',
    '"john doe"@example.com',
    'user@[192.0.2.1]',
    'user@[IPv6:2001:db8::1]',
    'zoë@example.com',
    'user@bücher.example',
    'user@example.com (comment)',
  ])('RFC 5322 forms validate: %s', (email) => {
    expect(V.validateEmailAddress(email)).toEqual(OK);
  });

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['John Doe', /expected "@"/],
    ['a@b.example, c@d.example', /list/],
    ['Team: a@b.example;', /group/],
    ['user@example.com\r\nBcc: evil@x.example', /CR, LF or NUL/],
    ['"Evil\nName" <a@b.example>', /CR, LF or NUL/],
    ['=?UTF-8?Q?a=0D=0ABcc=3A_x?= <a@b.example>', /CR, LF or NUL/],
    ['user@1.2.3.4', /all digits/],
    ['user@[999.1.1.1]', /IPv4/],
    [`${'a'.repeat(65)}@example.com`, /local part is 65 octets, over the limit of 64/],
    [`u@${'a'.repeat(64)}.com`, /over the limit of 63/],
  ])('invalid: %j', (email, reason) => {
    const r = V.validateEmailAddress(email);
    expect(r.valid).toBe(false);
    expect(r.error).toMatch(reason);
  });

  it('shows CR/LF escaped in the message, never raw', () => {
    const r = V.validateEmailAddress('a@b.example\r\nX: y');
    expect(r.error).not.toMatch(/[\r\n]/);
    expect(r.error).toContain('\\r\\n');
  });

  it('honours requireTld: false and custom lengths', () => {
    expect(V.validateEmailAddress('user@intranet', { requireTld: false })).toEqual(OK);
    expect(V.validateEmailAddress('abcdef@example.com', { maxLocalPartLength: 5 }).error).toMatch(
      /over the limit of 5/,
    );
    expect(V.validateEmailAddress('a@example.com', { maxAddressLength: 10 }).error).toMatch(/over the limit of 10/);
  });

  it('non-strings are invalid, not a crash', () => {
    for (const v of [undefined, null, 42, {}, ['a@b.example']]) {
      const r = V.validateEmailAddress(v as unknown as string);
      expect(r.valid).toBe(false);
      expect(r.error).toMatch(/must be a string/);
    }
  });
});

describe('validateRecipients', () => {
  const many = (n: number): string[] => Array.from({ length: n }, (_, i) => `user${i}@example.com`);

  it('accepts To, Cc and Bcc together, and Bcc alone', () => {
    expect(V.validateRecipients(['a@x.example'], ['"B, C" <b@x.example>'], ['c@x.example'])).toEqual(OK);
    expect(V.validateRecipients([], undefined, ['c@x.example'])).toEqual(OK);
  });

  it('needs at least one recipient', () => {
    expect(V.validateRecipients([]).error).toMatch(/at least one recipient/);
    expect(V.validateRecipients([], [], null).valid).toBe(false);
  });

  it('counts To + Cc + Bcc against maxRecipients (100 by default)', () => {
    expect(V.validateRecipients(many(100))).toEqual(OK);
    expect(V.validateRecipients(many(50), many(30), many(20))).toEqual(OK);
    const r = V.validateRecipients(many(50), many(30), many(21));
    expect(r.valid).toBe(false);
    expect(r.error).toMatch(/101/);
    expect(r.error).toMatch(/100/);
    expect(r.error).toContain('limits.maxRecipients');
    expect(V.validateRecipients(many(3), [], [], { maxRecipients: 2 }).valid).toBe(false);
  });

  it('names the failing entry', () => {
    const r = V.validateRecipients(['a@x.example'], ['b@x.example', 'bad@@x.example']);
    expect(r.valid).toBe(false);
    expect(r.error).toMatch(/^ccAddresses\[1\]: /);
    expect(r.error).toContain('"bad@@x.example"');
    expect(V.validateRecipients(['x@intranet']).error).toMatch(/^toAddresses\[0\]/);
    expect(V.validateRecipients(['x@intranet'], [], [], { requireTld: false })).toEqual(OK);
  });

  it('refuses non-arrays', () => {
    expect(V.validateRecipients('a@x.example' as unknown as string[]).error).toMatch(/toAddresses must be an array/);
    expect(V.validateRecipients(['a@x.example'], 'b@x.example' as unknown as string[]).error).toMatch(
      /ccAddresses must be an array/,
    );
  });
});

describe('validateSubject', () => {
  it('accepts ordinary, empty, Unicode and exactly-998-character subjects', () => {
    for (const s of ['Hello', '', 'Zoë 😀 你好', 'x'.repeat(998), '😀'.repeat(998)])
      expect(V.validateSubject(s)).toEqual(OK);
  });

  it('refuses more than 998 characters, naming length and limit', () => {
    const r = V.validateSubject('x'.repeat(999));
    expect(r.valid).toBe(false);
    expect(r.error).toMatch(/999 characters, over the limit of 998/);
    expect(V.validateSubject('abcdef', { maxSubjectLength: 5 }).valid).toBe(false);
  });

  it.each(['Hi\r\nBcc: evil@x.example', 'a\rb', 'a\nb', 'a\0b'])('refuses CR, LF or NUL: %j', (s) => {
    const r = V.validateSubject(s);
    expect(r.valid).toBe(false);
    expect(r.error).toMatch(/subject must not contain CR, LF or NUL.* \(found (CR|LF|NUL) at index \d+\)/);
  });

  it.each(['a\vb', 'a\fb', 'a\u0085b', 'a\u2028b', 'a\u2029b'])('refuses the other line breaks too: %j', (s) => {
    const r = V.validateSubject(s);
    expect(r.valid).toBe(false);
    expect(r.error).toMatch(
      /\(found (VT|FF|NEL \(U\+0085\)|LINE SEPARATOR \(U\+2028\)|PARAGRAPH SEPARATOR \(U\+2029\)) at index 1\)/,
    );
  });

  it('refuses a non-string', () => {
    expect(V.validateSubject(undefined as unknown as string).error).toMatch(/subject must be a string/);
  });
});

describe('validateBody', () => {
  it('accepts either, both or neither body', () => {
    expect(V.validateBody('text')).toEqual(OK);
    expect(V.validateBody(undefined, '<p>html</p>')).toEqual(OK);
    expect(V.validateBody('t', '<p>h</p>')).toEqual(OK);
    expect(V.validateBody()).toEqual(OK);
    expect(V.validateBody('line one\r\nline two\n')).toEqual(OK);
  });

  it('checks each body in UTF-8 bytes against maxBodySize', () => {
    expect(V.validateBody('x'.repeat(10), undefined, { maxBodySize: 10 })).toEqual(OK);
    const r = V.validateBody('x'.repeat(11), undefined, { maxBodySize: 10 });
    expect(r.error).toBe('textBody is 11 bytes, over the limit of 10 bytes (limits.maxBodySize)');
    // 4 characters of 2 bytes each: 8 bytes.
    expect(V.validateBody(undefined, 'éééé', { maxBodySize: 7 }).error).toMatch(/^htmlBody is 8 bytes/);
    expect(V.validateBody('ok', 'éééé', { maxBodySize: 8 })).toEqual(OK);
  });

  it('reports MB sizes for big bodies', () => {
    const r = V.validateBody('x'.repeat(MB + 1), undefined, { maxBodySize: MB });
    expect(r.error).toBe(
      `textBody is 1.0 MB (${MB + 1} bytes), over the limit of 1 MB (${MB} bytes) (limits.maxBodySize)`,
    );
  });

  it('refuses non-string bodies', () => {
    expect(V.validateBody(42 as unknown as string).error).toMatch(/textBody must be a string/);
  });
});

describe('validateAttachments', () => {
  let dir: string;
  let small: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'smtpwire-validator-'));
    small = join(dir, 'small.txt');
    writeFileSync(small, 'hello world');
    mkdirSync(join(dir, 'sub'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts each source kind', () => {
    const atts: AttachmentInput[] = [
      { filename: 'a.txt', data: Buffer.from('hello').toString('base64') },
      { filename: 'b.bin', content: Buffer.from([1, 2, 3]), contentType: 'application/octet-stream' },
      { filename: 'c.txt', content: 'text', contentType: 'text/plain; charset=utf-8' },
      { filename: 'd.bin', content: new Uint8Array(4) },
      { filename: 'e.txt', path: small },
      { filename: 'f.png', content: Readable.from([Buffer.from('x')]), cid: 'logo@example.com' },
      { filename: 'wrapped.txt', data: 'aGVs\r\nbG8g\r\nd29y\r\nbGQ=' },
      { filename: 'unpadded.txt', data: 'aGk' },
    ];
    expect(V.validateAttachments(atts)).toEqual(OK);
    expect(V.validateAttachments([])).toEqual(OK);
    expect(V.validateAttachments(undefined)).toEqual(OK);
  });

  it.each([
    [{ filename: 'x' }, /exactly one of data, content or path \(none given\)/],
    [{ filename: 'x', data: 'aGk=', content: 'hi' }, /found data and content/],
    [{ filename: 'x', content: 'hi', path: '/tmp/x' }, /found content and path/],
    [{ data: 'aGk=' }, /filename must be a string/],
    [{ filename: 'evil\r\nContent-Type: text/html', data: 'aGk=' }, /filename must not contain CR, LF or NUL/],
    [{ filename: 'nul\0.txt', data: 'aGk=' }, /filename must not contain CR, LF or NUL/],
    [{ filename: 'x', data: 'not base64!' }, /not valid base64/],
    [{ filename: 'x', data: 'aGk=aGk=' }, /not valid base64/],
    [{ filename: 'x', data: 'a' }, /not valid base64/],
    [{ filename: 'x', data: 'aGk==' }, /not valid base64/],
    [{ filename: 'x', data: 'aGk-' }, /not valid base64/],
    [{ filename: 'x', data: 42 }, /data must be a base64 string/],
    [{ filename: 'x', content: 42 }, /content must be a Buffer/],
    [{ filename: 'x', content: {} }, /content must be a Buffer/],
    [{ filename: 'x', path: '' }, /path must be a non-empty string/],
    [{ filename: 'x', data: 'aGk=', contentType: 'text' }, /contentType "text" is not a MIME type/],
    [{ filename: 'x', data: 'aGk=', contentType: 'text/plain\r\nX-Evil: 1' }, /contentType/],
    [{ filename: 'x', data: 'aGk=', cid: 'a b' }, /cid/],
  ])('invalid: %j', (att, reason) => {
    const r = V.validateAttachments([att as unknown as AttachmentInput]);
    expect(r.valid).toBe(false);
    expect(r.error).toMatch(/^attachments\[0\]/);
    expect(r.error).toMatch(reason);
  });

  it('a missing file or a directory at `path` is invalid', () => {
    const missing = join(dir, 'nope.pdf');
    expect(V.validateAttachments([{ filename: 'n.pdf', path: missing }]).error).toBe(
      `attachments[0]: file not found: ${JSON.stringify(missing)}`,
    );
    expect(V.validateAttachments([{ filename: 'd', path: join(dir, 'sub') }]).error).toMatch(/is not a regular file/);
  });

  it('checks decoded sizes against maxAttachmentSize', () => {
    // 12 base64 characters, one "=": 8 bytes.
    const data = Buffer.alloc(8).toString('base64');
    expect(V.validateAttachments([{ filename: 'a', data }], { maxAttachmentSize: 8 })).toEqual(OK);
    expect(V.validateAttachments([{ filename: 'a', data }], { maxAttachmentSize: 7 }).error).toBe(
      'attachments[0] ("a") is 8 bytes, over the limit of 7 bytes (limits.maxAttachmentSize)',
    );
    expect(V.validateAttachments([{ filename: 'f', path: small }], { maxAttachmentSize: 10 }).error).toMatch(
      /is 11 bytes/,
    );
    expect(V.validateAttachments([{ filename: 's', content: 'ééé' }], { maxAttachmentSize: 5 }).error).toMatch(
      /is 6 bytes/,
    );
  });

  it('sums known sizes against maxTotalAttachmentSize; a stream is not counted', () => {
    const atts: AttachmentInput[] = [
      { filename: 'a', content: Buffer.alloc(6) },
      { filename: 'b', content: Buffer.alloc(6) },
      { filename: 'c', content: Readable.from([Buffer.alloc(100)]) },
    ];
    expect(V.validateAttachments(atts, { maxTotalAttachmentSize: 12 })).toEqual(OK);
    expect(V.validateAttachments(atts, { maxTotalAttachmentSize: 11 }).error).toBe(
      'attachments total 12 bytes, over the limit of 11 bytes (limits.maxTotalAttachmentSize)',
    );
  });

  it('the default single-attachment limit is 25 MB, stated in MB', () => {
    const r = V.validateAttachments([{ filename: 'big.bin', content: Buffer.alloc(25 * MB + 1) }]);
    expect(r.error).toBe(
      `attachments[0] ("big.bin") is 25.0 MB (${25 * MB + 1} bytes), over the limit of 25 MB (${25 * MB} bytes) (limits.maxAttachmentSize)`,
    );
    expect(V.validateAttachments([{ filename: 'ok.bin', content: Buffer.alloc(25 * MB) }])).toEqual(OK);
  });

  it('refuses a non-array or non-object entries', () => {
    expect(V.validateAttachments('x' as unknown as AttachmentInput[]).error).toMatch(/attachments must be an array/);
    expect(V.validateAttachments([null as unknown as AttachmentInput]).error).toMatch(
      /attachments\[0\]: must be an object/,
    );
  });
});

describe('validateMessage', () => {
  const base: MessageInput = { toAddresses: ['to@example.com'], subject: 'Hello', textBody: 'Hi' };

  it('accepts a complete message', () => {
    expect(
      V.validateMessage({
        ...base,
        fromAddress: '"Sender, The" <from@example.com>',
        ccAddresses: ['cc@example.com'],
        bccAddresses: ['bcc@example.com'],
        replyTo: 'Replies <reply@example.com>',
        htmlBody: '<p>Hi</p>',
        attachments: [{ filename: 'a.txt', data: 'aGk=' }],
        customHeaders: { 'X-Campaign': 'spring', 'List-Unsubscribe': '<mailto:u@example.com>' },
      }),
    ).toEqual(OK);
  });

  it.each([
    [{ fromAddress: 'nobody' }, /^fromAddress: /],
    [{ fromAddress: 'a@b.example\r\nBcc: x@y.example' }, /^fromAddress: .*CR, LF or NUL/],
    [{ toAddresses: [] }, /at least one recipient/],
    [{ toAddresses: ['ok@example.com', 'user@example'] }, /^toAddresses\[1\]: .*no top-level domain/],
    [{ replyTo: 'bad@' }, /^replyTo: /],
    [{ subject: 'Hi\r\nBcc: evil@example.com' }, /subject must not contain CR, LF or NUL/],
    [{ subject: 'x'.repeat(999) }, /over the limit of 998/],
    [{ textBody: 7 }, /textBody must be a string/],
    [{ attachments: [{ filename: 'a\nb', data: 'aGk=' }] }, /filename must not contain/],
    [{ customHeaders: { 'X Bad': 'v' } }, /"X Bad" is not a valid header name/],
    [{ customHeaders: { 'X-Bad:': 'v' } }, /not a valid header name/],
    [{ customHeaders: { 'X-Ünicode': 'v' } }, /not a valid header name/],
    [{ customHeaders: { '': 'v' } }, /not a valid header name/],
    [
      { customHeaders: { 'X-Inject': 'v\r\nBcc: evil@example.com' } },
      /customHeaders\["X-Inject"\] must not contain CR, LF or NUL/,
    ],
    [{ customHeaders: { 'X-Num': 5 } }, /customHeaders\["X-Num"\] must be a string/],
    [{ customHeaders: 'X-A: b' }, /customHeaders must be an object/],
  ])('invalid: %j', (patch, reason) => {
    const r = V.validateMessage({ ...base, ...(patch as object) } as MessageInput);
    expect(r.valid).toBe(false);
    expect(r.error).toMatch(reason);
  });

  it('passes limits through to every check', () => {
    const limits = { requireTld: false, maxSubjectLength: 3 };
    expect(V.validateMessage({ ...base, toAddresses: ['x@intranet'], subject: 'abc' }, limits)).toEqual(OK);
    expect(V.validateMessage({ ...base, toAddresses: ['x@intranet'], subject: 'abcd' }, limits).error).toMatch(
      /limit of 3/,
    );
    expect(V.validateMessage(base, { maxRecipients: 0 }).error).toMatch(/limits\.maxRecipients/);
  });

  it('never throws, even on hostile input', () => {
    const hostile = {
      get toAddresses(): string[] {
        throw new Error('boom');
      },
      subject: 'x',
    };
    expect(V.validateMessage(hostile as unknown as MessageInput)).toMatchObject({ valid: false, error: 'boom' });
    expect(V.validateMessage(null as unknown as MessageInput).error).toMatch(/message must be an object/);
    expect(V.validateMessage(undefined as unknown as MessageInput).valid).toBe(false);
  });

  it('returns a fresh result object each time', () => {
    const a = V.validateSubject('a');
    a.valid = false;
    expect(V.validateSubject('a').valid).toBe(true);
  });
});
