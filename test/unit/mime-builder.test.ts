/** buildMessage: structure, encodings, envelope, sizes, sources and refusals. */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidArgumentError, SmtpError } from '../../src/errors.js';
import { type BuildMessageOptions, buildMessage, decodeWords } from '../../src/message/mime/index.js';

const base: BuildMessageOptions = {
  fromAddress: 'Sender <sender@example.com>',
  toAddresses: ['rcpt@example.org'],
  subject: 'Hello',
  deterministic: true,
};

function build(extra: Partial<BuildMessageOptions>) {
  return buildMessage({ ...base, ...extra });
}

async function raw(extra: Partial<BuildMessageOptions>): Promise<string> {
  return (await build(extra).toBuffer()).toString('utf8');
}

/** The Content-Type values in document order. */
function contentTypes(message: string): string[] {
  const unfolded = message.replace(/\r\n(?=[ \t])/g, '');
  return [...unfolded.matchAll(/^Content-Type: ([^;\r\n]+)/gim)].map((m) => m[1]!.toLowerCase());
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'smtpwire-mime-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('structure', () => {
  it('text alone is a single text/plain part', async () => {
    const m = await raw({ textBody: 'hi' });
    expect(contentTypes(m)).toEqual(['text/plain']);
    expect(m).toContain('Content-Transfer-Encoding: 7bit');
    expect(m).not.toContain('boundary=');
  });

  it('text + HTML is multipart/alternative, text first', async () => {
    expect(contentTypes(await raw({ textBody: 'hi', htmlBody: '<p>hi</p>' }))).toEqual([
      'multipart/alternative',
      'text/plain',
      'text/html',
    ]);
  });

  it('inline images with HTML are multipart/related; attachments wrap everything in multipart/mixed', async () => {
    const m = await raw({
      textBody: 'hi',
      htmlBody: '<img src="cid:logo@x">',
      attachments: [
        { filename: 'logo.png', content: Buffer.from([1, 2]), cid: 'logo@x' },
        { filename: 'report.pdf', content: Buffer.from('pdf') },
      ],
    });
    expect(contentTypes(m)).toEqual([
      'multipart/mixed',
      'multipart/related',
      'multipart/alternative',
      'text/plain',
      'text/html',
      'image/png',
      'application/pdf',
    ]);
    expect(m).toContain('Content-ID: <logo@x>');
    expect(m).toContain('Content-Disposition: inline; filename=logo.png');
    expect(m).toContain('Content-Disposition: attachment; filename=report.pdf');
    const parsed = await simpleParser(Buffer.from(m));
    expect(parsed.attachments.map((a) => [a.filename, a.cid ?? null, a.related ?? false])).toEqual([
      ['logo.png', 'logo@x', true],
      ['report.pdf', null, false],
    ]);
  });

  it('a lone attachment stays inside multipart/mixed; no body at all gives an empty text part', async () => {
    expect(contentTypes(await raw({ attachments: [{ filename: 'a.txt', content: 'x' }] }))).toEqual([
      'multipart/mixed',
      'text/plain',
    ]);
    expect(contentTypes(await raw({}))).toEqual(['text/plain']);
  });

  it('guesses content types from the extension, or uses the one given', async () => {
    const m = await raw({
      attachments: [
        { filename: 'A.JPG', content: 'x' },
        { filename: 'noext', content: 'x' },
        { filename: 'x.bin', content: 'x', contentType: 'text/csv; charset=utf-8' },
      ],
    });
    expect(contentTypes(m)).toEqual(['multipart/mixed', 'image/jpeg', 'application/octet-stream', 'text/csv']);
    expect(m).toContain('Content-Type: text/csv; charset=utf-8; name=x.bin');
  });
});

