/**
 * Message features users of nodemailer rely on, at the builder: address objects, a Reply-To list,
 * priority, list headers (RFC 2369 / 2919 / 8058), icalEvent, alternatives, attachment disposition,
 * headers and encodings, date, and the one list of message keys. What independent readers and a
 * real server make of them: test/readers/message-features.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidArgumentError } from '../../src/errors.js';
import { addressInputText, parseAddress } from '../../src/message/address.js';
import { type BuildMessageOptions, buildMessage } from '../../src/message/mime/index.js';
import { MESSAGE_INPUT_KEYS, type MessageInput } from '../../src/message/types.js';
import { SmtpMessageValidator } from '../../src/message/validator.js';

const base: BuildMessageOptions = {
  fromAddress: 'Sender <sender@example.com>',
  toAddresses: ['rcpt@example.org'],
  subject: 'Hello',
  textBody: 'Hi',
  deterministic: true,
};

async function raw(extra: Partial<BuildMessageOptions>): Promise<string> {
  return (await buildMessage({ ...base, ...extra }).toBuffer()).toString('utf8');
}

/** The header block, unfolded. */
function head(message: string): string {
  return message.slice(0, message.indexOf('\r\n\r\n') + 2).replace(/\r\n(?=[ \t])/g, '');
}

/** The Content-Type values in document order. */
function contentTypes(message: string): string[] {
  const unfolded = message.replace(/\r\n(?=[ \t])/g, '');
  return [...unfolded.matchAll(/^Content-Type: ([^;\r\n]+)/gim)].map((m) => m[1]!.toLowerCase());
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as InvalidArgumentError).code;
  }
  return undefined;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'smtpwire-features-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('address objects', () => {
  it('are accepted wherever an address is, and read back with the exact name', async () => {
    const m = await raw({
      fromAddress: { name: 'Doe, Jane "JD"', address: 'jane@example.com' },
      toAddresses: [{ name: 'Zoë Ünïcödé', address: 'zoe@example.org' }, 'plain@example.org'],
      ccAddresses: [{ address: 'cc@example.net' }],
      bccAddresses: [{ name: 'Hidden', address: 'bcc@example.net' }],
      replyTo: { name: 'Replies, Team', address: 'replies@example.com' },
    });
    const parsed = await simpleParser(Buffer.from(m));
    expect(parsed.from?.value).toEqual([{ name: 'Doe, Jane "JD"', address: 'jane@example.com' }]);
    expect(parsed.to && !Array.isArray(parsed.to) && parsed.to.value).toEqual([
      { name: 'Zoë Ünïcödé', address: 'zoe@example.org' },
      { name: '', address: 'plain@example.org' },
    ]);
    expect(parsed.replyTo?.value).toEqual([{ name: 'Replies, Team', address: 'replies@example.com' }]);
    expect(head(m)).not.toMatch(/^Bcc:|Hidden/im);
    const built = buildMessage({ ...base, bccAddresses: [{ name: 'Hidden', address: 'bcc@example.net' }] });
    expect(built.envelope.to).toEqual(['rcpt@example.org', 'bcc@example.net']);
  });

  it('become text in one place, which parses back to the same name and address', () => {
    for (const name of ['Doe, John', 'a "q" b', 'Zoë', '=?x?=', '', '  spaced  ']) {
      const text = addressInputText({ name, address: 'a@example.com' });
      expect(parseAddress(text)).toEqual({ name: name === '' ? null : name, address: 'a@example.com' });
    }
    expect(addressInputText('x@example.com')).toBe('x@example.com');
  });

  it('are refused with a typed error when malformed, and CR/LF is an injection', () => {
    expect(codeOf(() => addressInputText({ name: 'x', address: 'Name <a@b.example>' }))).toBe(
      ErrorCodes.INVALID_ADDRESS,
    );
    expect(codeOf(() => addressInputText({ address: 'a@b.example', nmae: 'typo' } as never))).toBe(
      ErrorCodes.INVALID_ARGUMENT,
    );
    expect(codeOf(() => addressInputText(42))).toBe(ErrorCodes.INVALID_ADDRESS);
    expect(codeOf(() => addressInputText({ name: 'x\r\nBcc: v@x.example', address: 'a@b.example' }))).toBe(
      ErrorCodes.HEADER_INJECTION,
    );
    expect(codeOf(() => buildMessage({ ...base, toAddresses: [{ address: 'a@b.example\r\n' }] }))).toBe(
      ErrorCodes.HEADER_INJECTION,
    );
  });

  it('pass the validator, which names a bad one', () => {
    const ok = SmtpMessageValidator.validateMessage({
      ...base,
      fromAddress: { name: 'S', address: 's@example.com' },
      toAddresses: [{ name: 'R, X', address: 'r@example.com' }],
      replyTo: [{ address: 'a@example.com' }, 'b@example.com'],
    });
    expect(ok).toEqual({ valid: true, error: null });
    const bad = SmtpMessageValidator.validateMessage({ ...base, replyTo: ['a@example.com', { address: 'nope' }] });
    expect(bad.valid).toBe(false);
    expect(bad.error).toMatch(/^replyTo\[1\]/);
  });
});

