/**
 * Message validation before anything is sent: addresses, recipients, subject, bodies,
 * attachments and custom headers, against configurable limits.
 *
 * Every `SmtpMessageValidator` method returns a {@link ValidationResult} and never throws: an
 * invalid message becomes an `INVALID` delivery result, not an exception. Error messages say which
 * field, which value and which limit, so a user can fix the input.
 */
import { statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ErrorCodes, InvalidArgumentError } from '../errors.js';
import { assertKnownNestedKeys } from '../options.js';
import { checkMailboxAddress, parseAddress } from './address.js';
import type { AddressInput, AttachmentInput, MessageInput } from './types.js';

/** One mebibyte: every "MB" in these limits means 1024 × 1024 bytes. */
export const MB = 1024 * 1024;

/**
 * Limits applied by {@link SmtpMessageValidator}. Sizes are bytes; "MB" means 1024 × 1024 bytes.
 * Address lengths are octets (UTF-8) with the domain in its ASCII (punycode) form.
 */
export interface ValidationLimits {
  /** Whole address `local@domain`. Default 254 (RFC 5321 §4.5.3.1.3: 256-octet path minus `<>`). */
  maxAddressLength: number;
  /** Local part. Default 64 (RFC 5321 §4.5.3.1.1). */
  maxLocalPartLength: number;
  /** Each domain label. Default 63 (RFC 1035 §2.3.4). */
  maxLabelLength: number;
  /** Subject, in characters (Unicode code points). Default 998 (RFC 5322 §2.1.1 line limit). */
  maxSubjectLength: number;
  /** Each of the text and HTML bodies, in UTF-8 bytes. Default 100 MB. */
  maxBodySize: number;
  /** One attachment, decoded bytes. Default 25 MB (a common server limit). */
  maxAttachmentSize: number;
  /** All attachments together, decoded bytes. Default 100 MB. */
  maxTotalAttachmentSize: number;
  /** Recipients across To + Cc + Bcc. Default 100. */
  maxRecipients: number;
  /** Refuse single-label domains (`user@example`); false allows them for intranets. Default true. */
  requireTld: boolean;
}

/** The reference design's limits (`MB` = 1024 × 1024 bytes). Frozen. */
export const DEFAULT_VALIDATION_LIMITS: Readonly<ValidationLimits> = Object.freeze({
  maxAddressLength: 254, // RFC 5321 §4.5.3.1.3
  maxLocalPartLength: 64, // RFC 5321 §4.5.3.1.1
  maxLabelLength: 63, // RFC 1035 §2.3.4
  maxSubjectLength: 998, // RFC 5322 §2.1.1
  maxBodySize: 100 * MB,
  maxAttachmentSize: 25 * MB,
  maxTotalAttachmentSize: 100 * MB,
  maxRecipients: 100,
  requireTld: true,
});

/** The outcome of one check: `error` is a sentence a user can act on, null when valid. */
export interface ValidationResult {
  valid: boolean;
  error: string | null;
}

const LIMIT_KEYS = Object.keys(DEFAULT_VALIDATION_LIMITS) as (keyof ValidationLimits)[];

/**
 * Fills a partial set of limits with the defaults and checks it: numbers must be positive safe
 * integers, `requireTld` a boolean, and no unknown keys (a typo would otherwise be ignored).
 * Returns a frozen object; `undefined` gives {@link DEFAULT_VALIDATION_LIMITS}.
 *
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ARGUMENT`) naming the field, e.g. `limits.maxRecipients`.
 */
