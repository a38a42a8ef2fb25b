/**
 * Caller options → one {@link PreparedMessage}, in one pass: every address parsed once (by the
 * builder, which owns the header form), every rule applied once by the module that owns it, and the
 * facts the engine needs (envelope, size, 8-bit and SMTPUTF8 needs, Message-ID, the caller's spelling
 * of each recipient) decided here and never again downstream.
 *
 * This module owns the *limits* (ValidationLimits: lengths, counts, sizes); the address rules live in
 * address.ts, the header/cid/content-type rules in mime/headers.ts, the attachment rules in
 * mime/attachment.ts, the SMTP line rule in protocol/dot-stuff.ts. `SmtpMessageValidator` is a view
 * over the functions below. Pure: no socket.
 */
import { isAscii } from 'node:buffer';
import type { Readable } from 'node:stream';
import { ErrorCodes, InvalidArgumentError } from '../errors.js';
import { toWireBody, type WireBody } from '../protocol/dot-stuff.js';
import {
  type Address,
  type AddressCache,
  addressFromObject,
  flattenAddresses,
  parseAddress,
  parseAddressList,
} from './address.js';
import { type BuildMessageOptions, type BuiltMessage, buildMessage } from './mime/builder.js';
import { assertNoInjection } from './mime/headers.js';
import type { AddressInput, MessageInput } from './types.js';
import { DEFAULT_VALIDATION_LIMITS, MB, type ValidationLimits } from './validation-limits.js';

/**
 * What the engine may send for one attempt: in memory and known to be in wire form (`WireBody`), in
 * memory and not yet checked (the transaction plan checks it), or a stream.
 */
export type PreparedBody = WireBody | Uint8Array | string | Readable | AsyncIterable<Uint8Array | string>;

/** The SMTP envelope with every need decided (structurally the engine's `Envelope`). */
export interface PreparedEnvelope {
  readonly from: string;
  readonly to: readonly string[];
  /** Octets as transmitted, when known before sending (SIZE=, RFC 1870). */
  readonly size?: number;
  /** BODY=8BITMIME needed; undefined: unknown (a stream), the engine finds out while streaming. */
  readonly eightBit?: boolean;
  readonly smtpUtf8: boolean;
}

/** One message, ready for the engine. Immutable; nothing downstream re-derives any of it. */
export interface PreparedMessage {
  readonly envelope: PreparedEnvelope;
  /** RFC 5322 Message-ID with angle brackets; null when a raw stream's cannot be read. */
  readonly messageId: string | null;
  /** The body can be produced again for a retry. */
  readonly replayable: boolean;
  /** The body for one attempt; null when a one-shot source was already taken. */
  body(): PreparedBody | null;
  /** The caller's address part for an envelope address (matched case-insensitively); the wire form otherwise. */
  asGiven(wire: string): string;
}

/** Bodies up to this size are built in memory once and reused across attempts. */
export const IN_MEMORY_LIMIT = 1024 * 1024;

/** A value for an error message: JSON-quoted (so CR/LF show as `\r\n`), long values cut. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** `26214400` → `25 MB (26214400 bytes)`; under 1 MB just bytes. */
function size(bytes: number): string {
  if (bytes < MB) return `${bytes} bytes`;
  const mb = bytes / MB;
  return `${Number.isInteger(mb) ? String(mb) : mb.toFixed(1)} MB (${bytes} bytes)`;
}

function invalidArg(message: string, field: string, code: string = ErrorCodes.INVALID_ARGUMENT): InvalidArgumentError {
  return new InvalidArgumentError(message, { field, code: code as typeof ErrorCodes.INVALID_ARGUMENT });
}

// ── the limits (this module's own rules) ───────────────────────────────────────────────────────

/**
 * A parsed mailbox against the address rules (address.ts) under the limits; reads the value, parses nothing.
 * @throws InvalidArgumentError `ERR_SMTP_INVALID_ADDRESS`, `label: invalid email address "…": why`.
 */