describe('transfer encodings', () => {
  const cte = (m: string): string[] => [...m.matchAll(/^Content-Transfer-Encoding: (.*)$/gm)].map((x) => x[1]!.trim());

  it('7bit for short ASCII lines, quoted-printable for mostly ASCII, base64 for the rest', async () => {
    expect(cte(await raw({ textBody: 'plain ascii\nlines' }))).toEqual(['7bit']);
    expect(cte(await raw({ textBody: 'x'.repeat(100) }))).toEqual(['quoted-printable']);
    expect(cte(await raw({ textBody: 'Grüße aus Köln, bis morgen am Bahnhof' }))).toEqual(['quoted-printable']);
    // Short text with many non-ASCII bytes: base64 is shorter.
    expect(cte(await raw({ textBody: 'Grüße' }))).toEqual(['base64']);
    expect(cte(await raw({ textBody: 'ありがとうございます' }))).toEqual(['base64']);
  });

  it('8bit only when allowed, and reports it', async () => {
    const denied = build({ textBody: 'Grüße' });
    expect(denied.has8bit).toBe(false);
    const allowed = build({ textBody: 'Grüße', allow8bit: true });
    expect(allowed.has8bit).toBe(true);
    const m = (await allowed.toBuffer()).toString('utf8');
    expect(cte(m)).toEqual(['8bit']);
    expect(m).toContain('Grüße');
    // A line over 998 octets cannot be 8bit even when allowed.
    expect(cte(await raw({ textBody: `ü${'a'.repeat(1200)}`, allow8bit: true }))).toEqual(['quoted-printable']);
  });

  it('normalises CR, LF and CRLF mixtures to CRLF', async () => {
    const m = await raw({ textBody: 'a\rb\nc\r\nd\n\re' });
    expect(m.endsWith('a\r\nb\r\nc\r\nd\r\n\r\ne\r\n')).toBe(true);
  });

  it('never lets a boundary occur in the content, even in deterministic mode', async () => {
    const first = await raw({ textBody: 'x', htmlBody: 'y' });
    const boundary = /boundary="([^"]+)"/.exec(first)![1]!;
    const m = await raw({ textBody: `--${boundary}\n`, htmlBody: 'y' });
    const used = /boundary="([^"]+)"/.exec(m)![1]!;
    expect(used).not.toBe(boundary);
    expect(m.split(used).length - 1).toBe(4); // declaration + 2 delimiters + close
  });
});

