import type { Readable } from 'node:stream';
import type { AlternativeInput, AttachmentInput, IcalEventInput } from '../types.js';
import { assertPartKeys, checkAttachment, partError, sourceBody, stringBytes } from './attachment.js';
import {
  base64EncodedLength,
  base64Lines,
  foldHeader,
  MAX_HARD_LINE_LENGTH,
  MAX_LINE_LENGTH,
  quotedPrintableChunks,
} from './encodings.js';
import {
  assertHeaderLines,
  assertNoInjection,
  checkContentType,
  customHeaderFields,
  PART_RESERVED_FIELDS,
} from './headers.js';
import { filenameParameter, formatParameterField, nameParameter } from './params.js';

const CRLF = '\r\n';
const CRLF_BYTES = Buffer.from(CRLF);

/** The body of a leaf, as it will be emitted. */
export type Body =
  /** Already encoded text, emitted as is (always ends in CRLF). */
  | { kind: 'encoded'; data: Buffer }
  /** Raw bytes base64-encoded while streaming. */
  | { kind: 'base64'; data: Buffer }
  | { kind: 'file'; path: string; size: number }
  | { kind: 'stream'; stream: Readable };

export interface Leaf {
  type: 'leaf';
  /** Folded Content-* header fields, each ending in CRLF. */
  headers: string;
  body: Body;
  is8bit: boolean;
}

export interface Multipart {
  type: 'multipart';
  subtype: 'mixed' | 'alternative' | 'related';
  boundary: string;
  children: Node[];
}

export type Node = Leaf | Multipart;

// ---------------------------------------------------------------------------------------------
// Text parts
// ---------------------------------------------------------------------------------------------

/** CR, LF and CRLF in any mixture become CRLF (RFC 5322 §2.3: no bare CR or LF). */
function normaliseNewlines(text: string): string {
  return onlyCrlf(text) ? text : text.replace(/\r\n|\r|\n/g, CRLF);
}

/** Every CR followed by LF and every LF preceded by CR: the text is already normal (no copy to make). */
function onlyCrlf(text: string): boolean {
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1))
    if (text.charCodeAt(i - 1) !== 0x0d) return false;
  for (let i = text.indexOf('\r'); i !== -1; i = text.indexOf('\r', i + 1))
    if (text.charCodeAt(i + 1) !== 0x0a) return false;
  return true;
}

/** Longest line in octets, lines split at CRLF (the input is normalised). */
function longestLineOctets(bytes: Buffer): number {
  let max = 0;
  let start = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    max = Math.max(max, i - 1 - start);
    start = i + 1;
  }
  return Math.max(max, bytes.length - start);
}

/** Controls other than TAB, CR and LF (and DEL), which the slow path encodes. */
const CONTROL_CHARS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/**
 * A text part: chooses the transfer encoding (RFC 2045 §6) and encodes it. `contentType` is the
 * full Content-Type value, e.g. `text/plain; charset=utf-8`; `extraHeaders` follow it.
 */
