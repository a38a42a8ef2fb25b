import { describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidArgumentError } from '../../src/errors.js';
import {
  type AddressEntry,
  checkMailboxAddress,
  envelopeAddress,
  flattenAddresses,
  formatAddress,
  isValidMailboxAddress,
  type Mailbox,
  needsSmtpUtf8,
  parseAddress,
  parseAddressList,
  toAsciiDomain,
} from '../../src/message/address.js';

function parseError(input: string): InvalidArgumentError {
  try {
    parseAddress(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to fail`);
}

describe('parseAddress: accepted forms', () => {
  const cases: [string, Mailbox][] = [
    ['user@example.com', { name: null, address: 'user@example.com' }],
    ['  user@example.com  ', { name: null, address: 'user@example.com' }],
    ['<user@example.com>', { name: null, address: 'user@example.com' }],
    ['John <john@example.com>', { name: 'John', address: 'john@example.com' }],
    ['John Doe<john@example.com>', { name: 'John Doe', address: 'john@example.com' }],
    ['John   Doe  <john@example.com>', { name: 'John Doe', address: 'john@example.com' }],
    ['"Doe, John" <a@b.example>', { name: 'Doe, John', address: 'a@b.example' }],
    ['"Doe, John"<a@b.example>', { name: 'Doe, John', address: 'a@b.example' }],
    ['"  spaced  out " <a@b.example>', { name: '  spaced  out ', address: 'a@b.example' }],
    ['"say \\"hi\\" \\\\ bye" <a@b.example>', { name: 'say "hi" \\ bye', address: 'a@b.example' }],
    ['"" <a@b.example>', { name: null, address: 'a@b.example' }],
    ['John Q. Public <jqp@x.example>', { name: 'John Q. Public', address: 'jqp@x.example' }],
    ['Mr. "Big" Smith <b@x.example>', { name: 'Mr. Big Smith', address: 'b@x.example' }],
    ['Zoë Example <zoe@example.com>', { name: 'Zoë Example', address: 'zoe@example.com' }],
    ['"Zoë" <zoe@example.com>', { name: 'Zoë', address: 'zoe@example.com' }],
    ['=?UTF-8?Q?Zo=C3=AB_Example?= <zoe@example.com>', { name: 'Zoë Example', address: 'zoe@example.com' }],
    ['=?UTF-8?B?Wm/Dqw==?= <zoe@example.com>', { name: 'Zoë', address: 'zoe@example.com' }],
    // RFC 2047 §6.2: white space between adjacent encoded-words is dropped, elsewhere kept.
    ['=?UTF-8?Q?a?= =?UTF-8?Q?b?= <x@y.example>', { name: 'ab', address: 'x@y.example' }],
    ['Hi =?UTF-8?Q?Zo=C3=AB?= there <x@y.example>', { name: 'Hi Zoë there', address: 'x@y.example' }],
    // A multi-byte character split across two words still decodes.
    ['=?UTF-8?Q?Zo=C3?= =?UTF-8?Q?=AB?= <x@y.example>', { name: 'Zoë', address: 'x@y.example' }],
    // RFC 2047 §5 (3): encoded-words inside a quoted string are not decoded.
    ['"=?UTF-8?Q?Zo=C3=AB?=" <x@y.example>', { name: '=?UTF-8?Q?Zo=C3=AB?=', address: 'x@y.example' }],
    ['=?iso-8859-1?q?J=F6rg?= <j@x.example>', { name: 'Jörg', address: 'j@x.example' }],
    // Comments are dropped wherever CFWS may stand; they never become the name.
    ['user@example.com (Some One)', { name: null, address: 'user@example.com' }],
    ['(lead) user@example.com', { name: null, address: 'user@example.com' }],
    ['John (the man) Doe <john@example.com>', { name: 'John Doe', address: 'john@example.com' }],
    ['John <john@example.com> (nested (comment) \\) here)', { name: 'John', address: 'john@example.com' }],
    ['< john @ example.com >', { name: null, address: 'john@example.com' }],
    ['"john doe"@example.com', { name: null, address: '"john doe"@example.com' }],
    ['"john"@example.com', { name: null, address: 'john@example.com' }],
    ['"john..doe"@example.com', { name: null, address: '"john..doe"@example.com' }],
    ['"a\\"b"@example.com', { name: null, address: '"a\\"b"@example.com' }],
    ['"a\\b"@example.com', { name: null, address: 'ab@example.com' }],
    ['""@example.com', { name: null, address: '""@example.com' }],
    ['user@[192.0.2.1]', { name: null, address: 'user@[192.0.2.1]' }],
    ['user@[IPv6:2001:db8::1]', { name: null, address: 'user@[IPv6:2001:db8::1]' }],
    ['Lit <user@[192.0.2.1]>', { name: 'Lit', address: 'user@[192.0.2.1]' }],
    ["o'brien+tag=x@sub.example.com", { name: null, address: "o'brien+tag=x@sub.example.com" }],
    ['zoë@bücher.example', { name: null, address: 'zoë@bücher.example' }],
    ['User@Example.COM', { name: null, address: 'User@Example.COM' }],
  ];
  it.each(cases)('%s', (input, expected) => {
    expect(parseAddress(input)).toEqual(expected);
  });
});

describe('parseAddress: errors carry a code and the position', () => {
  const cases: [string, number, RegExp][] = [
    ['', 0, /empty address/],
    ['   ', 3, /empty address/],
    ['@example.com', 0, /missing local part/],
    ['user@@example.com', 5, /second "@"/],
    ['user@', 5, /expected domain/],
    ['user', 4, /expected "@"/],
    ['a@b@c', 3, /found "@"/],
    ['.user@example.com', 0, /must not start with a dot/],
    ['user.@example.com', 4, /must not end with a dot/],
    ['us..er@example.com', 3, /two dots/],
    ['user@example.com.', 16, /must not end with a dot/],
    ['user@.example.com', 5, /must not start with a dot/],
    ['user@example..com', 13, /two dots/],
    ['John Doe john@example.com', 5, /expected "@"/],
    ['"unterminated@example.com', 0, /unterminated quoted string/],
    ['John <john@example.com', 22, /expected ">"/],
    ['(open comment user@example.com', 0, /unterminated comment/],
    ['user@[192.0.2.1', 5, /unterminated domain literal/],
    ['user@[192.0. 2.1]', 12, /not allowed in a domain literal/],
    ['<>', 1, /empty address/],
    ['<@route:user@example.com>', 1, /source routes/],
    ['a@b.example, c@d.example', 11, /found a list/],
    ['Team: a@b.example;', 0, /found a group/],
    ['user@example.com\r\nBcc: x@y.example', 16, /CR, LF or NUL/],
    ['John\n <a@b.example>', 4, /CR, LF or NUL/],
    ['a\0@b.example', 1, /CR, LF or NUL/],
    ['a\ud800@b.example', 1, /surrogate/],
    ['=?UTF-8?Q?a=0D=0Ab?= <a@b.example>', 0, /decodes to CR, LF or NUL/],
    ['"bell\u0007" <a@b.example>', 5, /control character/],
    ['us er@example.com', 3, /expected "@"/],
    ['user@exa mple.com', 9, /found "m"/],
  ];
  it.each(cases)('%j fails at %i', (input, position, message) => {
    const err = parseError(input);
    // CR, LF or NUL: the one line-injection guard and its one code, whatever the field (issue 10).
    expect(err.code).toBe(
      /CR, LF or NUL/.test(err.message) && !/decodes/.test(err.message)
        ? ErrorCodes.HEADER_INJECTION
        : ErrorCodes.INVALID_ADDRESS,
    );
    expect(err.position).toBe(position);
    expect(err.message).toMatch(message);
    if (err.code === ErrorCodes.INVALID_ADDRESS) expect(err.message).toContain(`position ${position}`);
    else expect(err.message).toContain(`index ${position}`);
  });

  it('refuses a non-string with a typed error', () => {
    expect(() => parseAddress(42 as unknown as string)).toThrow(InvalidArgumentError);
  });
});

describe('parseAddressList', () => {
  const cases: [string, AddressEntry[]][] = [
    ['', []],
    ['  ,  ', []],
    ['a@x.example', [{ name: null, address: 'a@x.example' }]],
    [
      'a@x.example, "Doe, John" <j@y.example>,B <b@z.example>',
      [
        { name: null, address: 'a@x.example' },
        { name: 'Doe, John', address: 'j@y.example' },
        { name: 'B', address: 'b@z.example' },
      ],
    ],
    [
      'a@x.example,,b@y.example,',
      [
        { name: null, address: 'a@x.example' },
        { name: null, address: 'b@y.example' },
      ],
    ],
    [
      'Team: a@x.example, Bee <b@y.example>;',
      [
        {
          group: 'Team',
          members: [
            { name: null, address: 'a@x.example' },
            { name: 'Bee', address: 'b@y.example' },
          ],
        },
      ],
    ],
    ['undisclosed-recipients:;', [{ group: 'undisclosed-recipients', members: [] }]],
    ['undisclosed-recipients: (none) ;', [{ group: 'undisclosed-recipients', members: [] }]],
    ['"My, Team": a@x.example;', [{ group: 'My, Team', members: [{ name: null, address: 'a@x.example' }] }]],
    [
      'x@y.example, G: a@x.example,, b@x.example; , z@w.example',
      [
        { name: null, address: 'x@y.example' },
        {
          group: 'G',
          members: [
            { name: null, address: 'a@x.example' },
            { name: null, address: 'b@x.example' },
          ],
        },
        { name: null, address: 'z@w.example' },
      ],
    ],
  ];
  it.each(cases)('%j', (input, expected) => {
    expect(parseAddressList(input)).toEqual(expected);
  });

  const errors: [string, number, RegExp][] = [
    ['Team: a@x.example', 17, /group not closed/],
    ['Team: a@x.example b@y.example', 18, /"," or ";"/],
    ['Outer: Inner: a@x.example;;', 12, /nested/],
    ['a@x.example b@y.example', 12, /","/],
    ['a@x.example; b@y.example', 11, /","/],
  ];
  it.each(errors)('%j fails at %i', (input, position, message) => {
    let caught: unknown;
    try {
      parseAddressList(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    expect((caught as InvalidArgumentError).code).toBe(ErrorCodes.INVALID_ADDRESS);
    expect((caught as InvalidArgumentError).position).toBe(position);
    expect((caught as InvalidArgumentError).message).toMatch(message);
  });

  it('flattenAddresses replaces groups by their members, in order', () => {
    const list = parseAddressList('x@y.example, G: a@x.example, b@x.example;, E:;, z@w.example');
    expect(flattenAddresses(list).map((m) => m.address)).toEqual([
      'x@y.example',
      'a@x.example',
      'b@x.example',
      'z@w.example',
    ]);
  });
});

describe('formatAddress', () => {
  const cases: [AddressEntry | string, string][] = [
    [{ name: null, address: 'a@b.example' }, 'a@b.example'],
    [{ name: '', address: 'a@b.example' }, 'a@b.example'],
    [{ name: 'John', address: 'a@b.example' }, 'John <a@b.example>'],
    [{ name: 'John Doe', address: 'a@b.example' }, 'John Doe <a@b.example>'],
    [{ name: 'Doe, John', address: 'a@b.example' }, '"Doe, John" <a@b.example>'],
    [{ name: 'John Q. Public', address: 'a@b.example' }, '"John Q. Public" <a@b.example>'],
    [{ name: ' lead', address: 'a@b.example' }, '" lead" <a@b.example>'],
    [{ name: 'a  b', address: 'a@b.example' }, '"a  b" <a@b.example>'],
    [{ name: 'say "hi" \\', address: 'a@b.example' }, '"say \\"hi\\" \\\\" <a@b.example>'],
    [{ name: 'Zoë', address: 'zoe@example.com' }, '=?UTF-8?Q?Zo=C3=AB?= <zoe@example.com>'],
    [{ name: null, address: '"john doe"@example.com' }, '"john doe"@example.com'],
    [{ name: null, address: '"john"@example.com' }, 'john@example.com'],
    [
      {
        group: 'Team',
        members: [
          { name: null, address: 'a@x.example' },
          { name: 'B, C', address: 'b@x.example' },
        ],
      },
      'Team: a@x.example, "B, C" <b@x.example>;',
    ],
    [{ group: 'undisclosed-recipients', members: [] }, 'undisclosed-recipients:;'],
    ['  "Doe, John"   <a@b.example> (c)', '"Doe, John" <a@b.example>'],
    ['G: a@x.example;', 'G: a@x.example;'],
  ];
  it.each(cases)('%j -> %s', (entry, expected) => {
    expect(formatAddress(entry)).toBe(expected);
  });

  it('encodes a name that looks like an encoded-word, so no decoder misreads it', () => {
    const mb = { name: '=?UTF-8?Q?x?=', address: 'a@b.example' };
    const text = formatAddress(mb);
    expect(text.startsWith('=?UTF-8?')).toBe(true);
    expect(parseAddress(text)).toEqual(mb);
  });

  it('refuses CR, LF or NUL in a name as header injection', () => {
    for (const name of ['a\r\nBcc: x@y.example', 'a\nb', 'a\0b']) {
      expect(() => formatAddress({ name, address: 'a@b.example' })).toThrow(
        expect.objectContaining({ code: ErrorCodes.HEADER_INJECTION }),
      );
    }
    expect(() => formatAddress({ group: 'T\r\n', members: [] })).toThrow(
      expect.objectContaining({ code: ErrorCodes.HEADER_INJECTION }),
    );
  });

  it('refuses an address that is not an addr-spec', () => {
    for (const address of ['nope', 'a@b@c', 'a b@c.example', 'John <a@b.example>']) {
      expect(() => formatAddress({ name: 'X', address })).toThrow(
        expect.objectContaining({ code: ErrorCodes.INVALID_ADDRESS }),
      );
    }
    expect(() => formatAddress({ name: 'X', address: 'a@b.example\r\n' })).toThrow(
      expect.objectContaining({ code: ErrorCodes.HEADER_INJECTION }),
    );
    expect(() => formatAddress('a@x.example, b@y.example')).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ADDRESS }),
    );
  });
});

describe('toAsciiDomain / envelopeAddress / needsSmtpUtf8', () => {
  it.each([
    ['example.com', 'example.com'],
    ['Example.COM', 'Example.COM'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['例え.テスト', 'xn--r8jz45g.xn--zckzah'],
    ['a\u3002b', 'a.b'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['[192.0.2.1]', '[192.0.2.1]'],
    ['[IPv6:2001:db8::1]', '[IPv6:2001:db8::1]'],
    ['localhost', 'localhost'],
  ])('toAsciiDomain(%s) = %s', (input, expected) => {
    expect(toAsciiDomain(input)).toBe(expected);
  });

  it.each([
    '',
    'a..b',
    '.a.b',
    'a.b.',
    '-a.com',
    'a-.com',
    'ex_ample.com',
    'ex%41.com',
    'a b.com',
    'xn--zz.com',
    `${'a'.repeat(64)}.com`,
    '[300.1.1.1]',
    '[IPv6:nope]',
    '[1.2.3.4',
    'bü%cher.example',
  ])('toAsciiDomain(%j) throws', (input) => {
    expect(() => toAsciiDomain(input)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ADDRESS }));
  });

  it('envelopeAddress drops the name and converts only the domain', () => {
    expect(envelopeAddress('Zoë <zoë@Bücher.example>')).toBe('zoë@xn--bcher-kva.example');
    expect(envelopeAddress('"Doe, John" <john@example.com>')).toBe('john@example.com');
    expect(envelopeAddress('"john doe"@example.com')).toBe('"john doe"@example.com');
    expect(envelopeAddress('user@[192.0.2.1]')).toBe('user@[192.0.2.1]');
    expect(() => envelopeAddress('user@ex_ample.com')).toThrow(InvalidArgumentError);
    expect(() => envelopeAddress('user@example.com\r\nRCPT TO:<x@y>')).toThrow(InvalidArgumentError);
  });

  it('needsSmtpUtf8 looks at the local part only', () => {
    expect(needsSmtpUtf8('zoë@example.com')).toBe(true);
    expect(needsSmtpUtf8('"zoë doe"@example.com')).toBe(true);
    expect(needsSmtpUtf8('zoe@bücher.example')).toBe(false);
    expect(needsSmtpUtf8('Zoë <zoe@example.com>')).toBe(false);
    expect(needsSmtpUtf8('user@example.com')).toBe(false);
  });
});

describe('checkMailboxAddress (RFC 5321 mailbox + policy)', () => {
  it.each([
    'user@example.com',
    'test.user@example.co.uk',
    'user+tag@sub.example.com',
    '"john doe"@example.com',
    '"a\\"b"@example.com',
    'user@[192.0.2.1]',
    'user@[IPv6:2001:db8::1]',
    'user@[ipv6:::ffff:192.0.2.1]',
    'zoë@bücher.example',
    'δοκιμή@παράδειγμα.δοκιμή',
    'x@a-b.c-d.example',
    'x@xn--bcher-kva.example',
    `${'a'.repeat(64)}@example.com`,
    `u@${'a'.repeat(63)}.com`,
  ])('valid: %s', (address) => {
    expect(checkMailboxAddress(address)).toBeNull();
    expect(isValidMailboxAddress(address)).toBe(true);
  });

  it.each([
    ['user@example', /no top-level domain/],
    ['@example.com', /missing local part/],
    ['user@@example.com', /second "@"/],
    ['user@example.123', /all digits/],
    ['user@192.0.2.1', /all digits/],
    ['user@[192.0.2.256]', /IPv4 address literal/],
    ['user@[IPv6:2001:db8::g]', /IPv6 address literal/],
    ['user@[IPv6:fe80::1%eth0]', /IPv6 address literal/],
    ['user@[x-tag:stuff]', /general address literals/],
    [`${'a'.repeat(65)}@example.com`, /local part is 65 octets/],
    [`${'é'.repeat(33)}@example.com`, /local part is 66 octets/],
    [`u@${'a'.repeat(64)}.com`, /64 characters, over the limit of 63/],
    [`u@${'abcdefghi.'.repeat(25)}com`, /over the limit of 254/],
    ['""@example.com', /local part is empty/],
    ['"tab\there"@example.com', /control character or tab/],
    ['user @example.com', /expected "@"/],
    ['user@example.com (c)', /expected end of address/],
    ['John <john@example.com>', /expected "@"/],
    ['user@-example.com', /must not start or end with "-"/],
    ['user@exam_ple.com', /contains "_"/],
    ['user@example.com\n', /CR, LF or NUL/],
  ])('invalid: %j (%s)', (address, reason) => {
    expect(checkMailboxAddress(address)).toMatch(reason);
    expect(isValidMailboxAddress(address)).toBe(false);
  });

  it('requireTld: false allows single-label domains but still refuses numeric ones', () => {
    expect(checkMailboxAddress('user@localhost', { requireTld: false })).toBeNull();
    expect(checkMailboxAddress('user@intranet', { requireTld: false })).toBeNull();
    expect(checkMailboxAddress('user@123', { requireTld: false })).toMatch(/all digits/);
  });

  it('honours custom limits', () => {
    expect(checkMailboxAddress('abcdef@example.com', { maxLocalPartLength: 5 })).toMatch(/over the limit of 5/);
    expect(checkMailboxAddress('a@abcdef.com', { maxLabelLength: 5 })).toMatch(/over the limit of 5/);
    expect(checkMailboxAddress('a@example.com', { maxAddressLength: 12 })).toMatch(/13 octets, over the limit of 12/);
    // The length counts the punycode domain, which is what goes on the wire.
    expect(checkMailboxAddress('a@bücher.example', { maxAddressLength: 22 })).toMatch(/23 octets/);
  });

  it('never throws on odd input', () => {
    expect(checkMailboxAddress(undefined as unknown as string)).toMatch(/string/);
    expect(checkMailboxAddress('')).toMatch(/empty/);
  });
});