export function resolveLimits(partial?: Partial<ValidationLimits> | null): Readonly<ValidationLimits> {
  if (partial === undefined || partial === null || partial === DEFAULT_VALIDATION_LIMITS)
    return DEFAULT_VALIDATION_LIMITS;
  if (typeof partial !== 'object' || Array.isArray(partial)) {
    throw new InvalidArgumentError('limits must be an object', { code: ErrorCodes.INVALID_ARGUMENT, field: 'limits' });
  }
  assertKnownNestedKeys(partial, LIMIT_KEYS, 'limits');
  const out: ValidationLimits = { ...DEFAULT_VALIDATION_LIMITS };
  for (const key of Object.keys(partial)) {
    const field = `limits.${key}`;
    const value = (partial as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (key === 'requireTld') {
      if (typeof value !== 'boolean') {
        throw new InvalidArgumentError(`${field} must be a boolean, got ${show(value)}`, {
          code: ErrorCodes.INVALID_ARGUMENT,
          field,
        });
      }
      out.requireTld = value;
    } else {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
        throw new InvalidArgumentError(`${field} must be a positive integer, got ${show(value)}`, {
          code: ErrorCodes.INVALID_ARGUMENT,
          field,
        });
      }
      (out as unknown as Record<string, number>)[key] = value;
    }
  }
  return Object.freeze(out);
}

/** A value for an error message: JSON-quoted (so CR/LF show as `\r\n`), long values cut. */
function show(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** `26214400` → `25 MB (26214400 bytes)`; under 1 MB just bytes; non-whole sizes get one decimal. */
function size(bytes: number): string {
  if (bytes < MB) return `${bytes} bytes`;
  const mb = bytes / MB;
  const text = Number.isInteger(mb) ? String(mb) : mb.toFixed(1);
  return `${text} MB (${bytes} bytes)`;
}

const LINE_BREAK = /[\r\n\0]/;
/** RFC 5322 §3.6.8 field-name: printable ASCII 33..126 except ":". */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
/** RFC 2045 §5.1 `type "/" subtype` tokens, optionally followed by `; parameters`. */
const CONTENT_TYPE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*(?:;.*)?$/;
/** Standard base64 alphabet (RFC 4648 §4), padding optional. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A fresh result each time: callers may keep or change it. */
function valid(): ValidationResult {
  return { valid: true, error: null };
}

function invalid(error: string): ValidationResult {
  return { valid: false, error };
}

/** Runs a check so that nothing it does can throw out of the validator. */
function guard(run: () => ValidationResult): ValidationResult {
  try {
    return run();
  } catch (err) {
    return invalid(err instanceof Error ? err.message : String(err));
  }
}

function lineBreakError(field: string, value: string): string | null {
  const m = LINE_BREAK.exec(value);
  if (m === null) return null;
  const what = m[0] === '\r' ? 'CR' : m[0] === '\n' ? 'LF' : 'NUL';
  return `${field} must not contain CR, LF or NUL (found ${what} at index ${m.index})`;
}

/** Decoded byte length of validated base64 text (whitespace already removed). */
function base64DecodedLength(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.floor(((text.length - padding) * 3) / 4);
}

function isReadable(value: unknown): value is Readable {
  return (
    value instanceof Readable ||
    (typeof value === 'object' && value !== null && typeof (value as { pipe?: unknown }).pipe === 'function')
  );
}

/**
 * The known decoded size of one attachment, null when it is a stream (unknowable before
 * reading), or an error message.
 */
function attachmentSize(att: AttachmentInput, label: string): { bytes: number | null } | { error: string } {
  if (att.data !== undefined && att.data !== null) {
    if (typeof att.data !== 'string')
      return { error: `${label}: data must be a base64 string, got ${describeType(att.data)}` };
    // Line-wrapped base64 (MIME style) is accepted: white space carries no data.
    const text = att.data.replace(/[ \t\r\n]+/g, '');
    if (!BASE64.test(text) || (text.endsWith('=') && text.length % 4 !== 0) || text.length % 4 === 1) {
      return { error: `${label}: data is not valid base64 (RFC 4648 §4 alphabet, "=" padding only at the end)` };
    }
    return { bytes: base64DecodedLength(text) };
  }
  if (att.content !== undefined && att.content !== null) {
    const c: unknown = att.content;
    if (typeof c === 'string') return { bytes: Buffer.byteLength(c, 'utf8') };
    if (c instanceof Uint8Array) return { bytes: c.byteLength };
    if (isReadable(c)) return { bytes: null };
    return { error: `${label}: content must be a Buffer, Uint8Array, string or Readable, got ${describeType(c)}` };
  }
  const path: unknown = att.path;
  if (typeof path !== 'string' || path.length === 0) return { error: `${label}: path must be a non-empty string` };
  if (path.includes('\0')) return { error: `${label}: path must not contain NUL` };
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      error:
        code === 'ENOENT'
          ? `${label}: file not found: ${show(path)}`
          : `${label}: cannot read ${show(path)} (${code ?? String(err)})`,
    };
  }
  if (!stats.isFile()) return { error: `${label}: ${show(path)} is not a regular file` };
  return { bytes: stats.size };
}