export function checkMailboxLimits(address: Address, limits: Readonly<ValidationLimits>, label: string): void {
  const reason = address.check(limits);
  if (reason !== null) {
    throw invalidArg(
      `${label}invalid email address ${show(address.address)}: ${reason.replace(/^Invalid address: /, '')}`,
      label.replace(/: $/, '') || 'address',
      ErrorCodes.INVALID_ADDRESS,
    );
  }
}

/** One RFC 5322 mailbox (`a@b.example`, `"Doe, John" <a@b.example>`), parsed by address.ts. */
export function parseMailbox(input: unknown, label = '', cache?: AddressCache): Address {
  const field = label.replace(/: $/, '') || 'address';
  if (isObject(input)) return addressFromObject(input, field);
  const text = addressText(input, label, field);
  try {
    return cache === undefined ? parseAddress(text) : cache.mailbox(text);
  } catch (err) {
    const e = err as InvalidArgumentError;
    throw new InvalidArgumentError(
      `${label}invalid email address ${show(input)}: ${e.message.replace(/^Invalid address: /, '')}`,
      { field, code: e.code as typeof ErrorCodes.INVALID_ADDRESS, cause: err },
    );
  }
}

function isObject(input: unknown): input is object {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

/**
 * An address argument that is not `{ name, address }` (address.ts owns that form) as text.
 * @throws InvalidArgumentError for another type or an empty string.
 */
function addressText(input: unknown, label: string, field: string): string {
  if (typeof input !== 'string')
    throw invalidArg(`${label}email address must be a string, got ${describeType(input)}`, field);
  if (input.trim().length === 0) throw invalidArg(`${label}email address is empty`, field, ErrorCodes.INVALID_ADDRESS);
  return input;
}

/** Every mailbox of one list item (a mailbox, or a group's members). @throws InvalidArgumentError naming `field`. */
function parseListItem(input: unknown, label: string, field: string, cache?: AddressCache): Address[] {
  if (isObject(input)) return [addressFromObject(input, field)];
  const text = addressText(input, label, field);
  try {
    return flattenAddresses(cache === undefined ? parseAddressList(text) : cache.list(text));
  } catch (err) {
    const e = err as InvalidArgumentError;
    throw new InvalidArgumentError(
      `${label}invalid email address ${show(input)}: ${e.message.replace(/^Invalid address: /, '')}`,
      { field, code: e.code as typeof ErrorCodes.INVALID_ADDRESS, cause: err },
    );
  }
}

/** @throws InvalidArgumentError when there is no recipient, or more than `maxRecipients`. */
export function checkRecipientCount(total: number, limits: Readonly<ValidationLimits>): void {
  if (total === 0)
    throw invalidArg(
      'at least one recipient is required (toAddresses, ccAddresses or bccAddresses)',
      'toAddresses',
      ErrorCodes.INVALID_ADDRESS,
    );
  if (total > limits.maxRecipients) {
    throw invalidArg(
      `too many recipients: ${total} across To, Cc and Bcc, the limit is ${limits.maxRecipients} (limits.maxRecipients)`,
      'toAddresses',
    );
  }
}

/**
 * To/Cc/Bcc lists as the validator sees them: arrays of RFC 5322 address lists (groups allowed,
 * as the builder allows them), each mailbox under the limits.
 */
export function checkRecipientLists(
  lists: readonly (readonly [string, unknown])[],
  limits: Readonly<ValidationLimits>,
): void {
  const parsed: [string, Address[]][] = [];
  for (const [field, list] of lists) {
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list))
      throw invalidArg(`${field} must be an array of addresses, got ${describeType(list)}`, field);
    const mailboxes: Address[] = [];
    list.forEach((input: unknown, i: number) => {
      mailboxes.push(...parseListItem(input, `${field}[${i}]: `, `${field}[${i}]`));
    });
    parsed.push([field, mailboxes]);
  }
  checkRecipientCount(
    parsed.reduce((n, [, m]) => n + m.length, 0),
    limits,
  );
  for (const [field, mailboxes] of parsed) {
    mailboxes.forEach((m, i) => void checkMailboxLimits(m, limits, `${field}[${i}]: `));
  }
}

