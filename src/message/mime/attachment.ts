/**
 * The one owner of the attachment rules: exactly one source (`data` base64 text, `content` bytes or
 * stream, or a `path` to a regular file), a filename without CR/LF/NUL, a well-formed content type
 * and Content-ID. The builder turns the result into a MIME part; the validator and `prepare` read
 * its size against the limits. Nothing is read from a stream or a file here (a path is `stat`ed).
 */
import { statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { findUnknownKey } from '../../options.js';
import type { AttachmentInput, ContentEncoding } from '../types.js';
import { assertNoInjection, checkContentType, guessContentType, normalizeCid } from './headers.js';

/** Where an attachment's bytes come from. */
export type AttachmentSource =
  /** Raw bytes, base64-encoded while streaming. */
  | { kind: 'base64'; data: Buffer }
  | { kind: 'file'; path: string; size: number }
  | { kind: 'stream'; stream: Readable };

/** An attachment that passed every rule. */
export interface CheckedAttachment {
  source: AttachmentSource;
  /** Decoded octets; null for a stream (unknowable before reading). */
  size: number | null;
  contentType: string;
  /** Content-ID without angle brackets, or null for an ordinary attachment. */
  cid: string | null;
  disposition: 'attachment' | 'inline';
}

/** Standard base64 alphabet (RFC 4648 §4), padding optional. */
const BASE64_DATA = /^[A-Za-z0-9+/]*={0,2}$/;
const CONTENT_ENCODINGS: ReadonlySet<string> = new Set<ContentEncoding>([
  'utf8',
  'utf-8',
  'base64',
  'base64url',
  'hex',
  'latin1',
  'binary',
  'ascii',
]);

/** Refuses a key not in `known`, naming the nearest one (options.ts owns the wording). */
export function assertPartKeys(
  value: object,
  known: readonly string[],
  field: string,
  hints?: Readonly<Record<string, string>>,
): void {
  const unknown = findUnknownKey(value, known, field, hints);
  if (unknown !== null) {
    // An unknown key is one fault class wherever it is: ERR_SMTP_INVALID_ARGUMENT.
    throw new InvalidArgumentError(unknown.message, { field });
  }
}

const ATTACHMENT_KEYS = [
  'filename',
  'contentType',
  'data',
  'content',
  'encoding',
  'path',
  'cid',
  'contentDisposition',
  'headers',
] as const satisfies readonly (keyof AttachmentInput)[];

export function partError(field: string, message: string, cause?: unknown): InvalidArgumentError {
  const code = ErrorCodes.INVALID_ATTACHMENT;
  return new InvalidArgumentError(
    `${field}: ${message}`,
    cause === undefined ? { field, code } : { field, code, cause },
  );
}

/** What a part's bytes come from; exactly one of the three. */
interface Source {
  data?: unknown;
  content?: unknown;
  encoding?: unknown;
  path?: unknown;
}

function isReadable(c: unknown): c is Readable {
  return (
    c instanceof Readable ||
    (typeof c === 'object' &&
      c !== null &&
      typeof (c as Readable).pipe === 'function' &&
      Symbol.asyncIterator in (c as object))
  );
}

/** The bytes of a string `content` in its `encoding` (default UTF-8). */
export function stringBytes(text: string, encoding: unknown, field: string): Buffer {
  if (encoding === undefined || encoding === null) return Buffer.from(text, 'utf8');
  if (typeof encoding !== 'string' || !CONTENT_ENCODINGS.has(encoding)) {
    throw partError(field, `encoding must be one of ${[...CONTENT_ENCODINGS].join(', ')}`);
  }
  if ((encoding === 'base64' || encoding === 'base64url') && !/^[A-Za-z0-9+/_\-=\s]*$/.test(text)) {
    throw partError(field, `content is not valid ${encoding}`);
  }
  if (encoding === 'hex' && !/^([0-9A-Fa-f]{2})*$/.test(text)) throw partError(field, 'content is not valid hex');
  return Buffer.from(text, encoding as BufferEncoding);
}

/** The body of one source, checked; a file is stat'ed (not read), a stream is not touched. */
export function sourceBody(src: Source, field: string, allowStream: boolean): AttachmentSource {
  const sources = (['data', 'content', 'path'] as const).filter((k) => src[k] !== undefined && src[k] !== null);
  if (sources.length !== 1) {
    const found = sources.length === 0 ? ' (none given)' : ` (found ${sources.join(' and ')})`;
    throw partError(field, `give exactly one of data, content or path${found}`);
  }
  if (src.encoding !== undefined && src.encoding !== null && typeof src.content !== 'string') {
    throw partError(field, 'encoding applies to a string content only');
  }
  if (src.data !== undefined && src.data !== null) {
    if (typeof src.data !== 'string') throw partError(field, 'data must be a base64 string');
    const compact = src.data.replace(/[ \t\r\n]+/g, '');
    if (!BASE64_DATA.test(compact) || compact.length % 4 === 1 || (compact.includes('=') && compact.length % 4 !== 0)) {
      throw partError(field, 'data is not valid base64');
    }
    return { kind: 'base64', data: Buffer.from(compact, 'base64') };
  }
  if (src.content !== undefined && src.content !== null) {
    const c = src.content;
    if (typeof c === 'string') return { kind: 'base64', data: stringBytes(c, src.encoding, field) };
    if (Buffer.isBuffer(c)) return { kind: 'base64', data: c };
    if (c instanceof Uint8Array) return { kind: 'base64', data: Buffer.from(c.buffer, c.byteOffset, c.byteLength) };
    if (allowStream && isReadable(c)) return { kind: 'stream', stream: c };
    throw partError(field, `content must be a Buffer, Uint8Array, string${allowStream ? ' or Readable' : ''}`);
  }
  if (typeof src.path !== 'string' || src.path === '') throw partError(field, 'path must be a non-empty string');
  if (src.path.includes('\0')) throw partError(field, 'path must not contain NUL');
  let size: number;
  try {
    const st = statSync(src.path);
    if (!st.isFile()) throw new Error(`${JSON.stringify(src.path)} is not a regular file`);
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `file not found: ${JSON.stringify(src.path)}` : (err as Error).message;
    throw partError(field, why, err);
  }
  return { kind: 'file', path: src.path, size };
}

/**
 * Checks attachment `where` (its index in `attachments`, or the field name of a part made from one) and
 * resolves its source.
 * @throws InvalidArgumentError `ERR_SMTP_INVALID_ATTACHMENT` (or `ERR_SMTP_HEADER_INJECTION` for
 *   CR/LF/NUL in the filename, content type or cid), naming `attachments[index]`.
 */
export function checkAttachment(att: AttachmentInput, where: number | string): CheckedAttachment {
  const field = typeof where === 'number' ? `attachments[${where}]` : where;
  if (att === null || typeof att !== 'object' || Array.isArray(att)) throw partError(field, 'must be an object');
  assertPartKeys(att, ATTACHMENT_KEYS, field, { href: 'attachments from URLs are not fetched: download first' });
  // An empty filename is allowed: the part then has no name parameter.
  if (typeof att.filename !== 'string') throw partError(field, 'filename must be a string');
  assertNoInjection(att.filename, `${field}.filename`);
  const source = sourceBody(att, field, true);
  const size = source.kind === 'stream' ? null : source.kind === 'file' ? source.size : source.data.length;
  const contentType =
    att.contentType === undefined || att.contentType === null
      ? guessContentType(att.filename)
      : checkContentType(att.contentType, `${field}.contentType`);
  const cid = att.cid === undefined || att.cid === null ? null : normalizeCid(att.cid, `${field}.cid`);
  const disposition = att.contentDisposition ?? (cid === null ? 'attachment' : 'inline');
  if (disposition !== 'attachment' && disposition !== 'inline') {
    throw partError(field, "contentDisposition must be 'attachment' or 'inline'");
  }
  return { source, size, contentType, cid, disposition };
}
