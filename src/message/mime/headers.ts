/**
 * Header-level helpers of the MIME builder: field-name and value checks (RFC 5322 §2.2, §3.6),
 * the Date format (RFC 5322 §3.3), Message-ID, and the extension → content-type table.
 */
import { domainToASCII } from 'node:url';
import { assertNoLineBreaks, ErrorCodes, InvalidArgumentError } from '../../errors.js';
import {
  encodeUnstructured,
  foldHeader,
  MAX_ENCODED_WORD_LENGTH,
  MAX_HARD_LINE_LENGTH,
  MAX_LINE_LENGTH,
} from './encodings.js';

/** RFC 5322 §2.2: a field name is one or more printable US-ASCII characters except `:`. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/** True when `name` is an RFC 5322 §2.2 field name (the one rule: DKIM's header lists use it too). */
export function isFieldName(name: unknown): name is string {
  return typeof name === 'string' && FIELD_NAME.test(name);
}

/**
 * Header fields the builder writes itself. A custom header with one of these names is refused
 * (use the matching option instead): a second From or Content-Type would make the message
 * ambiguous, and Bcc must never appear at all.
 */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
]);

/**
 * Throws `InvalidArgumentError` (`ERR_SMTP_HEADER_INJECTION`) when `value` holds CR, LF or NUL.
 * This is the one guard that keeps a caller's value from starting a new header line.
 */
export function assertNoInjection(value: string, field: string): void {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(`${field} must be a string`, { field, code: ErrorCodes.INVALID_ARGUMENT });
  }
  assertNoLineBreaks(value, field);
}

/** RFC 2392 / RFC 5322 §3.6.4: an id that goes inside `<…>`: printable ASCII without brackets or space. */
const CID = /^[\x21-\x3b\x3d\x3f-\x7e]+$/;

/**
 * The one owner of the Content-ID rule: `logo` and `<logo>` are the same id (the brackets are
 * removed); what remains must be printable ASCII without spaces or angle brackets.
 * @returns the id without brackets. @throws InvalidArgumentError (`ERR_SMTP_HEADER_INJECTION`,
 *   `ERR_SMTP_INVALID_ATTACHMENT`).
 */
export function normalizeCid(cid: unknown, field: string): string {
  if (typeof cid !== 'string')
    throw new InvalidArgumentError(`${field} must be a string`, { field, code: ErrorCodes.INVALID_ATTACHMENT });
  assertNoInjection(cid, field);
  const id = cid.replace(/^<(.*)>$/, '$1');
  if (!CID.test(id)) {
    throw new InvalidArgumentError(
      `${field} ${JSON.stringify(cid)} must be printable ASCII without spaces or angle brackets`,
      {
        field,
        code: ErrorCodes.INVALID_ATTACHMENT,
      },
    );
  }
  return id;
}

/**
 * Fields a body part's own `headers` may not set: the builder writes them from the part's options
 * (contentType, contentDisposition, cid), and a second one would make the part ambiguous.
 */
export const PART_RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'content-id',
  'mime-version',
]);

/**
 * Checks a custom header name: RFC 5322 §2.2 field-name syntax, and not one of the fields the
 * builder owns (`reserved`, default the message's own fields). Throws `InvalidArgumentError`
 * (`ERR_SMTP_HEADER_INJECTION` for CR/LF/NUL, `ERR_SMTP_INVALID_HEADER` otherwise).
 */
export function assertCustomHeaderName(
  name: string,
  field = `customHeaders[${JSON.stringify(name)}]`,
  reserved: ReadonlySet<string> = RESERVED_FIELDS,
): void {
  assertNoInjection(name, field);
  if (!FIELD_NAME.test(name)) {
    throw new InvalidArgumentError(
      `${field}: ${JSON.stringify(name)} is not a valid header name (printable US-ASCII without ':' or space, RFC 5322 §2.2)`,
      {
        field,
        code: ErrorCodes.INVALID_HEADER,
      },
    );
  }
  if (reserved.has(name.toLowerCase())) {
    throw new InvalidArgumentError(`${field}: ${name} is written by the builder; use the matching option`, {
      field,
      code: ErrorCodes.INVALID_HEADER,
    });
  }
}

