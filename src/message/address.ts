/**
 * RFC 5322 addresses: parse and format mailboxes, groups and address lists; the envelope form.
 *
 * Pure module: strings in, values out. The grammar itself is `address-parser.ts` (RFC 5322 §3.4,
 * RFC 6532, RFC 2047 names); the RFC 5321 mailbox and domain checks (IDN, address literals,
 * limits) are `address-check.ts`, re-exported here so callers keep one import path.
 *
 * Positions in errors are 0-based offsets into the input string, in UTF-16 code units (JS
 * string indices).
 */
import { ErrorCodes, findLineBreak, InvalidArgumentError } from '../errors.js';
import { findUnknownKey } from '../options.js';
import { checkMailboxParts, type MailboxCheckOptions } from './address-check.js';
import { type AddressEntry, assertString, type Group, type Mailbox, Parser, quoteString } from './address-parser.js';
import { Address } from './address-value.js';
import { encodeWords } from './mime/encodings.js';
import { assertNoInjection } from './mime/headers.js';
import type { AddressInput, AddressObject } from './types.js';

export {
  checkMailboxParts,
  DEFAULT_MAX_ADDRESS_LENGTH,
  DEFAULT_MAX_LABEL_LENGTH,
  DEFAULT_MAX_LOCAL_PART_LENGTH,
  type MailboxCheckOptions,
  toAsciiDomain,
} from './address-check.js';
export type { AddressEntry, Group, Mailbox } from './address-parser.js';
export { Address } from './address-value.js';

/**
 * Parses exactly one mailbox in any RFC 5322 form: `a@b.example`, `Name <a@b.example>`,
 * `"Doe, John" <a@b.example>`, `=?UTF-8?Q?Zo=C3=AB?= <zoe@example.com>`, with comments anywhere
 * CFWS is allowed (comments are dropped: they never become the name). The object form
 * `{ name?, address }` is taken too (through {@link addressInputText}): its name is kept exactly.
 *
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ADDRESS`, with `position`) when the input is not
 *   exactly one well-formed mailbox: a group, a list, CR/LF/NUL, or a syntax error.
 * @see RFC 5322 §3.4, RFC 6532 §3.2, RFC 2047 §5 (3)
 */
export function parseAddress(input: AddressInput): Address {
  if (typeof input === 'object' && input !== null) return addressFromObject(input, 'address');
  assertString(input, 'address');
  return parseMailbox(input);
}

function parseMailbox(input: string): Address {
  const p: Parser = new Parser(input);
  p.skipCfws();
  if (p.atEnd()) p.fail('empty address');
  const start = p.pos;
  const entry = p.entry(true);
  if ('group' in entry) p.fail('expected a single mailbox, found a group', start);
  if (!p.atEnd()) {
    if (p.peek() === ',') p.fail('expected a single mailbox, found a list (use parseAddressList)');
    p.unexpected('end of address');
  }
  return entry as Address;
}

/**
 * Parsed addresses by input text, for one sender of many messages (a handler keeps one, so nothing
 * is shared between handlers or kept at module level). Successes only; bounded in entries and in the
 * length of a text kept. Values are immutable, so one value serves every message that repeats the text.
 * Pays (bench/micro/address.bench.ts): a parse costs microseconds, a hit a map lookup.
 */
export class AddressCache {
  static readonly MAX_ENTRIES = 1024;
  static readonly MAX_TEXT = 512;
  readonly #mailboxes = new Map<string, Address>();
  readonly #lists = new Map<string, readonly AddressEntry<Address>[]>();