describe('replyTo', () => {
  it('takes one address or a list', async () => {
    expect(head(await raw({ replyTo: 'one@example.com' }))).toMatch(/^Reply-To: one@example\.com\r$/m);
    expect(head(await raw({ replyTo: ['a@example.com', { name: 'B, C', address: 'b@example.com' }] }))).toMatch(
      /^Reply-To: a@example\.com, "B, C" <b@example\.com>\r$/m,
    );
  });
});

describe('priority', () => {
  it.each([
    ['high', '1 (Highest)', 'High'],
    ['normal', '3 (Normal)', 'Normal'],
    ['low', '5 (Lowest)', 'Low'],
  ] as const)('%s writes X-Priority, X-MSMail-Priority and Importance', async (priority, x, word) => {
    const h = head(await raw({ priority }));
    expect(h).toContain(`X-Priority: ${x}\r\n`);
    expect(h).toContain(`X-MSMail-Priority: ${word}\r\n`);
    expect(h).toContain(`Importance: ${word}\r\n`);
    expect((await simpleParser(await buildMessage({ ...base, priority }).toBuffer())).headers.get('priority')).toBe(
      priority,
    );
  });

  it('refuses anything else, and a custom header that would duplicate it', () => {
    expect(codeOf(() => buildMessage({ ...base, priority: 'urgent' as never }))).toBe(ErrorCodes.INVALID_HEADER);
    expect(codeOf(() => buildMessage({ ...base, priority: 'high', customHeaders: { 'x-priority': '2' } }))).toBe(
      ErrorCodes.INVALID_HEADER,
    );
    // Without the option, the custom header is the caller's to write.
    expect(codeOf(() => buildMessage({ ...base, customHeaders: { 'X-Priority': '2' } }))).toBeUndefined();
  });
});