/** Throws when a folded header has a line over 998 octets (a word too long to fold). */
export function assertHeaderLines(folded: string, field: string): void {
  for (const line of folded.split('\r\n')) {
    if (Buffer.byteLength(line, 'utf8') > MAX_HARD_LINE_LENGTH) {
      throw new InvalidArgumentError(
        `${field}: header line longer than ${MAX_HARD_LINE_LENGTH} octets (RFC 5322 §2.1.1)`,
        { field, code: ErrorCodes.INVALID_HEADER },
      );
    }
  }
}

/**
 * A caller's extra header fields (a message's `customHeaders` or a part's `headers`), checked and
 * folded: names by {@link assertCustomHeaderName}, values by {@link assertNoInjection}; non-ASCII
 * words become RFC 2047 encoded-words (the field's structure is unknown, so long ASCII tokens stay
 * whole). `label` names the option in errors. Returns the CRLF-terminated fields.
 */
export function customHeaderFields(
  headers: unknown,
  label: string,
  reserved: ReadonlySet<string> = RESERVED_FIELDS,
): string {
  if (headers === undefined || headers === null) return '';
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    throw new InvalidArgumentError(`${label} must be an object`, { field: label, code: ErrorCodes.INVALID_HEADER });
  }
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    const field = `${label}[${JSON.stringify(name)}]`;
    assertCustomHeaderName(name, field, reserved);
    assertNoInjection(value, field);
    // Words sized so the first one fits after `Name: ` (never shorter than a few characters).
    const maxWordLength = Math.min(MAX_ENCODED_WORD_LENGTH, Math.max(24, MAX_LINE_LENGTH - name.length - 2));
    const folded = foldHeader(name, encodeUnstructured(value, { maxWordLength }));
    assertHeaderLines(folded, field);
    out += folded;
  }
  return out;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/**
 * Formats `date` as an RFC 5322 §3.3 date-time in UTC, e.g. `Mon, 01 Jan 2024 09:05:00 +0000`.
 * Throws `InvalidArgumentError` for an invalid Date.
 */
export function formatDate(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError('date must be a valid Date', { field: 'date' });
  }
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${DAYS[date.getUTCDay()]!}, ${pad(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]!} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

/** RFC 5322 §3.6.4 msg-id: `<` dot-atom-text `@` (dot-atom-text / no-fold-literal) `>`, ASCII. */
const MSG_ID =
  /^<[!#$%&'*+\-/=?^_`{|}~0-9A-Za-z]+(\.[!#$%&'*+\-/=?^_`{|}~0-9A-Za-z]+)*@([!#$%&'*+\-/=?^_`{|}~0-9A-Za-z]+(\.[!#$%&'*+\-/=?^_`{|}~0-9A-Za-z]+)*|\[[\x21-\x5a\x5e-\x7e]*\])>$/;

/**
 * Checks a caller's Message-ID (with angle brackets, RFC 5322 §3.6.4). Throws
 * `InvalidArgumentError` (`ERR_SMTP_HEADER_INJECTION` or `ERR_SMTP_INVALID_HEADER`).
 */
export function assertMessageId(messageId: string): void {
  assertNoInjection(messageId, 'messageId');
  if (!MSG_ID.test(messageId)) {
    throw new InvalidArgumentError('messageId must look like <id@domain> (RFC 5322 §3.6.4)', {
      field: 'messageId',
      code: ErrorCodes.INVALID_HEADER,
    });
  }
}

/**
 * The right-hand side for a generated Message-ID: the sender's domain in ASCII (IDNA for a
 * non-ASCII domain), or `localhost` when there is none usable.
 */
export function messageIdDomain(address: string): string {
  const at = address.lastIndexOf('@');
  const domain = at >= 0 ? address.slice(at + 1) : '';
  if (/^\[[\x21-\x5a\x5e-\x7e]*\]$/.test(domain)) return domain; // address literal
  const ascii = /^[\x21-\x7e]+$/.test(domain) ? domain : domainToASCII(domain);
  return /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(ascii) ? ascii : 'localhost';
}

/** Fallback type for an unknown extension (RFC 2046 §4.5.1). */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** A small built-in extension → MIME type table; no dependency. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  txt: 'text/plain',
  text: 'text/plain',
  log: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  htm: 'text/html',
  html: 'text/html',
  css: 'text/css',
  js: 'text/javascript',
  mjs: 'text/javascript',
  ics: 'text/calendar',
  vcf: 'text/vcard',
  xml: 'application/xml',
  json: 'application/json',
  pdf: 'application/pdf',
  rtf: 'application/rtf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tgz: 'application/gzip',
  tar: 'application/x-tar',
  '7z': 'application/x-7z-compressed',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  odt: 'application/vnd.oasis.opendocument.text',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  odp: 'application/vnd.oasis.opendocument.presentation',
  eml: 'message/rfc822',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  bmp: 'image/bmp',
  ico: 'image/vnd.microsoft.icon',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  heic: 'image/heic',
  avif: 'image/avif',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  m4a: 'audio/mp4',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mov: 'video/quicktime',
  avi: 'video/x-msvideo',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
};