describe('headers', () => {
  it('writes the standard fields and never Bcc', async () => {
    const m = await raw({
      toAddresses: ['"Doe, John" <john@example.org>', 'b@example.org'],
      ccAddresses: ['c@example.org'],
      bccAddresses: ['hidden@example.org'],
      replyTo: 'replies@example.com',
      messageId: '<id.1@example.com>',
      date: new Date(Date.UTC(2025, 4, 6, 7, 8, 9)),
      customHeaders: { 'X-Mailer': 'smtpwire', 'List-ID': '<list.example.com>' },
    });
    const head = m.split('\r\n\r\n')[0]!;
    expect(head).toContain('From: Sender <sender@example.com>\r\n');
    expect(head).toContain('To: "Doe, John" <john@example.org>, b@example.org\r\n');
    expect(head).toContain('Cc: c@example.org\r\n');
    expect(head).toContain('Reply-To: replies@example.com\r\n');
    expect(head).toContain('Date: Tue, 06 May 2025 07:08:09 +0000\r\n');
    expect(head).toContain('Message-ID: <id.1@example.com>\r\n');
    expect(head).toContain('X-Mailer: smtpwire\r\nList-ID: <list.example.com>\r\n');
    expect(head).toContain('MIME-Version: 1.0\r\n');
    expect(m.toLowerCase()).not.toContain('bcc');
    expect(m).not.toContain('hidden@');
  });

  it('encodes non-ASCII subjects, names and custom values; headers stay ASCII', async () => {
    const built = build({
      fromAddress: 'Zoë Ünïcödé <zoe@exämple.com>',
      subject: 'Grüße — a subject long enough to need folding across more than one line, surely',
      customHeaders: { 'X-Note': 'naïve' },
    });
    expect(built.headers).toMatch(/^[\x20-\x7e\r\n\t]*$/);
    for (const line of built.headers.split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
    expect(built.headers).toContain('@xn--exmple-cua.com>');
    const parsed = await simpleParser(await built.toBuffer());
    expect(parsed.subject).toBe('Grüße — a subject long enough to need folding across more than one line, surely');
    expect(parsed.from?.value[0]?.name).toBe('Zoë Ünïcödé');
    // mailparser leaves unknown fields encoded.
    expect(decodeWords(String(parsed.headers.get('x-note')))).toBe('naïve');
  });

  it('generates a Message-ID at the sender domain, unique per message', () => {
    const a = buildMessage({ ...base, deterministic: false });
    const b = buildMessage({ ...base, deterministic: false });
    expect(a.messageId).toMatch(/^<[0-9a-f]{32}@example\.com>$/);
    expect(a.messageId).not.toBe(b.messageId);
    expect(a.headers).toContain(`Message-ID: ${a.messageId}\r\n`);
  });

  it('deterministic mode is reproducible and depends on the seed', async () => {
    const one = await raw({ textBody: 'a', htmlBody: 'b' });
    const two = await raw({ textBody: 'a', htmlBody: 'b' });
    const other = await raw({ textBody: 'a', htmlBody: 'b', deterministic: { seed: 'other' } });
    expect(one).toBe(two);
    expect(other).not.toBe(one);
  });
});

describe('envelope and flags', () => {
  it('collects To + Cc + Bcc, deduplicated case-insensitively, addresses only', () => {
    const m = build({
      toAddresses: ['A <a@example.org>', 'b@example.org'],
      ccAddresses: ['A@EXAMPLE.ORG', 'Team: c@example.org, d@example.org;'],
      bccAddresses: ['b@example.org', 'e@exämple.org'],
    });
    expect(m.envelope).toEqual({
      from: 'sender@example.com',
      to: ['a@example.org', 'b@example.org', 'c@example.org', 'd@example.org', 'e@xn--exmple-cua.org'],
    });
    expect(m.needsSmtpUtf8).toBe(false);
  });

  it('flags SMTPUTF8 for a non-ASCII local part, written raw in the header', () => {
    const m = build({ toAddresses: ['José <josé@example.org>'] });
    expect(m.needsSmtpUtf8).toBe(true);
    expect(m.has8bit).toBe(true);
    expect(m.headers).toContain('<josé@example.org>');
    expect(m.envelope.to).toEqual(['josé@example.org']);
  });
});

describe('sizes and sources', () => {
  it('size is exact for in-memory content and files, null for streams', async () => {
    const file = join(dir, 'sized.bin');
    writeFileSync(file, Buffer.alloc(1000, 7));
    const withFile = build({
      textBody: 'ü x'.repeat(50),
      htmlBody: '<p>y</p>',
      attachments: [
        { filename: 'a.bin', data: Buffer.from('hello').toString('base64') },
        { filename: 'b.bin', content: new Uint8Array([1, 2, 3]) },
        { filename: 'empty.bin', content: Buffer.alloc(0) },
        { filename: 'c.bin', path: file },
      ],
    });
    expect((await withFile.toBuffer()).length).toBe(withFile.size);
    const streamed = build({ attachments: [{ filename: 's.bin', content: Readable.from([Buffer.from('abc')]) }] });
    expect(streamed.size).toBeNull();
  });

  it('streams a file attachment byte for byte, and can stream again', async () => {
    const file = join(dir, 'data.bin');
    const bytes = Buffer.alloc(300_001);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
    writeFileSync(file, bytes);
    const m = build({ attachments: [{ filename: 'data.bin', path: file }] });
    expect(m.replayable).toBe(true);
    const first = await m.toBuffer();
    const second = await m.toBuffer();
    expect(first.equals(second)).toBe(true);
    const parsed = await simpleParser(first);
    expect(parsed.attachments[0]!.content.equals(bytes)).toBe(true);
  });

  it('a Readable attachment is encoded in chunks, and the message streams only once', async () => {
    const source = new PassThrough();
    const m = build({ attachments: [{ filename: 'live.bin', content: source }] });
    expect(m.replayable).toBe(false);
    const pieces = [
      Buffer.from([1]),
      Buffer.alloc(100, 2),
      Buffer.alloc(57, 3),
      Buffer.alloc(0),
      Buffer.alloc(1000, 4),
    ];
    for (const p of pieces) source.write(p);
    source.end();
    const parsed = await simpleParser(await m.toBuffer());
    expect(parsed.attachments[0]!.content.equals(Buffer.concat(pieces))).toBe(true);
    try {
      m.stream();
      throw new Error('expected a second stream() to throw');
    } catch (err) {
      expect(err).toBeInstanceOf(SmtpError);
      expect((err as SmtpError).code).toBe(ErrorCodes.BODY_SOURCE);
    }
  });

  it('a Readable gives the same bytes as the same content in memory, however it is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 10 }), async (chunks) => {
        const buffers = chunks.map((c) => Buffer.from(c));
        const streamed = await build({
          attachments: [{ filename: 'a.bin', content: Readable.from(buffers) }],
        }).toBuffer();
        const inMemory = await build({
          attachments: [{ filename: 'a.bin', content: Buffer.concat(buffers) }],
        }).toBuffer();
        expect(streamed.equals(inMemory)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('a file that changes size after build fails the stream instead of lying about SIZE', async () => {
    const file = join(dir, 'grows.bin');
    writeFileSync(file, Buffer.alloc(10));
    const m = build({ attachments: [{ filename: 'grows.bin', path: file }] });
    writeFileSync(file, Buffer.alloc(20));
    await expect(m.toBuffer()).rejects.toMatchObject({ code: ErrorCodes.BODY_SOURCE });
  });

  it('writes a non-ASCII filename as RFC 2231 only (no lossy fallback), and name= as RFC 2047', async () => {
    const m = await raw({ attachments: [{ filename: 'Résumé €.pdf', content: 'x' }] });
    const unfolded = m.replace(/\r\n /g, ' ');
    expect(unfolded).toContain(`Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9%20%E2%82%AC.pdf`);
    expect(unfolded).not.toMatch(/filename="/);
    expect(unfolded).toMatch(/Content-Type: application\/pdf; name="=\?UTF-8\?[BQ]\?[^"]+\?="/);
    // Disposition before Content-Type, for readers that take the first name they meet.
    expect(unfolded.indexOf('Content-Disposition: attachment')).toBeLessThan(
      unfolded.indexOf('Content-Type: application/pdf'),
    );
    const parsed = await simpleParser(Buffer.from(m));
    expect(parsed.attachments[0]!.filename).toBe('Résumé €.pdf');
  });
});

describe('refusals', () => {
  const injections: Array<[string, Partial<BuildMessageOptions>]> = [
    ['subject', { subject: 'Hi\r\nBcc: victim@example.org' }],
    ['subject LF', { subject: 'Hi\nX: y' }],
    ['subject NUL', { subject: 'Hi\0' }],
    ['custom value', { customHeaders: { 'X-A': 'v\r\nBcc: x@example.org' } }],
    ['custom name', { customHeaders: { 'X-A\r\nBcc': 'v' } }],
    ['filename', { attachments: [{ filename: 'a\r\nContent-Type: text/html', content: 'x' }] }],
    ['cid', { attachments: [{ filename: 'a.png', content: 'x', cid: 'a\nb' }] }],
    ['contentType', { attachments: [{ filename: 'a', content: 'x', contentType: 'text/plain\r\nX: y' }] }],
    ['messageId', { messageId: '<a@b>\r\nX: y' }],
  ];
  for (const [what, extra] of injections) {
    it(`refuses CR/LF/NUL in ${what}`, () => expectCode(() => build(extra), ErrorCodes.HEADER_INJECTION));
  }

  it('refuses CR/LF in addresses and display names', () => {
    for (const extra of [
      { toAddresses: ['a@example.org\r\nBcc: x@example.org'] },
      { fromAddress: '"Evil\r\nBcc: x@example.org" <a@example.com>' },
      { replyTo: 'r@example.com\nX: y' },
    ]) {
      expect(() => build(extra)).toThrow(InvalidArgumentError);
    }
  });

  it('refuses bad header names and builder-owned fields', () => {
    for (const name of ['', 'Bad Name', 'Bad:Name', 'Naïve', 'Bcc', 'content-type', 'From', 'Message-ID']) {
      expectCode(() => build({ customHeaders: { [name]: 'v' } }), ErrorCodes.INVALID_HEADER);
    }
    expectCode(() => build({ customHeaders: { 'X-Long': 'y'.repeat(1200) } }), ErrorCodes.INVALID_HEADER);
    expectCode(() => build({ messageId: 'no-brackets@example.com' }), ErrorCodes.INVALID_HEADER);
  });

  it('refuses bad attachments', () => {
    const bad: BuildMessageOptions['attachments'][] = [
      [{ filename: 'a' }],
      [{ filename: 'a', data: 'aGk=', content: 'x' }],
      [{ filename: 'a', data: 'not base64!' }],
      [{ filename: 'a', data: 'aGk=a' }],
      [{ filename: 'a', data: 'a=Gk' }],
      [{ filename: 'a', path: join(dir, 'missing.bin') }],
      [{ filename: 'a', path: dir }],
      [{ filename: 'a', content: 42 as unknown as string }],
      [{ filename: 'a', content: 'x', contentType: 'not a type' }],
      [{ filename: 'a', content: 'x', contentType: 'multipart/mixed' }],
      [{ filename: 'a', content: 'x', cid: 'has space' }],
    ];
    for (const attachments of bad) expectCode(() => build({ attachments }), ErrorCodes.INVALID_ATTACHMENT);
  });

  it('refuses bad addresses and a message without recipients', () => {
    expectCode(() => build({ toAddresses: ['not an address'] }), ErrorCodes.INVALID_ADDRESS);
    expectCode(() => build({ fromAddress: '' }), ErrorCodes.INVALID_ADDRESS);
    expectCode(() => build({ toAddresses: [] }), ErrorCodes.INVALID_ADDRESS);
  });
});

describe('in-memory serialisation', () => {
  it('toBufferSync gives the same bytes as the stream for in-memory messages', async () => {
    const { buildMessage } = await import('../../src/message/mime/index.js');
    const msg = buildMessage({
      fromAddress: 'a@example.com',
      toAddresses: ['b@example.com'],
      subject: 'Grüße',
      textBody: 'text',
      htmlBody: '<p>html</p>',
      attachments: [
        { filename: 'a.bin', content: Buffer.from([0, 1, 2, 255]) },
        { filename: 'logo.png', content: Buffer.alloc(100, 7), cid: 'logo' },
      ],
      deterministic: true,
    });
    expect(msg.inMemory).toBe(true);
    const chunks: Buffer[] = [];
    for await (const c of msg.stream()) chunks.push(c as Buffer);
    expect(msg.toBufferSync().equals(Buffer.concat(chunks))).toBe(true);
    expect(msg.toBufferSync().length).toBe(msg.size);
  });

  it('refuses toBufferSync when a part is a file or stream', async () => {
    const { buildMessage } = await import('../../src/message/mime/index.js');
    const { Readable } = await import('node:stream');
    const msg = buildMessage({
      fromAddress: 'a@example.com',
      toAddresses: ['b@example.com'],
      subject: 's',
      attachments: [{ filename: 'x', content: Readable.from([Buffer.from('x')]) }],
    });
    expect(msg.inMemory).toBe(false);
    expect(() => msg.toBufferSync()).toThrow(expect.objectContaining({ code: 'ERR_SMTP_INVALID_STATE' }));
  });
});