describe('list headers', () => {
  it('writes RFC 8058 one-click unsubscribe next to a mailto, and the other List-* fields', async () => {
    const h = head(
      await raw({
        list: {
          id: { id: 'news.example.com', name: 'Example, News' },
          unsubscribe: {
            url: 'https://example.com/u?id=1&t=x',
            mail: 'unsub@example.com?subject=stop',
            oneClick: true,
          },
          help: 'https://example.com/help',
          subscribe: ['sub@example.com', 'https://example.com/s'],
          post: 'list@example.com',
          owner: 'mailto:owner@example.com',
          archive: 'https://example.com/archive',
        },
      }),
    );
    expect(h).toContain('List-Id: "Example, News" <news.example.com>\r\n');
    expect(h).toContain(
      'List-Unsubscribe: <https://example.com/u?id=1&t=x>, <mailto:unsub@example.com?subject=stop>\r\n',
    );
    expect(h).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n');
    expect(h).toContain('List-Help: <https://example.com/help>\r\n');
    expect(h).toContain('List-Subscribe: <mailto:sub@example.com>, <https://example.com/s>\r\n');
    expect(h).toContain('List-Post: <mailto:list@example.com>\r\n');
    expect(h).toContain('List-Owner: <mailto:owner@example.com>\r\n');
    expect(h).toContain('List-Archive: <https://example.com/archive>\r\n');
  });

  it("also takes nodemailer's { url, comment } targets and id", async () => {
    const h = head(
      await raw({
        list: {
          id: { url: 'news.example.com', comment: 'Shop (news)' },
          unsubscribe: [{ url: 'https://example.com/u', comment: 'one (click)' }, 'u@example.com'],
          help: { url: 'help@example.com', comment: 'Hilfe für Sie' },
        },
      }),
    );
    expect(h).toContain('List-Id: "Shop (news)" <news.example.com>\r\n');
    expect(h).toContain('List-Unsubscribe: <https://example.com/u> (one \\(click\\)), <mailto:u@example.com>\r\n');
    expect(h).toMatch(/^List-Help: <mailto:help@example\.com> \(=\?UTF-8\?[BQ]\?[^)]+\?=\)\r$/m);
    expect(head(await raw({ list: { unsubscribe: { url: 'https://example.com/u', comment: 'x' } } }))).toContain(
      'List-Unsubscribe: <https://example.com/u> (x)\r\n',
    );
    expect(
      codeOf(() => buildMessage({ ...base, list: { help: { url: 'https://x.example', note: 'x' } as never } })),
    ).toBe(ErrorCodes.INVALID_ARGUMENT);
  });

  it('writes List-Unsubscribe-Post only when asked, and only with an https URL', async () => {
    expect(head(await raw({ list: { unsubscribe: 'https://example.com/u' } }))).not.toContain('List-Unsubscribe-Post');
    expect(
      codeOf(() => buildMessage({ ...base, list: { unsubscribe: { mail: 'u@example.com', oneClick: true } } })),
    ).toBe(ErrorCodes.INVALID_HEADER);
    expect(
      codeOf(() => buildMessage({ ...base, list: { unsubscribe: { url: 'http://example.com/u', oneClick: true } } })),
    ).toBe(ErrorCodes.INVALID_HEADER);
  });

  it('refuses what could break the field: spaces, angle brackets, unknown keys, CR/LF', () => {
    for (const list of [
      { help: 'https://example.com/a b' },
      { help: 'https://example.com/<x>' },
      { help: 'not an address' },
      { id: 'nodots' },
      { unsubscribe: {} },
    ]) {
      expect(
        codeOf(() => buildMessage({ ...base, list: list as never })),
        JSON.stringify(list),
      ).toBe(ErrorCodes.INVALID_HEADER);
    }
    // Unknown keys: the one code of that fault class.
    for (const list of [{ unsubscribe: { url: 'https://x.example', extra: 1 } }, { helpp: 'https://example.com' }]) {
      expect(
        codeOf(() => buildMessage({ ...base, list: list as never })),
        JSON.stringify(list),
      ).toBe(ErrorCodes.INVALID_ARGUMENT);
    }
    expect(codeOf(() => buildMessage({ ...base, list: { help: 'https://x.example/\r\nBcc: v@x.example' } }))).toBe(
      ErrorCodes.HEADER_INJECTION,
    );
  });
});

const ICS = [
  'BEGIN:VCALENDAR',
  'VERSION:2.0',
  'PRODID:-//smtpwire//test//EN',
  'METHOD:REQUEST',
  'BEGIN:VEVENT',
  'UID:1@example.com',
  'DTSTAMP:20260101T000000Z',
  'DTSTART:20260102T100000Z',
  'SUMMARY:Réunion',
  'END:VEVENT',
  'END:VCALENDAR',
  '',
].join('\r\n');

describe('icalEvent', () => {
  it('adds a text/calendar alternative with the method, and the file as an application/ics attachment', async () => {
    const m = await raw({ htmlBody: '<p>Hi</p>', icalEvent: { content: ICS } });
    expect(contentTypes(m)).toEqual([
      'multipart/mixed',
      'multipart/alternative',
      'text/plain',
      'text/html',
      'text/calendar',
      'application/ics',
    ]);
    expect(m).toMatch(/Content-Type: text\/calendar; charset=utf-8; method=REQUEST\r\n/);
    const parsed = await simpleParser(Buffer.from(m));
    const ics = parsed.attachments.find((a) => a.contentType === 'application/ics')!;
    expect(ics.filename).toBe('invite.ics');
    expect(ics.content.toString('utf8')).toBe(ICS);
  });

  it('takes the method from the option, a path, and a file name', async () => {
    const path = join(dir, 'event.ics');
    writeFileSync(path, ICS.replace('METHOD:REQUEST', 'METHOD:CANCEL'));
    const m = await raw({ icalEvent: { path, method: 'cancel', filename: 'cancel.ics' } });
    expect(m).toMatch(/Content-Type: text\/calendar; charset=utf-8; method=CANCEL\r\n/);
    const parsed = await simpleParser(Buffer.from(m));
    expect(parsed.attachments.map((a) => a.filename)).toContain('cancel.ics');
    expect(codeOf(() => buildMessage({ ...base, icalEvent: { content: ICS, method: 'RE QUEST' } }))).toBe(
      ErrorCodes.INVALID_ATTACHMENT,
    );
    expect(codeOf(() => buildMessage({ ...base, icalEvent: {} }))).toBe(ErrorCodes.INVALID_ATTACHMENT);
    expect(codeOf(() => buildMessage({ ...base, icalEvent: { href: 'https://x.example/e.ics' } as never }))).toBe(
      ErrorCodes.INVALID_ARGUMENT,
    );
  });

  it('takes the calendar as a plain string, or a string in an encoding', async () => {
    for (const icalEvent of [ICS, { content: Buffer.from(ICS).toString('base64'), encoding: 'base64' as const }]) {
      const m = await raw({ icalEvent });
      expect(m).toMatch(/Content-Type: text\/calendar; charset=utf-8; method=REQUEST\r\n/);
      const parsed = await simpleParser(Buffer.from(m));
      expect(parsed.attachments.find((a) => a.filename === 'invite.ics')?.content.toString('utf8')).toBe(ICS);
    }
  });
});