/** MIME type for `filename` from its extension (case-insensitive), else `application/octet-stream`. */
export function guessContentType(filename: string): string {
  const dot = filename.lastIndexOf('.');
  if (dot < 0) return DEFAULT_CONTENT_TYPE;
  return CONTENT_TYPES[filename.slice(dot + 1).toLowerCase()] ?? DEFAULT_CONTENT_TYPE;
}

/**
 * RFC 2045 §5.1: `type/subtype`, both tokens, then optional `; attribute=value` parameters, separated by spaces
 * and tabs only (JavaScript's `\s` would let VT, FF and U+2028 into the header), quoted values in printable ASCII.
 */
const CONTENT_TYPE =
  /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+([ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+=("([\x20\x21\x23-\x5b\x5d-\x7e\t]|\\[\x20-\x7e])*"|[!#$%&'*+\-.^_`|~0-9A-Za-z]+))*[ \t]*$/;
/** A parameter's attribute: `name`, `name*`, `name*0`, `name*0*` … (RFC 2231) are one parameter. */
const PARAMETER = /;[ \t]*([!#$%&'+\-.^_`|~0-9A-Za-z]+)(?:\*\d*\*?)?=/g;

/**
 * Checks an attachment's `contentType`: RFC 2045 §5.1 syntax in printable ASCII, not `multipart/*`
 * (its body must be a MIME structure, which an attachment is not). Returns it trimmed.
 * Throws `InvalidArgumentError` (`ERR_SMTP_HEADER_INJECTION` or `ERR_SMTP_INVALID_ATTACHMENT`).
 */
export function checkContentType(contentType: string, field: string): string {
  assertNoInjection(contentType, field);
  const trimmed = contentType.trim();
  if (/^multipart\//i.test(trimmed)) {
    throw new InvalidArgumentError(`${field}: an attachment cannot be multipart/* (its body is not a MIME structure)`, {
      field,
      code: ErrorCodes.INVALID_ATTACHMENT,
    });
  }
  if (!CONTENT_TYPE.test(trimmed)) {
    throw new InvalidArgumentError(
      `${field} ${JSON.stringify(contentType)} is not a MIME type such as "application/pdf" (type/subtype, then ; name=value parameters, RFC 2045 §5.1)`,
      { field, code: ErrorCodes.INVALID_ATTACHMENT },
    );
  }
  // The part's file name is the attachment's `filename` alone: a `name` parameter here would give readers a
  // second one (one reads `name`, another the disposition's `filename`). A repeated parameter is ambiguous too.
  const seen = new Set<string>();
  for (const [, attribute] of trimmed.replace(/"([^"\\]|\\.)*"/g, '""').matchAll(PARAMETER)) {
    const key = attribute!.toLowerCase();
    if (key === 'name' || key === 'filename' || seen.has(key))
      throw new InvalidArgumentError(
        `${field}: the parameter ${JSON.stringify(attribute)} ${seen.has(key) ? 'is repeated' : 'is not allowed here (the file name comes from filename)'}`,
        { field, code: ErrorCodes.INVALID_ATTACHMENT },
      );
    seen.add(key);
  }
  return trimmed;
}
