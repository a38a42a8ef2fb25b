import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  type AddressEntry,
  checkMailboxAddress,
  envelopeAddress,
  formatAddress,
  type Group,
  isValidMailboxAddress,
  type Mailbox,
  needsSmtpUtf8,
  parseAddress,
  parseAddressList,
  toAsciiDomain,
} from '../../src/message/address.js';
import { SmtpMessageValidator } from '../../src/message/validator.js';

// ---------------------------------------------------------------------------------------------
// Generators for the RFC 5322 / 5321 grammar
// ---------------------------------------------------------------------------------------------

const ASCII_ATEXT = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', ..."!#$%&'*+-/=?^_`{|}~"];
const atextChar = fc.constantFrom(...ASCII_ATEXT);
/** RFC 6532 UTF8-non-ascii samples for SMTPUTF8 local parts. */
const utf8Char = fc.constantFrom('é', 'ü', 'ß', 'ø', 'ñ', 'δ', 'ж', '中', '文', 'あ', '😀');

const atom = fc.string({ unit: atextChar, minLength: 1, maxLength: 10 });
const utf8Atom = fc.string({ unit: fc.oneof(atextChar, utf8Char), minLength: 1, maxLength: 8 });
const dotAtom = fc.array(atom, { minLength: 1, maxLength: 4 }).map((a) => a.join('.'));
const utf8DotAtom = fc.array(utf8Atom, { minLength: 1, maxLength: 3 }).map((a) => a.join('.'));

/** Quoted local part whose content is not a dot-atom (it holds a space), so it stays quoted. */
const printable = fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)));
const quotedContent = fc
  .tuple(fc.string({ unit: printable, maxLength: 10 }), fc.string({ unit: printable, maxLength: 10 }))
  .map(([a, b]) => `${a} ${b}`);
const quoteLocal = (content: string): string => `"${content.replace(/["\\]/g, '\\$&')}"`;
const quotedLocal = quotedContent.map(quoteLocal);

const ldhLabel = fc.oneof(
  { weight: 5, arbitrary: fc.stringMatching(/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,12}[a-zA-Z0-9])?$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/) },
);
const tld = fc.stringMatching(/^[a-zA-Z]{2,8}$/);
const hostname = fc
  .tuple(fc.array(ldhLabel, { minLength: 1, maxLength: 3 }), tld)
  .map(([labels, t]) => [...labels, t].join('.'));
/** IDN labels from letters UTS #46 maps cleanly (no RTL scripts, no leading combining marks). */
const idnLabel = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...'abcdeäöüéèçñåø例え中文'), minLength: 1, maxLength: 8 }),
    fc.constantFrom('ü', 'é', '例'),
  )
  .map(([a, b]) => a + b);
const idnDomain = fc.tuple(idnLabel, fc.constantFrom('example', 'com', 'テスト', 'de')).map(([l, t]) => `${l}.${t}`);

const octet = fc.integer({ min: 0, max: 255 });
const ipv4Literal = fc.tuple(octet, octet, octet, octet).map((o) => `[${o.join('.')}]`);
const ipv6Literal = fc
  .tuple(
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }),
    fc.boolean(),
  )
  .map(([groups, compress]) => {
    const full = groups.map((g) => g.toString(16)).join(':');
    // The WHATWG URL parser gives the RFC 5952 compressed form ("2001:db8::1").
    const text = compress ? new URL(`http://[${full}]/`).hostname.slice(1, -1) : full;
    return `[IPv6:${text}]`;
  });

const domain = fc.oneof(
  { weight: 6, arbitrary: hostname },
  { weight: 1, arbitrary: idnDomain },
  { weight: 1, arbitrary: ipv4Literal },
  { weight: 1, arbitrary: ipv6Literal },
);
const localPart = fc.oneof(
  { weight: 4, arbitrary: dotAtom },
  { weight: 2, arbitrary: quotedLocal },
  { weight: 1, arbitrary: utf8DotAtom },
);

const fitsLimits = (address: string): boolean => {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const d = address.slice(at + 1);
  // The hostname generator can spell an "xn--" label that is not valid punycode (found by a run):
  // such a domain is not a valid address, so it is not a generated valid one either.
  let ascii: string;
  try {
    ascii = toAsciiDomain(d);
  } catch {
    return false;
  }
  return Buffer.byteLength(local) <= 64 && Buffer.byteLength(local) + 1 + ascii.length <= 254;
};

/** A valid `local@domain` (canonical: dot-atom local parts bare, others quoted). */
const validAddress = fc
  .tuple(localPart, domain)
  .map(([l, d]) => `${l}@${d}`)
  .filter(fitsLimits);