/**
 * Static checks for a message before sending, after the reference design's
 * `SMTPMessageValidator`. Each method returns `{ valid, error }` and never throws; each takes
 * optional `limits` (a `Partial<ValidationLimits>`, defaults {@link DEFAULT_VALIDATION_LIMITS});
 * limits that are themselves invalid give `{ valid: false }` naming the field.
 */
export class SmtpMessageValidator {
  /**
   * One address in any single-mailbox RFC 5322 form (`a@b.example`, `"Doe, John" <a@b.example>`);
   * the address part is checked against RFC 5321 §4.1.2 and the limits (see `checkMailboxAddress`
   * in address.ts). A UTF-8 local part is valid (it needs SMTPUTF8 at send time); an IDN domain
   * is valid when it converts to punycode; an IP literal needs no TLD.
   */
  static validateEmailAddress(email: AddressInput, limits?: Partial<ValidationLimits>): ValidationResult {
    return guard(() => {
      const l = resolveLimits(limits);
      const error = addressError(email, l);
      return error === null ? valid() : invalid(error);
    });
  }

  /**
   * To, Cc and Bcc lists: at least one recipient in all, at most `maxRecipients` together, and
   * each address valid. Errors name the entry, e.g. `ccAddresses[2]`.
   */
  static validateRecipients(
    to: readonly AddressInput[],
    cc?: readonly AddressInput[] | null,
    bcc?: readonly AddressInput[] | null,
    limits?: Partial<ValidationLimits>,
  ): ValidationResult {
    return guard(() => {
      const l = resolveLimits(limits);
      const lists: [string, unknown][] = [
        ['toAddresses', to],
        ['ccAddresses', cc],
        ['bccAddresses', bcc],
      ];
      let total = 0;
      for (const [field, list] of lists) {
        if (list === undefined || list === null) continue;
        if (!Array.isArray(list)) return invalid(`${field} must be an array of addresses, got ${describeType(list)}`);
        total += list.length;
      }
      if (total === 0) return invalid('at least one recipient is required (toAddresses, ccAddresses or bccAddresses)');
      if (total > l.maxRecipients) {
        return invalid(
          `too many recipients: ${total} across To, Cc and Bcc, the limit is ${l.maxRecipients} (limits.maxRecipients)`,
        );
      }
      for (const [field, list] of lists) {
        if (!Array.isArray(list)) continue;
        for (let i = 0; i < list.length; i++) {
          const error = addressError(list[i], l);
          if (error !== null) return invalid(`${field}[${i}]: ${error}`);
        }
      }
      return valid();
    });
  }

  /**
   * A subject: a string without CR, LF or NUL (header injection), at most `maxSubjectLength`
   * characters (code points). An empty subject is valid.
   */
  static validateSubject(subject: string, limits?: Partial<ValidationLimits>): ValidationResult {
    return guard(() => {
      const l = resolveLimits(limits);
      if (typeof subject !== 'string') return invalid(`subject must be a string, got ${describeType(subject)}`);
      const br = lineBreakError('subject', subject);
      if (br !== null) return invalid(br);
      let length = 0;
      for (const _ of subject) length++;
      if (length > l.maxSubjectLength) {
        return invalid(
          `subject is ${length} characters, over the limit of ${l.maxSubjectLength} (limits.maxSubjectLength)`,
        );
      }
      return valid();
    });
  }