  /** {@link parseAddress} of a string, remembered. */
  mailbox(text: string): Address {
    const hit = this.#mailboxes.get(text);
    if (hit !== undefined) return hit;
    const value = parseAddress(text);
    remember(this.#mailboxes, text, value);
    return value;
  }

  /** {@link parseAddressList}, remembered; the array is shared: never change it. */
  list(text: string): readonly AddressEntry<Address>[] {
    const hit = this.#lists.get(text);
    if (hit !== undefined) return hit;
    const value = Object.freeze(parseAddressList(text));
    remember(this.#lists, text, value);
    return value;
  }
}

function remember<V>(map: Map<string, V>, text: string, value: V): void {
  if (text.length > AddressCache.MAX_TEXT) return;
  if (map.size >= AddressCache.MAX_ENTRIES) map.delete(map.keys().next().value as string);
  map.set(text, value);
}

/**
 * Parses an RFC 5322 address-list: mailboxes and groups separated by commas. Groups are kept as
 * {@link Group} entries (see {@link flattenAddresses}). Empty elements (`a@x,,b@y`) are skipped as
 * RFC 5322 §4.4 obs-addr-list allows; an empty or blank input gives `[]`.
 *
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ADDRESS`, with `position`) on malformed input.
 * @see RFC 5322 §3.4
 */
export function parseAddressList(input: string): AddressEntry<Address>[] {
  assertString(input, 'address list');
  const p: Parser = new Parser(input);
  const out: AddressEntry<Address>[] = [];
  for (;;) {
    p.skipCfws();
    if (p.atEnd()) return out;
    if (p.peek() === ',') {
      p.pos = p.pos + 1;
      continue;
    }
    out.push(p.entry(true));
    if (p.atEnd()) return out;
    if (p.peek() !== ',') p.unexpected('"," between addresses');
    p.pos = p.pos + 1;
  }
}

/** The mailboxes of a parsed list, with every group replaced by its members, in order. */
export function flattenAddresses<M extends Mailbox>(entries: readonly AddressEntry<M>[]): M[] {
  const out: M[] = [];
  for (const e of entries) {
    if ('group' in e) out.push(...e.members);
    else out.push(e);
  }
  return out;
}

/** A display name as an RFC 5322 phrase: atoms, a quoted-string, or RFC 2047 encoded-words (also List-Id, RFC 2919). */
export function formatPhrase(name: string, field: string): string {
  if (findLineBreak(name) !== null) {
    throw new InvalidArgumentError(`${field} must not contain CR, LF or NUL (nor VT, FF, U+0085, U+2028, U+2029)`, {
      code: ErrorCodes.HEADER_INJECTION,
      field,
    });
  }
  // "=?" would read as an encoded-word to lenient decoders even inside quotes: encode instead.
  const needsEncoding = /[^\x20-\x7e]/.test(name) || name.includes('=?');
  if (needsEncoding) return encodeWords(name);
  if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/.test(name)) return name;
  return quoteString(name);
}

/** A bare addr-spec (RFC 5321 form: no comments, no white space) as an Address value. */
function strictMailbox(address: unknown, name: string | null): Address {
  assertString(address, 'address');
  const p: Parser = new Parser(address, true);
  const spec = p.addrSpec();
  if (!p.atEnd()) p.unexpected('end of address');
  return new Address(name, spec);
}

/**
 * A parsed mailbox as header text, without parsing anything again: `Name <local@domain>`, with the
 * domain as A-labels when `asciiDomain` (so only a non-ASCII local part stays UTF-8, RFC 6531).
 */
export function formatMailbox(m: Address, asciiDomain: boolean): string {
  const address = asciiDomain ? m.wire : m.address;
  if (m.name === null || m.name === '') return address;
  return `${formatPhrase(m.name, 'display name')} <${address}>`;
}

/**
 * A parsed entry as header text, without parsing anything again; with `asciiDomain` every domain is
 * written as A-labels (only a non-ASCII local part stays UTF-8, RFC 6531).
 */
export function formatEntry(entry: AddressEntry<Address>, asciiDomain: boolean): string {
  if (!('group' in entry)) return formatMailbox(entry, asciiDomain);
  return formatGroup(
    entry.group,
    entry.members.map((m) => formatMailbox(m, asciiDomain)),
  );
}

function formatGroup(group: string, members: readonly string[]): string {
  const name = group === '' ? '""' : formatPhrase(group, 'group name');
  return members.length === 0 ? `${name}:;` : `${name}: ${members.join(', ')};`;
}

/**
 * Formats a mailbox or group as header text: `addr`, `Name <addr>`, `"Doe, John" <addr>`,
 * `=?UTF-8?…?= <addr>`, or `Team: a, b;`. No folding (the MIME builder folds). The address is
 * written as given: a Unicode domain or local part stays Unicode (RFC 6532); the caller converts
 * the domain with {@link toAsciiDomain} when the message must be 7-bit.
 * A string argument is parsed first (one mailbox or group) and written back normalised.
 * For any entry `x` this function accepts, `parseAddress(formatAddress(x))` deep-equals `x`
 * (an empty name formats as no name, and parses back as `null`).
 *
 * @throws InvalidArgumentError `ERR_SMTP_HEADER_INJECTION` when a name holds CR, LF or NUL;
 *   `ERR_SMTP_INVALID_ADDRESS` when an address is not an addr-spec.
 * @see RFC 5322 §3.4, RFC 2047 §5 (3)
 */
export function formatAddress(entry: AddressEntry | string): string {
  if (entry instanceof Address) return formatMailbox(entry, false);
  if (typeof entry === 'string') {
    const list = parseAddressList(entry);
    if (list.length !== 1) {
      throw new InvalidArgumentError(`Invalid address: expected one mailbox or group, found ${list.length}`, {
        code: ErrorCodes.INVALID_ADDRESS,
        field: 'address',
      });
    }
    return formatAddress(list[0] as AddressEntry);
  }
  if (entry === null || typeof entry !== 'object') {
    throw new InvalidArgumentError('address must be a mailbox, a group or a string', {
      code: ErrorCodes.INVALID_ADDRESS,
      field: 'address',
    });
  }
  if ('group' in entry) {
    return formatGroup(
      entry.group,
      entry.members.map((m) => formatAddress(m)),
    );
  }
  return formatMailbox(strictMailbox(entry.address, entry.name ?? null), false);
}

/**
 * The text of an address as a caller gave it: a string as is; the object form `{ name?, address }`
 * written by {@link formatAddress}, so that `parseAddress` of the result gives back exactly that
 * name and address (a comma or quote in the name is quoted, non-ASCII is encoded). This is the one
 * place the object form is accepted: every other step (validation, headers, envelope) reads text.
 *
 * @throws InvalidArgumentError `ERR_SMTP_INVALID_ADDRESS` when `input` is neither a string nor such
 *   an object, or `address` is not a bare addr-spec; `ERR_SMTP_HEADER_INJECTION` for CR, LF or NUL.
 */
const ADDRESS_OBJECT_KEYS = ['name', 'address'] as const;

export function addressInputText(input: unknown, field = 'address'): string {
  if (typeof input === 'string') return input;
  return formatMailbox(addressFromObject(input, field), false);
}

/**
 * The object form `{ name?, address }` as an Address value: its address parsed once as a bare
 * addr-spec, its name kept exactly (`''` is no name). Errors as {@link addressInputText}.
 */
export function addressFromObject(input: unknown, field = 'address'): Address {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`${field} ${why}`, { code: ErrorCodes.INVALID_ADDRESS, field });
  };
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return fail(`must be a string or { name, address }, got ${input === null ? 'null' : typeof input}`);
  }
  const unknown = findUnknownKey(input, ADDRESS_OBJECT_KEYS, field);
  if (unknown !== null) {
    // An unknown key is one fault class wherever it is: ERR_SMTP_INVALID_ARGUMENT (options.ts's wording).
    throw new InvalidArgumentError(unknown.message, { field: `${field}.${unknown.key}` });
  }
  const { name, address } = input as AddressObject;
  if (typeof address !== 'string') fail('.address must be a string');
  if (name !== undefined && name !== null && typeof name !== 'string') fail('.name must be a string');
  assertNoInjection(address, `${field}.address`);
  if (typeof name === 'string') assertNoInjection(name, `${field}.name`);
  return strictMailbox(address, name === undefined || name === null || name === '' ? null : name);
}