/** Only dot-atom local parts and hostnames: every character outside a dot or "@" is atext. */
const plainAddress = fc
  .tuple(dotAtom, hostname)
  .map(([l, d]) => `${l}@${d}`)
  .filter(fitsLimits);

/** Display names: any Unicode plus the characters that need quoting or encoding. */
const nameSpecials = fc.constantFrom(
  '"',
  ',',
  '\\',
  '(',
  ')',
  '<',
  '>',
  ':',
  ';',
  '@',
  '.',
  ' ',
  '  ',
  '\t',
  '=?',
  '?=',
  '=?UTF-8?Q?x?=',
  '[',
  ']',
);
const displayName = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 6 }),
      fc.string({ unit: 'binary', maxLength: 4 }),
      fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
      nameSpecials,
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => parts.join(''))
  .filter((n) => n.length > 0 && !/[\r\n\0\v\f\u0085\u2028\u2029]/.test(n));

const mailbox: fc.Arbitrary<Mailbox> = fc.record({
  name: fc.option(displayName, { nil: null }),
  address: validAddress,
});
const group: fc.Arbitrary<Group> = fc.record({
  group: displayName,
  members: fc.array(mailbox, { maxLength: 3 }),
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('generated valid addresses', () => {
  it('are accepted by the mailbox check and the validator', () => {
    fc.assert(
      fc.property(validAddress, (address) => {
        expect(checkMailboxAddress(address)).toBeNull();
        expect(SmtpMessageValidator.validateEmailAddress(address)).toEqual({ valid: true, error: null });
      }),
      { numRuns: 500 },
    );
  });

  it('parse back to themselves as bare addresses', () => {
    fc.assert(
      fc.property(validAddress, (address) => {
        expect(parseAddress(address)).toEqual({ name: null, address });
        expect(parseAddress(`<${address}>`)).toEqual({ name: null, address });
      }),
      { numRuns: 300 },
    );
  });

  it('a quoted local part that is really a dot-atom is canonicalised to the bare form', () => {
    fc.assert(
      fc.property(dotAtom, hostname, (l, d) => {
        expect(parseAddress(`"${l}"@${d}`).address).toBe(`${l}@${d}`);
      }),
    );
  });

  it('envelopeAddress gives an ASCII domain, and SMTPUTF8 is needed exactly for a non-ASCII local part', () => {
    fc.assert(
      fc.property(validAddress, (address) => {
        const env = envelopeAddress(address);
        const at = env.lastIndexOf('@');
        expect(env.slice(at + 1)).toMatch(/^[\x21-\x7e]+$/);
        const local = address.slice(0, address.lastIndexOf('@'));
        expect(env.slice(0, at)).toBe(local);
        expect(needsSmtpUtf8(address)).toBe(/[^\x00-\x7f]/.test(local));
        // The converted domain is itself valid and converts to itself.
        expect(toAsciiDomain(env.slice(at + 1))).toBe(env.slice(at + 1));
      }),
      { numRuns: 300 },
    );
  });
});

describe('format / parse round trip', () => {
  it('parseAddress(formatAddress(m)) deep-equals m for any mailbox', () => {
    fc.assert(
      fc.property(mailbox, (m) => {
        const text = formatAddress(m);
        expect(text).not.toMatch(/[\r\n]/);
        expect(parseAddress(text)).toEqual(m);
        expect(SmtpMessageValidator.validateEmailAddress(text).valid).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('display names with quotes, commas, backslashes and Unicode survive', () => {
    fc.assert(
      fc.property(displayName, plainAddress, (name, address) => {
        expect(parseAddress(formatAddress({ name, address }))).toEqual({ name, address });
      }),
      { numRuns: 1000 },
    );
  });

  it('an address list of mailboxes and groups survives format and parse', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(mailbox, group), { minLength: 1, maxLength: 4 }), (entries: AddressEntry[]) => {
        const text = entries.map((e) => formatAddress(e)).join(', ');
        expect(parseAddressList(text)).toEqual(entries);
      }),
      { numRuns: 300 },
    );
  });

  it('format is idempotent on strings', () => {
    fc.assert(
      fc.property(mailbox, (m) => {
        const once = formatAddress(m);
        expect(formatAddress(once)).toBe(once);
      }),
      { numRuns: 300 },
    );
  });
});

/** Positions strictly between two atext characters of `s` (a space there always splits an atom). */
function insideAtomPositions(s: string): number[] {
  const out: number[] = [];
  for (let i = 1; i < s.length; i++) {
    if (/[^.@]/.test(s[i - 1]!) && /[^.@]/.test(s[i]!)) out.push(i);
  }
  return out;
}

const invalidBoth = (address: string): void => {
  expect(isValidMailboxAddress(address)).toBe(false);
  const r = SmtpMessageValidator.validateEmailAddress(address);
  expect(r.valid).toBe(false);
  expect(r.error).toEqual(expect.any(String));
};

describe('targeted mutations are rejected', () => {
  it('a second "@" anywhere', () => {
    fc.assert(
      fc.property(plainAddress, fc.nat(), (address, n) => {
        const i = n % (address.length + 1);
        invalidBoth(`${address.slice(0, i)}@${address.slice(i)}`);
      }),
      { numRuns: 300 },
    );
  });

  it('a dot at either edge of the local part or the domain, or a doubled dot', () => {
    fc.assert(
      fc.property(plainAddress, fc.integer({ min: 0, max: 4 }), (address, which) => {
        const at = address.lastIndexOf('@');
        const local = address.slice(0, at);
        const d = address.slice(at + 1);
        const mutated = [
          `.${local}@${d}`,
          `${local}.@${d}`,
          `${local}@.${d}`,
          `${local}@${d}.`,
          `${local}@${d.replace('.', '..')}`,
        ][which]!;
        invalidBoth(mutated);
      }),
      { numRuns: 300 },
    );
  });

  it('a domain label over 63 characters', () => {
    fc.assert(
      fc.property(dotAtom, hostname, fc.stringMatching(/^[a-z0-9]{64,80}$/), fc.nat(), (local, d, long, n) => {
        const labels = d.split('.');
        labels[n % labels.length] = long;
        const address = `${local}@${labels.join('.')}`;
        expect(checkMailboxAddress(address)).toMatch(/over the limit of 63|over the limit of 254/);
        invalidBoth(address);
      }),
      { numRuns: 200 },
    );
  });

  it('a CR or LF anywhere, in any form (bare, quoted, with a display name)', () => {
    fc.assert(
      fc.property(mailbox, fc.constantFrom('\r', '\n', '\r\n', '\0'), fc.nat(), (m, br, n) => {
        const text = formatAddress(m);
        const i = n % (text.length + 1);
        const mutated = text.slice(0, i) + br + text.slice(i);
        const r = SmtpMessageValidator.validateEmailAddress(mutated);
        expect(r.valid).toBe(false);
        expect(r.error).toMatch(/CR, LF or NUL/);
        expect(() => parseAddress(mutated)).toThrow(InvalidArgumentError);
        expect(isValidMailboxAddress(m.address.slice(0, i) + br + m.address.slice(i))).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a space: anywhere for the RFC 5321 mailbox check, inside an atom for the RFC 5322 validator', () => {
    fc.assert(
      fc.property(plainAddress, fc.nat(), fc.nat(), (address, n, m) => {
        const i = n % (address.length + 1);
        expect(isValidMailboxAddress(`${address.slice(0, i)} ${address.slice(i)}`)).toBe(false);
        const inside = insideAtomPositions(address);
        fc.pre(inside.length > 0);
        const j = inside[m % inside.length]!;
        invalidBoth(`${address.slice(0, j)} ${address.slice(j)}`);
      }),
      { numRuns: 300 },
    );
  });

  it('an invalid IPv4 literal octet', () => {
    fc.assert(
      fc.property(
        dotAtom,
        fc.tuple(octet, octet, octet),
        fc.integer({ min: 256, max: 9999 }),
        (local, [a, b, c], bad) => {
          invalidBoth(`${local}@[${a}.${b}.${c}.${bad}]`);
        },
      ),
    );
  });
});

describe('robustness on arbitrary input', () => {
  it('parsers either return or throw InvalidArgumentError with a position inside the input', () => {
    const noisy = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom(...'a@b."\\()<>,:; [] \t=?é'), maxLength: 40 }),
    );
    fc.assert(
      fc.property(noisy, (input) => {
        for (const parse of [parseAddress, parseAddressList]) {
          try {
            parse(input);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidArgumentError);
            const pos = (err as InvalidArgumentError).position;
            if (pos !== undefined) {
              expect(pos).toBeGreaterThanOrEqual(0);
              expect(pos).toBeLessThanOrEqual(input.length);
            }
          }
        }
        expect(() => checkMailboxAddress(input)).not.toThrow();
        expect(() => SmtpMessageValidator.validateEmailAddress(input)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });

  it('whatever parses formats, and formats back to the same entries', () => {
    const noisy = fc.string({ unit: fc.constantFrom(...'ab@c."\\()<>,:; \t=?é'), maxLength: 30 });
    fc.assert(
      fc.property(noisy, (input) => {
        let list: AddressEntry[];
        try {
          list = parseAddressList(input);
        } catch {
          return;
        }
        const text = list.map((e) => formatAddress(e)).join(', ');
        expect(parseAddressList(text)).toEqual(list);
      }),
      { numRuns: 2000 },
    );
  });
});