  /**
   * The text and HTML bodies: each optional, each a string of at most `maxBodySize` UTF-8 bytes
   * (MB = 1024 × 1024 bytes). A message with neither body is valid (e.g. attachments only).
   */
  static validateBody(
    textBody?: string | null,
    htmlBody?: string | null,
    limits?: Partial<ValidationLimits>,
  ): ValidationResult {
    return guard(() => {
      const l = resolveLimits(limits);
      for (const [field, body] of [
        ['textBody', textBody],
        ['htmlBody', htmlBody],
      ] as const) {
        if (body === undefined || body === null) continue;
        if (typeof body !== 'string') return invalid(`${field} must be a string, got ${describeType(body)}`);
        // Cheap bound first: a string's UTF-8 size is between length and 3 × length.
        if (body.length * 3 > l.maxBodySize) {
          const bytes = Buffer.byteLength(body, 'utf8');
          if (bytes > l.maxBodySize) {
            return invalid(`${field} is ${size(bytes)}, over the limit of ${size(l.maxBodySize)} (limits.maxBodySize)`);
          }
        }
      }
      return valid();
    });
  }

  /**
   * Attachments: each an object with a non-empty `filename` (no CR, LF or NUL), exactly one
   * source (`data`, `content` or `path`), a well-formed `contentType` and `cid` when given.
   * `data` must be valid base64 (line-wrapped is fine); a `path` is checked with `fs.statSync`
   * (a missing file or a directory is invalid). Decoded sizes are checked against
   * `maxAttachmentSize` each and `maxTotalAttachmentSize` together (MB = 1024 × 1024 bytes).
   *
   * A `content` that is a `Readable` is accepted without a size check: its size cannot be known
   * before it is read, so it is not counted in the total either.
   */
  static validateAttachments(
    attachments: readonly AttachmentInput[] | null | undefined,
    limits?: Partial<ValidationLimits>,
  ): ValidationResult {
    return guard(() => {
      const l = resolveLimits(limits);
      if (attachments === undefined || attachments === null) return valid();
      if (!Array.isArray(attachments)) return invalid(`attachments must be an array, got ${describeType(attachments)}`);
      let total = 0;
      for (let i = 0; i < attachments.length; i++) {
        const att: unknown = attachments[i];
        if (typeof att !== 'object' || att === null || Array.isArray(att)) {
          return invalid(`attachments[${i}] must be an object, got ${describeType(att)}`);
        }
        const a = att as AttachmentInput;
        if (typeof a.filename !== 'string' || a.filename.length === 0) {
          return invalid(`attachments[${i}].filename must be a non-empty string`);
        }
        const label = `attachments[${i}] (${show(a.filename)})`;
        const br = lineBreakError(`${label}: filename`, a.filename);
        if (br !== null) return invalid(br);
        if (a.contentType !== undefined && a.contentType !== null) {
          if (
            typeof a.contentType !== 'string' ||
            LINE_BREAK.test(a.contentType) ||
            !CONTENT_TYPE.test(a.contentType)
          ) {
            return invalid(`${label}: contentType ${show(a.contentType)} is not a MIME type such as "application/pdf"`);
          }
        }
        if (a.cid !== undefined && a.cid !== null) {
          if (typeof a.cid !== 'string' || !/^[\x21-\x3b\x3d\x3f-\x7e]+$/.test(a.cid)) {
            return invalid(`${label}: cid ${show(a.cid)} must be printable ASCII without spaces or angle brackets`);
          }
        }
        const sources = (['data', 'content', 'path'] as const).filter((k) => a[k] !== undefined && a[k] !== null);
        if (sources.length !== 1) {
          return invalid(
            `${label}: give exactly one of data, content or path` +
              (sources.length === 0 ? ' (none given)' : ` (found ${sources.join(' and ')})`),
          );
        }
        const s = attachmentSize(a, label);
        if ('error' in s) return invalid(s.error);
        if (s.bytes === null) continue;
        if (s.bytes > l.maxAttachmentSize) {
          return invalid(
            `${label} is ${size(s.bytes)}, over the limit of ${size(l.maxAttachmentSize)} (limits.maxAttachmentSize)`,
          );
        }
        total += s.bytes;
      }
      if (total > l.maxTotalAttachmentSize) {
        return invalid(
          `attachments total ${size(total)}, over the limit of ${size(l.maxTotalAttachmentSize)} (limits.maxTotalAttachmentSize)`,
        );
      }
      return valid();
    });
  }