describe('alternatives', () => {
  it('go between the text and the HTML part, text types as UTF-8 text', async () => {
    const m = await raw({
      htmlBody: '<p>Hi</p>',
      alternatives: [
        { contentType: 'text/x-amp-html', content: '<!doctype html><html ⚡4email><body>Hi</body></html>' },
        { contentType: 'application/octet-stream', content: Buffer.from([0, 1, 2]) },
      ],
    });
    expect(contentTypes(m)).toEqual([
      'multipart/alternative',
      'text/plain',
      'text/x-amp-html',
      'application/octet-stream',
      'text/html',
    ]);
    expect(m).toContain('Content-Type: text/x-amp-html; charset=utf-8\r\n');
    expect(
      codeOf(() => buildMessage({ ...base, alternatives: [{ contentType: 'multipart/mixed', content: 'x' }] })),
    ).toBe(ErrorCodes.INVALID_ATTACHMENT);
  });
});

describe('attachment options', () => {
  it('contentDisposition overrides the default, and a cid still goes to multipart/related', async () => {
    const m = await raw({
      htmlBody: '<img src="cid:logo@x">',
      attachments: [
        { filename: 'shown.png', content: 'x', contentDisposition: 'inline' },
        { filename: 'logo.png', content: 'x', cid: 'logo@x', contentDisposition: 'attachment' },
      ],
    });
    expect(m).toContain('Content-Disposition: inline; filename=shown.png\r\n');
    expect(m).toContain('Content-Disposition: attachment; filename=logo.png\r\n');
    const parsed = await simpleParser(Buffer.from(m));
    expect(parsed.attachments.find((a) => a.filename === 'logo.png')?.related).toBe(true);
    expect(
      codeOf(() =>
        buildMessage({ ...base, attachments: [{ filename: 'a', content: 'x', contentDisposition: 'x' as never }] }),
      ),
    ).toBe(ErrorCodes.INVALID_ATTACHMENT);
  });

  it('headers are added to the part; the part fields the builder writes are refused', async () => {
    const m = await raw({ attachments: [{ filename: 'a.txt', content: 'x', headers: { 'X-Attachment-Id': 'a-1' } }] });
    expect(m).toContain('X-Attachment-Id: a-1\r\n');
    const parsed = await simpleParser(Buffer.from(m));
    expect(parsed.attachments[0]!.headers.get('x-attachment-id')).toBe('a-1');
    for (const name of ['Content-Type', 'content-disposition', 'Content-ID']) {
      expect(
        codeOf(() =>
          buildMessage({ ...base, attachments: [{ filename: 'a', content: 'x', headers: { [name]: 'y' } }] }),
        ),
      ).toBe(ErrorCodes.INVALID_HEADER);
    }
    expect(
      codeOf(() =>
        buildMessage({ ...base, attachments: [{ filename: 'a', content: 'x', headers: { 'X-A': 'y\r\nz' } }] }),
      ),
    ).toBe(ErrorCodes.HEADER_INJECTION);
  });

  it('content from a Buffer, a string in an encoding, a Readable and a path gives the same bytes', async () => {
    const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
    const path = join(dir, 'bytes.bin');
    writeFileSync(path, bytes);
    const m = await buildMessage({
      ...base,
      attachments: [
        { filename: '1.bin', content: bytes },
        { filename: '2.bin', content: bytes.toString('base64'), encoding: 'base64' },
        { filename: '3.bin', content: bytes.toString('hex'), encoding: 'hex' },
        { filename: '4.bin', content: bytes.toString('latin1'), encoding: 'latin1' },
        { filename: '5.bin', content: Readable.from([bytes.subarray(0, 2), bytes.subarray(2)]) },
        { filename: '6.bin', path },
      ],
    }).toBuffer();
    const parsed = await simpleParser(m);
    expect(parsed.attachments.map((a) => a.content.equals(bytes))).toEqual([true, true, true, true, true, true]);
    expect(
      codeOf(() => buildMessage({ ...base, attachments: [{ filename: 'a', content: 'zz', encoding: 'hex' }] })),
    ).toBe(ErrorCodes.INVALID_ATTACHMENT);
    expect(
      codeOf(() =>
        buildMessage({ ...base, attachments: [{ filename: 'a', content: 'x', encoding: 'utf16' as never }] }),
      ),
    ).toBe(ErrorCodes.INVALID_ATTACHMENT);
    expect(
      codeOf(() => buildMessage({ ...base, attachments: [{ filename: 'a', content: bytes, encoding: 'hex' }] })),
    ).toBe(ErrorCodes.INVALID_ATTACHMENT);
  });
});