/** A subject: a string, no CR/LF/NUL (the one guard), at most `maxSubjectLength` code points. */
export function checkSubject(subject: unknown, limits: Readonly<ValidationLimits>): void {
  if (typeof subject !== 'string')
    throw invalidArg(`subject must be a string, got ${describeType(subject)}`, 'subject');
  assertNoInjection(subject, 'subject');
  let length = 0;
  for (const _ of subject) length++;
  if (length > limits.maxSubjectLength) {
    throw invalidArg(
      `subject is ${length} characters, over the limit of ${limits.maxSubjectLength} (limits.maxSubjectLength)`,
      'subject',
    );
  }
}

/** The text and HTML bodies: optional strings of at most `maxBodySize` UTF-8 octets each. */
export function checkBodies(text: unknown, html: unknown, limits: Readonly<ValidationLimits>): void {
  for (const [field, body] of [
    ['textBody', text],
    ['htmlBody', html],
  ] as const) {
    if (body === undefined || body === null) continue;
    if (typeof body !== 'string') throw invalidArg(`${field} must be a string, got ${describeType(body)}`, field);
    // Cheap bound first: a string's UTF-8 size is at most 3 × its length.
    if (body.length * 3 > limits.maxBodySize) {
      const bytes = Buffer.byteLength(body, 'utf8');
      if (bytes > limits.maxBodySize)
        throw invalidArg(
          `${field} is ${size(bytes)}, over the limit of ${size(limits.maxBodySize)} (limits.maxBodySize)`,
          field,
        );
    }
  }
}

/** Decoded attachment sizes (null: a stream, not counted) against the per-file and total limits. */
export function checkAttachmentSizes(
  sizes: readonly (number | null)[],
  labels: readonly string[],
  limits: Readonly<ValidationLimits>,
): void {
  let total = 0;
  sizes.forEach((bytes, i) => {
    if (bytes === null) return;
    if (bytes > limits.maxAttachmentSize) {
      throw invalidArg(
        `${labels[i]} is ${size(bytes)}, over the limit of ${size(limits.maxAttachmentSize)} (limits.maxAttachmentSize)`,
        `attachments[${i}]`,
        ErrorCodes.INVALID_ATTACHMENT,
      );
    }
    total += bytes;
  });
  if (total > limits.maxTotalAttachmentSize) {
    throw invalidArg(
      `attachments total ${size(total)}, over the limit of ${size(limits.maxTotalAttachmentSize)} (limits.maxTotalAttachmentSize)`,
      'attachments',
      ErrorCodes.INVALID_ATTACHMENT,
    );
  }
}

// ── sendMessage: MessageInput → PreparedMessage ───────────────────────────────────────────────

export interface PrepareMessageOptions {
  limits?: Readonly<ValidationLimits>;
  /** The sender when the message names none (the handler's `fromAddress`). */
  defaultFrom?: AddressInput | undefined;
  messageId?: string | undefined;
  /** Overrides the SMTP envelope (header addresses stay as they are). */
  envelope?: { from: string; to: readonly string[] } | undefined;
  /** Check the sender against the limits (the validator skips it when the message names none). */
  checkFrom?: boolean;
  /** Parsed addresses by text, kept by the caller across messages (the handler keeps one). */
  addresses?: AddressCache | undefined;
}

/**
 * Applies every message rule once and builds the message.
 * @throws InvalidArgumentError with the owning rule's code (`ERR_SMTP_INVALID_ADDRESS`,
 *   `ERR_SMTP_HEADER_INJECTION`, `ERR_SMTP_INVALID_HEADER`, `ERR_SMTP_INVALID_ATTACHMENT`, …).
 */