  /**
   * The whole message, in this order: limits, `fromAddress` (when given), recipients,
   * `replyTo` (when given), subject, bodies, attachments, custom headers (names must be RFC 5322
   * §3.6.8 field names: printable ASCII 33..126 except ":"; values strings without CR, LF or NUL).
   * Returns the first problem found.
   */
  static validateMessage(input: MessageInput, limits?: Partial<ValidationLimits>): ValidationResult {
    return guard(() => {
      const l = resolveLimits(limits);
      if (typeof input !== 'object' || input === null)
        return invalid(`message must be an object, got ${describeType(input)}`);
      if (input.fromAddress !== undefined && input.fromAddress !== null) {
        const error = addressError(input.fromAddress, l);
        if (error !== null) return invalid(`fromAddress: ${error}`);
      }
      const checks: (() => ValidationResult)[] = [
        () => SmtpMessageValidator.validateRecipients(input.toAddresses, input.ccAddresses, input.bccAddresses, l),
        () => {
          if (input.replyTo === undefined || input.replyTo === null) return valid();
          // One address or a list of them.
          const list: readonly unknown[] = Array.isArray(input.replyTo) ? input.replyTo : [input.replyTo];
          for (let i = 0; i < list.length; i++) {
            const error = addressError(list[i], l);
            if (error !== null) return invalid(`replyTo${Array.isArray(input.replyTo) ? `[${i}]` : ''}: ${error}`);
          }
          return valid();
        },
        () => SmtpMessageValidator.validateSubject(input.subject, l),
        () => SmtpMessageValidator.validateBody(input.textBody, input.htmlBody, l),
        () => SmtpMessageValidator.validateAttachments(input.attachments, l),
        () => validateCustomHeaders(input.customHeaders),
      ];
      for (const check of checks) {
        const r = check();
        if (!r.valid) return r;
      }
      return valid();
    });
  }
}

function validateCustomHeaders(headers: unknown): ValidationResult {
  if (headers === undefined || headers === null) return valid();
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    return invalid(`customHeaders must be an object of name → value, got ${describeType(headers)}`);
  }
  for (const [name, value] of Object.entries(headers)) {
    if (!FIELD_NAME.test(name)) {
      return invalid(`customHeaders: ${show(name)} is not a valid header name (printable ASCII except ":", no spaces)`);
    }
    if (typeof value !== 'string')
      return invalid(`customHeaders[${show(name)}] must be a string, got ${describeType(value)}`);
    const br = lineBreakError(`customHeaders[${show(name)}]`, value);
    if (br !== null) return invalid(br);
  }
  return valid();
}

/** Null when `email` is one valid mailbox under the limits, else a message naming it. */
function addressError(input: unknown, l: Readonly<ValidationLimits>): string | null {
  if (typeof input === 'object' && input !== null) {
    // The object form { name, address }: parseAddress checks it and keeps the name as given.
    let address: string;
    try {
      address = parseAddress(input as AddressInput).address;
    } catch (err) {
      return `invalid email address: ${err instanceof Error ? err.message : String(err)}`;
    }
    const reason = checkMailboxAddress(address, l);
    return reason === null
      ? null
      : `invalid email address ${show(address)}: ${reason.replace(/^Invalid address: /, '')}`;
  }
  if (typeof input !== 'string')
    return `email address must be a string or { name, address }, got ${describeType(input)}`;
  const email = input;
  if (email.trim().length === 0) return 'email address is empty';
  const prefix = `invalid email address ${show(email)}`;
  const br = lineBreakError('an email address', email);
  if (br !== null) return `${prefix}: ${br}`;
  let address: string;
  try {
    address = parseAddress(email).address;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return `${prefix}: ${message.replace(/^Invalid address: /, '')}`;
  }
  const reason = checkMailboxAddress(address, l);
  return reason === null ? null : `${prefix}: ${reason.replace(/^Invalid address: /, '')}`;
}