describe('unknown keys', () => {
  // One fault class, one code wherever the object is (issue 25): ERR_SMTP_INVALID_ARGUMENT.
  it('are refused in attachments, alternatives, icalEvent and list, naming the nearest known key', () => {
    const cases: [Partial<BuildMessageOptions>, string, RegExp][] = [
      [
        { attachments: [{ filename: 'a', content: 'x', contentDispositon: 'inline' } as never] },
        ErrorCodes.INVALID_ARGUMENT,
        /contentDisposition/,
      ],
      [
        { alternatives: [{ contentType: 'text/plain', contnet: 'x' } as never] },
        ErrorCodes.INVALID_ARGUMENT,
        /content\b/,
      ],
      [{ icalEvent: { content: 'x', methd: 'REQUEST' } as never }, ErrorCodes.INVALID_ARGUMENT, /method/],
      [{ list: { unsubscibe: 'https://x.example' } as never }, ErrorCodes.INVALID_ARGUMENT, /unsubscribe/],
      [{ toAddresses: [{ adress: 'a@b.example' } as never] }, ErrorCodes.INVALID_ARGUMENT, /address/],
    ];
    for (const [extra, code, nearest] of cases) {
      try {
        buildMessage({ ...base, ...extra });
        expect.unreachable(JSON.stringify(extra));
      } catch (err) {
        expect((err as InvalidArgumentError).code, JSON.stringify(extra)).toBe(code);
        expect((err as Error).message).toMatch(/did you mean/);
        expect((err as Error).message).toMatch(nearest);
      }
    }
  });
});

describe('date', () => {
  it('is written in UTC; an invalid Date is refused', async () => {
    expect(head(await raw({ date: new Date(Date.UTC(2026, 10, 30, 16, 5, 9)) }))).toContain(
      'Date: Mon, 30 Nov 2026 16:05:09 +0000\r\n',
    );
    expect(codeOf(() => buildMessage({ ...base, date: new Date(Number.NaN) }))).toBe(ErrorCodes.INVALID_ARGUMENT);
  });
});

describe('MESSAGE_INPUT_KEYS', () => {
  it('lists every key of a full MessageInput, once', () => {
    const full: Required<MessageInput> = {
      toAddresses: [],
      subject: '',
      textBody: '',
      htmlBody: '',
      ccAddresses: [],
      bccAddresses: [],
      replyTo: [],
      attachments: [],
      customHeaders: {},
      fromAddress: '',
      date: new Date(),
      priority: 'normal',
      list: {},
      icalEvent: {},
      alternatives: [],
    };
    expect([...MESSAGE_INPUT_KEYS].sort()).toEqual(Object.keys(full).sort());
    expect(new Set(MESSAGE_INPUT_KEYS).size).toBe(MESSAGE_INPUT_KEYS.length);
    expect(Object.isFrozen(MESSAGE_INPUT_KEYS)).toBe(true);
  });
});