export function prepareMessage(input: MessageInput, options: PrepareMessageOptions = {}): PreparedMessage {
  const limits = options.limits ?? DEFAULT_VALIDATION_LIMITS;
  if (typeof input !== 'object' || input === null)
    throw invalidArg(`message must be an object, got ${describeType(input)}`, 'message');
  // Cheap checks first, before any encoding work.
  checkSubject(input.subject, limits);
  checkBodies(input.textBody, input.htmlBody, limits);
  const fromAddress = input.fromAddress ?? options.defaultFrom;
  if (fromAddress === undefined || fromAddress === null)
    throw invalidArg(
      'fromAddress is required (in sendMessage or the handler options)',
      'fromAddress',
      ErrorCodes.INVALID_ADDRESS,
    );
  // Every field the builder owns goes through unchanged (new MessageInput fields included).
  const buildOptions: BuildMessageOptions = { ...input, fromAddress };
  if (options.messageId !== undefined) buildOptions.messageId = options.messageId;
  const built = buildMessage(buildOptions, options.addresses);
  const { addresses } = built;
  if (options.checkFrom !== false) checkMailboxLimits(addresses.from, limits, 'fromAddress: ');
  checkRecipientCount(addresses.to.length + addresses.cc.length + addresses.bcc.length, limits);
  for (const [field, list] of [
    ['toAddresses', addresses.to],
    ['ccAddresses', addresses.cc],
    ['bccAddresses', addresses.bcc],
  ] as const) {
    list.forEach((m, i) => void checkMailboxLimits(m, limits, `${field}[${i}]: `));
  }
  for (const [i, m] of addresses.replyTo.entries()) checkMailboxLimits(m, limits, `replyTo[${i}]: `);
  checkAttachmentSizes(
    built.attachmentSizes,
    built.attachmentSizes.map((_, i) => `attachments[${i}] (${show(input.attachments?.[i]?.filename)})`),
    limits,
  );
  return fromBuilt(built, options.envelope, limits, options.addresses);
}

function fromBuilt(
  built: BuiltMessage,
  override: PrepareMessageOptions['envelope'],
  limits: Readonly<ValidationLimits>,
  cache: AddressCache | undefined,
): PreparedMessage {
  const asGiven = new Map<string, string>();
  for (const list of [built.addresses.to, built.addresses.cc, built.addresses.bcc])
    for (const m of list) asGiven.set(m.wire.toLowerCase(), m.address);
  let from = built.envelope.from;
  let to: readonly string[] = built.envelope.to;
  let smtpUtf8 = built.needsSmtpUtf8;
  if (override !== undefined) {
    const env = parseEnvelope(override.from, override.to, asGiven, limits, cache);
    from = env.from;
    to = env.to;
    smtpUtf8 ||= env.smtpUtf8;
  }
  let body: () => PreparedBody | null;
  if (built.inMemory && built.size !== null && built.size <= IN_MEMORY_LIMIT) {
    // The builder writes wire form (CRLF lines within 998 octets) and this buffer is never handed out:
    // it is a WireBody as built, without a scan (a scan costs ~0.1 ms on 100 KB: a search per line).
    const wire: WireBody = { kind: 'wire', bytes: built.toBufferSync() };
    body = () => wire;
  } else {
    let used = false;
    body = () => {
      if (!built.replayable && used) return null;
      used = true;
      return built.stream();
    };
  }
  return Object.freeze({
    envelope: Object.freeze({
      from,
      to,
      eightBit: built.has8bit,
      smtpUtf8,
      ...(built.size === null ? {} : { size: built.size }),
    }),
    messageId: built.messageId,
    replayable: built.replayable,
    body,
    asGiven: (wire: string) => lookup(asGiven, wire),
  });
}

