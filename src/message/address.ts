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
import { toAsciiDomain } from './address-check.js';
import { type AddressEntry, assertString, type Mailbox, Parser, quoteString } from './address-parser.js';
import { encodeWords } from './mime/encodings.js';
import { assertNoInjection } from './mime/headers.js';
import type { AddressInput, AddressObject } from './types.js';

export {
  checkMailboxAddress,
  DEFAULT_MAX_ADDRESS_LENGTH,
  DEFAULT_MAX_LABEL_LENGTH,
  DEFAULT_MAX_LOCAL_PART_LENGTH,
  isValidMailboxAddress,
  type MailboxCheckOptions,
  toAsciiDomain,
} from './address-check.js';
export type { AddressEntry, Group, Mailbox } from './address-parser.js';

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
export function parseAddress(input: AddressInput): Mailbox {
  if (typeof input === 'object' && input !== null) return parseMailbox(addressInputText(input));
  assertString(input, 'address');
  // The same sender and recipients come back message after message: parse each text once.
  const hit = mailboxCache.get(input);
  if (hit !== undefined) return { name: hit.name, address: hit.address };
  const mailbox = parseMailbox(input);
  if (input.length > MAX_CACHED_INPUT) return mailbox;
  if (mailboxCache.size >= MAILBOX_CACHE_SIZE) mailboxCache.delete(mailboxCache.keys().next().value!);
  mailboxCache.set(input, { name: mailbox.name, address: mailbox.address });
  return mailbox;
}

/**
 * Successful parses only (failures are cheap to repeat and carry positions); copies are handed out.
 * Kept because it pays (2026-11-30, Node 20, this VM): a miss costs 1.76 µs, a hit 0.015 µs; a sender
 * and its recipients repeat message after message (~3.5 µs of a ~115 µs 1 KB `sendMessage`).
 */
const MAILBOX_CACHE_SIZE = 1024;
/** Longer texts are not kept, so the cache stays small whatever callers pass. */
const MAX_CACHED_INPUT = 512;
const mailboxCache = new Map<string, Mailbox>();

function parseMailbox(input: string): Mailbox {
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
  return entry;
}

/**
 * Parses an RFC 5322 address-list: mailboxes and groups separated by commas. Groups are kept as
 * {@link Group} entries (see {@link flattenAddresses}). Empty elements (`a@x,,b@y`) are skipped as
 * RFC 5322 §4.4 obs-addr-list allows; an empty or blank input gives `[]`.
 *
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ADDRESS`, with `position`) on malformed input.
 * @see RFC 5322 §3.4
 */
export function parseAddressList(input: string): AddressEntry[] {
  assertString(input, 'address list');
  const p: Parser = new Parser(input);
  const out: AddressEntry[] = [];
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
export function flattenAddresses(entries: readonly AddressEntry[]): Mailbox[] {
  const out: Mailbox[] = [];
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

/** Checks that `address` is an addr-spec and returns its canonical text. */
function canonicalAddrSpec(address: unknown): string {
  assertString(address, 'address');
  const p: Parser = new Parser(address, true);
  const spec = p.addrSpec();
  if (!p.atEnd()) p.unexpected('end of address');
  return `${spec.local}@${spec.domain}`;
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
    const name = entry.group === '' ? '""' : formatPhrase(entry.group, 'group name');
    const members = entry.members.map((m) => formatAddress(m));
    return members.length === 0 ? `${name}:;` : `${name}: ${members.join(', ')};`;
  }
  const address = canonicalAddrSpec(entry.address);
  if (entry.name === null || entry.name === undefined || entry.name === '') return address;
  return `${formatPhrase(entry.name, 'display name')} <${address}>`;
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
  return formatAddress({ name: name ?? null, address });
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
  const { address: spec } = parseAddress(address);
  const at = spec.lastIndexOf('@');
  return `${spec.slice(0, at)}@${toAsciiDomain(spec.slice(at + 1))}`;
}

/**
 * True when the address's local part holds non-ASCII characters, so the envelope needs the
 * SMTPUTF8 extension (RFC 6531). A non-ASCII domain does not count: it converts to punycode.
 * Accepts a bare address or a single-mailbox RFC 5322 form; for unparsable input it looks at the
 * text before the last `@`.
 */
export function needsSmtpUtf8(address: string): boolean {
  if (typeof address !== 'string') return false;
  let spec = address;
  try {
    spec = parseAddress(address).address;
  } catch {
    // Fall through with the raw text: the caller gets a best-effort answer, validation reports the error.
  }
  const at = spec.lastIndexOf('@');
  return /[^\x00-\x7f]/.test(at < 0 ? spec : spec.slice(0, at));
}