export function textLeaf(text: string, contentType: string, allow8bit: boolean, extraHeaders = ''): Leaf {
  const normal = normaliseNewlines(text);
  const bytes = Buffer.from(normal, 'utf8');
  const head = (cte: string): string =>
    foldHeader('Content-Type', contentType, { structured: true }) +
    foldHeader('Content-Transfer-Encoding', cte) +
    extraHeaders;
  // Fast path for the common case, plain ASCII with short lines: 7bit, no per-byte scan. (A UTF-8
  // encoding as long as the string means every character was ASCII.)
  if (bytes.length === normal.length && !CONTROL_CHARS.test(normal) && longestLineOctets(bytes) <= MAX_LINE_LENGTH) {
    return {
      type: 'leaf',
      headers: head('7bit'),
      body: { kind: 'encoded', data: Buffer.concat([bytes, CRLF_BYTES]) },
      is8bit: false,
    };
  }
  let hasHigh = false;
  let hasControl = false;
  let toEscape = 0; // bytes quoted-printable would write as =XX
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) {
      hasHigh = true;
      toEscape++;
    } else if (b < 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a) {
      // NUL is never allowed; other controls are legal but fragile in transit: encode them.
      hasControl = true;
      toEscape++;
    } else if (b === 0x3d || b === 0x7f) toEscape++;
  }
  const longest = longestLineOctets(bytes);
  let cte: '7bit' | '8bit' | 'quoted-printable' | 'base64';
  if (!hasHigh && !hasControl && longest <= MAX_LINE_LENGTH) cte = '7bit';
  else if (allow8bit && !hasControl && longest <= MAX_HARD_LINE_LENGTH) cte = hasHigh ? '8bit' : '7bit';
  else {
    // Quoted-printable for mostly-ASCII text, base64 when it would be shorter.
    const qpLength = bytes.length + 2 * toEscape + Math.ceil(bytes.length / 75) * 3;
    cte = qpLength <= base64EncodedLength(bytes.length) ? 'quoted-printable' : 'base64';
  }
  let data: Buffer;
  if (cte === 'base64') {
    data = bytes.length === 0 ? Buffer.from(CRLF, 'latin1') : base64Lines(bytes);
  } else {
    // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1), so one is added
    // after the text: a text ending in CRLF keeps it.
    const encoded =
      cte === 'quoted-printable' ? Buffer.from([...quotedPrintableChunks(bytes)].join(''), 'latin1') : bytes;
    data = Buffer.concat([encoded, CRLF_BYTES]);
  }
  return { type: 'leaf', headers: head(cte), body: { kind: 'encoded', data }, is8bit: cte === '8bit' };
}

// ---------------------------------------------------------------------------------------------
// Sources: data | content | path → Body
// ---------------------------------------------------------------------------------------------

const ALTERNATIVE_KEYS = [
  'contentType',
  'content',
  'encoding',
  'path',
] as const satisfies readonly (keyof AlternativeInput)[];

// ---------------------------------------------------------------------------------------------
// Attachments
// ---------------------------------------------------------------------------------------------

/**
 * Makes the leaf of attachment `where` (an index in `attachments`, or a field name; its rules are checked by attachment.ts); `related` tells the
 * builder to put it in multipart/related, `size` is its decoded size (null for a stream).
 */
export function attachmentLeaf(
  att: AttachmentInput,
  where: number | string,
): { leaf: Leaf; related: boolean; size: number | null } {
  const field = typeof where === 'number' ? `attachments[${where}]` : where;
  const { source: body, contentType, cid, disposition, size } = checkAttachment(att, where);
  // Content-Disposition first: readers that take the first name they meet (ripmime) then read the
  // RFC 2231 one (see params.ts).
  let headers =
    formatParameterField('Content-Disposition', disposition, filenameParameter(att.filename)) +
    formatParameterField('Content-Type', contentType, nameParameter(att.filename)) +
    foldHeader('Content-Transfer-Encoding', 'base64');
  if (cid !== null) headers += foldHeader('Content-ID', `<${cid}>`);
  assertHeaderLines(headers, `${field}.filename`);
  headers += customHeaderFields(att.headers, `${field}.headers`, PART_RESERVED_FIELDS);
  // A cid part belongs to the HTML (multipart/related, RFC 2387) whatever its disposition.
  return { leaf: { type: 'leaf', headers, body, is8bit: false }, related: cid !== null, size };
}

// ---------------------------------------------------------------------------------------------
// Alternatives and calendar invitations
// ---------------------------------------------------------------------------------------------

/** A Content-Type for a text part: the given one, with `charset=utf-8` added when it has none. */
function withCharset(contentType: string): string {
  return /;\s*charset=/i.test(contentType) ? contentType : `${contentType}; charset=utf-8`;
}

/**
 * One extra alternative: a text type given as a string becomes a text part (charset UTF-8 unless
 * the type names one), anything else a base64 part.
 */