/**
 * Checks a bare mailbox address `local@domain` against RFC 5321 §4.1.2 (no comments or white
 * space outside a quoted local part), RFC 6531 (UTF-8 local parts allowed) and the limits (see
 * {@link checkMailboxParts}). Returns null when it is valid, otherwise a sentence saying what is
 * wrong (never throws).
 */
export function checkMailboxAddress(address: string, options: MailboxCheckOptions = {}): string | null {
  if (typeof address !== 'string') return 'address must be a string';
  if (address.length === 0) return 'address is empty';
  let parsed: Address;
  try {
    parsed = strictMailbox(address, null);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return checkMailboxParts(parsed, options);
}

/** `checkMailboxAddress(address, options) === null`: see {@link checkMailboxAddress}. */
export function isValidMailboxAddress(address: string, options?: MailboxCheckOptions): boolean {
  return checkMailboxAddress(address, options) === null;
}

/**
 * The address as it goes into `MAIL FROM:<…>` / `RCPT TO:<…>`: `local@ascii-domain`. Accepts a
 * bare address or any single-mailbox RFC 5322 form (the display name is dropped). The local
 * part is left as is: when it is non-ASCII the server must offer SMTPUTF8 (see {@link needsSmtpUtf8}).
 *
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ADDRESS`) when the address does not parse or its
 *   domain is not a valid hostname or address literal.
 * @see RFC 5321 §4.1.2, RFC 6531 §3.3
 */
export function envelopeAddress(address: string): string {
  return parseAddress(address).wire;
}

/**
 * True when the address's local part holds non-ASCII characters, so the envelope needs the
 * SMTPUTF8 extension (RFC 6531). A non-ASCII domain does not count: it converts to punycode.
 * Accepts a bare address or a single-mailbox RFC 5322 form; for unparsable input it looks at the
 * text before the last `@`.
 */
export function needsSmtpUtf8(address: string): boolean {
  if (typeof address !== 'string') return false;
  try {
    return parseAddress(address).smtpUtf8;
  } catch {
    // The raw text: the caller gets a best-effort answer, validation reports the error.
    const at = address.lastIndexOf('@');
    return NON_ASCII.test(at < 0 ? address : address.slice(0, at));
  }
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * An envelope path given as text (`SmtpConnection.sendMail` without a declared SMTPUTF8 need) as it
 * goes on the wire: parsed once, the domain as A-labels, and whether SMTPUTF8 is needed (the one
 * answer: a non-ASCII local part). `''` (the null sender) and text that does not parse as one mailbox
 * stay as given, needing SMTPUTF8 when they hold non-ASCII; the command builder refuses what it must.
 */
export function wirePath(text: string): { path: string; smtpUtf8: boolean } {
  if (text === '') return { path: text, smtpUtf8: false };
  try {
    const m = parseAddress(text);
    return { path: m.wire, smtpUtf8: m.smtpUtf8 };
  } catch {
    return { path: text, smtpUtf8: NON_ASCII.test(text) };
  }
}