function lookup(asGiven: ReadonlyMap<string, string>, wire: string): string {
  // Only an IDN domain differs on the wire (punycode); anything else is the caller's own text.
  if (!wire.includes('xn--') && !wire.includes('XN--')) return wire;
  return asGiven.get(wire.toLowerCase()) ?? wire;
}

/**
 * Envelope addresses → wire forms, by the same rules as message addresses: RFC 5322 forms (a group
 * or list in `to` gives its members), each under the limits; `''` is the null sender. Recipients
 * spelled differently on the wire go into `asGiven` (made when first needed). With a cache,
 * a text seen before is neither parsed nor checked again (the value remembers its verdict).
 */
function parseEnvelope(
  fromInput: unknown,
  toInput: unknown,
  given: Map<string, string> | null,
  limits: Readonly<ValidationLimits>,
  cache: AddressCache | undefined,
): { from: string; to: string[]; smtpUtf8: boolean; asGiven: Map<string, string> | null } {
  let asGiven = given;
  let from = '';
  let smtpUtf8 = false;
  if (fromInput !== '') {
    const sender = parseMailbox(fromInput, 'envelope.from: ', cache);
    checkMailboxLimits(sender, limits, 'envelope.from: ');
    from = sender.wire;
    smtpUtf8 = sender.smtpUtf8;
  }
  if (!Array.isArray(toInput) || toInput.length === 0)
    throw invalidArg('envelope.to must name at least one recipient', 'envelope.to', ErrorCodes.INVALID_ADDRESS);
  let mailboxes: Address[];
  if (toInput.length === 1) {
    mailboxes = parseListItem(toInput[0], 'envelope.to[0]: ', 'envelope.to[0]', cache);
  } else {
    mailboxes = [];
    for (let i = 0; i < toInput.length; i++)
      mailboxes.push(...parseListItem(toInput[i], `envelope.to[${i}]: `, `envelope.to[${i}]`, cache));
  }
  checkRecipientCount(mailboxes.length, limits);
  const to: string[] = [];
  for (let i = 0; i < mailboxes.length; i++) {
    const m = mailboxes[i] as Address;
    checkMailboxLimits(m, limits, `envelope.to[${i}]: `);
    const wire = m.wire;
    // Only an IDN domain is spelled differently on the wire: nothing to remember otherwise.
    if (wire !== m.address) {
      asGiven ??= new Map();
      asGiven.set(wire.toLowerCase(), m.address);
    }
    smtpUtf8 ||= m.smtpUtf8;
    to.push(wire);
  }
  return { from, to, smtpUtf8, asGiven };
}

// ── sendRaw: bytes or a stream → PreparedMessage ──────────────────────────────────────────────

/** A raw message: bytes, or a factory giving a fresh stream per attempt (a bare stream can be sent once). */
export type RawMessageInput = Buffer | Uint8Array | string | Readable | (() => Readable);

/** The envelope of `sendRaw`, with what the caller declares about a stream it cannot be read for. */
export interface RawEnvelopeInput {
  from: AddressInput;
  to: readonly AddressInput[];
  /** The message has 8-bit octets (BODY=8BITMIME). Undeclared for a stream: found while streaming. */
  eightBit?: boolean;
  /** Needs SMTPUTF8 beyond what the addresses say (e.g. UTF-8 headers). */
  smtpUtf8?: boolean;
  /** Octets as transmitted (SIZE=). Undeclared for a stream: counted while streaming. */
  size?: number;
}

/**
 * Reads what it can from a raw message: in memory, its size as transmitted, 8-bit octets, the
 * Message-ID, and every line's length (an over-long line is INVALID here, before a byte is sent);
 * for a stream, the caller's declarations (the engine checks the rest while streaming, before the
 * final dot).
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ADDRESS`, `ERR_SMTP_BODY_LINE_TOO_LONG`, …).
 */
