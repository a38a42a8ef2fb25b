/**
 * One builder per SMTP verb, each returning the exact wire line (CRLF included).
 * Every caller-supplied value is checked here, before a byte is written: CR, LF or NUL would let a
 * caller smuggle a second command (RFC 5321 §2.3.8, §4.1.1).
 */
import { assertNoLineBreaks, ErrorCodes, InvalidArgumentError } from '../errors.js';

const CRLF = '\r\n';
// No command-line length cap: RFC 5321 §4.5.3.1.4's 512 octets grow with every extension's
// parameters (RFC 1869 §4.1.2) and AUTH lines may reach 12288 (RFC 4954 §4); the server decides.

/** ESMTP parameter keyword: `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")` (RFC 5321 §4.1.2). */
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
/** `esmtp-value = 1*(%d33-60 / %d62-126)`: printable, no "=", no space. UTF-8 allowed with SMTPUTF8. */
const VALUE = /^[\x21-\x3c\x3e-\x7e\u0080-\uffff]+$/;

/** ESMTP parameters for MAIL and RCPT: `{ SIZE: 1234, BODY: '8BITMIME', SMTPUTF8: true }`. */
export type EsmtpParams = Readonly<Record<string, string | number | true | undefined>>;

function params(p: EsmtpParams | undefined): string {
  if (!p) return '';
  let out = '';
  for (const key of Object.keys(p)) {
    const value = p[key];
    if (value === undefined) continue;
    if (!KEYWORD.test(key)) {
      throw new InvalidArgumentError(`invalid ESMTP parameter name ${JSON.stringify(key)}`, { field: key });
    }
    if (value === true) {
      out += ` ${key}`;
      continue;
    }
    const text = String(value);
    if (!VALUE.test(text)) {
      throw new InvalidArgumentError(`invalid value for ESMTP parameter ${key}`, { field: key });
    }
    out += ` ${key}=${text}`;
  }
  return out;
}

/**
 * Checks an envelope address (the part between `<` and `>`). The empty string is the null
 * reverse-path `<>` (bounces). Spaces are allowed only inside a quoted local part.
 */
export function checkPath(address: string, field: string): void {
  assertNoLineBreaks(address, field);
  if (/[<>]/.test(address)) {
    throw new InvalidArgumentError(`${field} must not contain '<' or '>'`, { field, code: ErrorCodes.INVALID_ADDRESS });
  }
  const unquoted = address.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  if (/\s/.test(unquoted)) {
    throw new InvalidArgumentError(`${field} must not contain white space outside a quoted local part`, {
      field,
      code: ErrorCodes.INVALID_ADDRESS,
    });
  }
}

function domainArg(name: string): string {
  assertNoLineBreaks(name, 'clientName');
  if (name === '' || /\s/.test(name)) {
    throw new InvalidArgumentError('clientName must be a domain or an address literal without spaces', {
      field: 'clientName',
    });
  }
  return name;
}

/** RFC 3461 §4: xtext, for ENVID and ORCPT values. */
export function xtext(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out +=
      byte >= 33 && byte <= 126 && byte !== 0x2b && byte !== 0x3d
        ? String.fromCharCode(byte)
        : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export const ehlo = (clientName: string): string => `EHLO ${domainArg(clientName)}${CRLF}`;
export const helo = (clientName: string): string => `HELO ${domainArg(clientName)}${CRLF}`;
/** LMTP's greeting verb (RFC 2033 §4.1), EHLO's twin. */
export const lhlo = (clientName: string): string => `LHLO ${domainArg(clientName)}${CRLF}`;
export const starttls = (): string => `STARTTLS${CRLF}`;

export function mail(from: string, p?: EsmtpParams): string {
  checkPath(from, 'from');
  return `MAIL FROM:<${from}>${params(p)}${CRLF}`;
}

export function rcpt(to: string, p?: EsmtpParams): string {
  checkPath(to, 'recipient');
  if (to === '')
    throw new InvalidArgumentError('recipient must not be empty', {
      field: 'recipient',
      code: ErrorCodes.INVALID_ADDRESS,
    });
  return `RCPT TO:<${to}>${params(p)}${CRLF}`;
}

export const data = (): string => `DATA${CRLF}`;

/** RFC 3030 §2: `BDAT size [LAST]`; the chunk's bytes follow the line at once. */
export function bdat(size: number, last: boolean): string {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new InvalidArgumentError('BDAT size must be a non-negative integer', { field: 'size' });
  return last ? `BDAT ${size} LAST${CRLF}` : `BDAT ${size}${CRLF}`;
}

export const rset = (): string => `RSET${CRLF}`;
export const noop = (): string => `NOOP${CRLF}`;
export const quit = (): string => `QUIT${CRLF}`;

/** `AUTH mechanism [initial-response]` (RFC 4954 §4); the response is base64 or `=` for empty. */
export function auth(mechanism: string, initialResponse?: string | null): string {
  if (!/^[A-Z0-9_-]{1,20}$/i.test(mechanism))
    throw new InvalidArgumentError('invalid SASL mechanism name', { field: 'authMethod' });
  if (initialResponse === undefined || initialResponse === null) return `AUTH ${mechanism.toUpperCase()}${CRLF}`;
  return `AUTH ${mechanism.toUpperCase()} ${saslLine(initialResponse)}${CRLF}`;
}

/**
 * One client line of a SASL exchange: base64 text, `*` to cancel (RFC 4954 §4), or an empty line
 * for an empty response (`=` is the initial response's form only).
 */
export function saslResponse(payload: string): string {
  return payload === '' ? CRLF : `${saslLine(payload)}${CRLF}`;
}

function saslLine(payload: string): string {
  if (payload === '') return '=';
  if (payload !== '*' && !/^[A-Za-z0-9+/]+=*$/.test(payload)) {
    throw new InvalidArgumentError('SASL payload must be base64', { field: 'auth' });
  }
  return payload;
}

/** What the transcript may show of a command line: AUTH payloads replaced by `****`. */
export function redactCommand(line: string): string {
  const m = /^AUTH\s+(\S+)(\s+\S.*)?$/i.exec(line.replace(/\r\n$/, ''));
  if (m) return m[2] ? `AUTH ${m[1]} ****` : `AUTH ${m[1]}`;
  return line.replace(/\r\n$/, '');
}