export function alternativeLeaf(alt: AlternativeInput, index: number, allow8bit: boolean): Leaf {
  const field = `alternatives[${index}]`;
  if (alt === null || typeof alt !== 'object') throw partError(field, 'must be an object');
  assertPartKeys(alt, ALTERNATIVE_KEYS, field);
  if (typeof alt.contentType !== 'string') throw partError(field, 'contentType must be a string');
  const contentType = checkContentType(alt.contentType, `${field}.contentType`);
  if (typeof alt.content === 'string' && /^text\//i.test(contentType) && alt.encoding == null) {
    return textLeaf(alt.content, withCharset(contentType), allow8bit);
  }
  const body = sourceBody(alt, field, false);
  const headers =
    foldHeader('Content-Type', contentType, { structured: true }) + foldHeader('Content-Transfer-Encoding', 'base64');
  return { type: 'leaf', headers, body, is8bit: false };
}

const ICAL_KEYS = ['method', 'content', 'encoding', 'path', 'filename'] as const;

/** RFC 5546 §1.4 method names: iana-token (letters, digits, `-`). */
const ITIP_METHOD = /^[A-Za-z0-9-]+$/;

/**
 * A calendar invitation as calendar clients expect it (what Outlook, Gmail and Apple Mail act on):
 * `text/calendar; charset=utf-8; method=REQUEST` as the last alternative, and the same file as an
 * `application/ics` attachment for clients that only offer attachments.
 */
export function icalLeaves(
  input: IcalEventInput | string,
  allow8bit: boolean,
): { alternative: Leaf; attachment: Leaf } {
  const field = 'icalEvent';
  // A plain string is the calendar itself (nodemailer accepts that too).
  const ical: IcalEventInput = typeof input === 'string' ? { content: input } : input;
  if (ical === null || typeof ical !== 'object') throw partError(field, 'must be an object or the calendar text');
  assertPartKeys(ical, ICAL_KEYS, field, { href: 'href is not fetched: download the calendar and pass content' });
  const filename = ical.filename ?? 'invite.ics';
  if (typeof filename !== 'string' || filename === '') throw partError(field, 'filename must be a non-empty string');
  assertNoInjection(filename, `${field}.filename`);
  if (ical.encoding !== undefined && ical.encoding !== null && typeof ical.content !== 'string') {
    throw partError(field, 'encoding applies to a string content only');
  }
  let text: string | null = null;
  if (typeof ical.content === 'string') text = stringBytes(ical.content, ical.encoding, field).toString('utf8');
  else if (ical.content instanceof Uint8Array) text = Buffer.from(ical.content).toString('utf8');
  let method: string;
  if (ical.method !== undefined && ical.method !== null) {
    if (typeof ical.method !== 'string' || !ITIP_METHOD.test(ical.method)) {
      throw partError(field, 'method must be an iTIP method name such as REQUEST (RFC 5546)');
    }
    method = ical.method.toUpperCase();
  } else {
    // The content's own METHOD property, so the part and the calendar object agree.
    method = (text === null ? null : /^METHOD:([A-Za-z0-9-]+)\r?$/im.exec(text)?.[1]?.toUpperCase()) ?? 'PUBLISH';
  }
  const calendarType = `text/calendar; charset=utf-8; method=${method}`;
  const alternative =
    text === null
      ? {
          type: 'leaf' as const,
          headers:
            foldHeader('Content-Type', calendarType, { structured: true }) +
            foldHeader('Content-Transfer-Encoding', 'base64'),
          body: sourceBody({ path: ical.path, content: ical.content }, field, false),
          is8bit: false,
        }
      : textLeaf(text, calendarType, allow8bit);
  const attachment = attachmentLeaf(
    {
      filename,
      contentType: 'application/ics',
      ...(text === null ? { path: ical.path as string } : { content: Buffer.from(text, 'utf8') }),
    },
    field,
  ).leaf;
  return { alternative, attachment };
}