export function prepareRaw(
  envelope: RawEnvelopeInput,
  message: RawMessageInput,
  options: {
    messageId?: string | undefined;
    limits?: Readonly<ValidationLimits>;
    /** Parsed addresses by text, kept by the caller across messages (the handler keeps one). */
    addresses?: AddressCache | undefined;
  } = {},
): PreparedMessage {
  if (typeof envelope !== 'object' || envelope === null)
    throw invalidArg('envelope must be an object with from and to', 'envelope');
  const env = parseEnvelope(
    envelope.from,
    envelope.to,
    null,
    options.limits ?? DEFAULT_VALIDATION_LIMITS,
    options.addresses,
  );
  const asGiven = env.asGiven;
  for (const key of ['eightBit', 'smtpUtf8'] as const) {
    if (envelope[key] !== undefined && typeof envelope[key] !== 'boolean')
      throw invalidArg(`envelope.${key} must be a boolean`, `envelope.${key}`);
  }
  if (envelope.size !== undefined && (!Number.isSafeInteger(envelope.size) || envelope.size < 0))
    throw invalidArg('envelope.size must be a non-negative integer (octets)', 'envelope.size');
  const smtpUtf8 = env.smtpUtf8 || envelope.smtpUtf8 === true;
  const inMemory =
    typeof message === 'string' ? Buffer.from(message, 'utf8') : message instanceof Uint8Array ? message : null;
  let eightBit = envelope.eightBit;
  let transmitted = envelope.size;
  let messageId = options.messageId ?? null;
  let body: () => PreparedBody | null;
  if (inMemory) {
    // The SMTP line rule's owner runs once here: a bad line is INVALID with nothing sent. The body is
    // encoded only when it must change, and what was encoded is what is sent.
    const wire = toWireBody(inMemory);
    transmitted ??= wire.bytes.length;
    eightBit ??= !isAscii(inMemory);
    messageId ??= readMessageId(inMemory);
    body = () => wire;
  } else if (typeof message === 'function') {
    body = () => message();
  } else if (message !== null && typeof message === 'object' && Symbol.asyncIterator in message) {
    let used = false;
    body = () => {
      if (used) return null;
      used = true;
      return message;
    };
  } else {
    throw invalidArg('message must be a Buffer, Uint8Array, string, Readable or a function giving one', 'message');
  }
  return Object.freeze({
    envelope: Object.freeze({
      from: env.from,
      to: env.to,
      smtpUtf8,
      ...(eightBit === undefined ? {} : { eightBit }),
      ...(transmitted === undefined ? {} : { size: transmitted }),
    }),
    messageId,
    replayable: inMemory !== null || typeof message === 'function',
    body,
    // Only an IDN recipient is spelled differently on the wire: most messages need no lookup.
    asGiven: asGiven === null ? sameText : (wire: string) => lookup(asGiven, wire),
  });
}

function sameText(wire: string): string {
  return wire;
}

const MESSAGE_ID_HEADER = /^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^>\r\n]+>)/im;

/** How much of a message without a blank line is read as its header block. */
const HEADER_BLOCK_MAX = 64 * 1024;

/**
 * The header block of a raw message, as text: up to the first blank line (CRLF CRLF, or LF LF from a
 * lenient writer), at most 64 KiB when there is none. The one reader of where the header ends.
 */
export function headerBlock(message: Uint8Array, encoding: 'latin1' | 'utf8' = 'latin1'): string {
  const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  let end = buf.indexOf('\r\n\r\n');
  if (end === -1) end = buf.indexOf('\n\n');
  return buf.toString(encoding, 0, end === -1 ? Math.min(buf.length, HEADER_BLOCK_MAX) : end);
}

/** The Message-ID of a raw message, read from its header block only (the one reader: the outbox calls it too). */
export function readMessageId(message: Uint8Array): string | null {
  const m = MESSAGE_ID_HEADER.exec(headerBlock(message));
  return m ? m[1]! : null;
}
