/**
 * The one owner of the attachment rules: exactly one source (`data` base64 text, `content` bytes or
 * stream, or a `path` to a regular file), a filename without CR/LF/NUL, a well-formed content type
 * and Content-ID. The builder turns the result into a MIME part; the validator and `prepare` read
 * its size against the limits. Nothing is read from a stream or a file here (a path is `stat`ed).
 */
import { statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ErrorCodes, InvalidArgumentError } from '../../errors.js';
import type { AttachmentInput } from '../types.js';
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
}

/** Standard base64 alphabet (RFC 4648 §4), padding optional. */
const BASE64_DATA = /^[A-Za-z0-9+/]*={0,2}$/;

function attachmentError(index: number, message: string, cause?: unknown): InvalidArgumentError {
  const field = `attachments[${index}]`;
  const code = ErrorCodes.INVALID_ATTACHMENT;
  return new InvalidArgumentError(
    `${field}: ${message}`,
    cause === undefined ? { field, code } : { field, code, cause },
  );
}

function isReadable(value: unknown): value is Readable {
  return (
    value instanceof Readable ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as Readable).pipe === 'function' &&
      Symbol.asyncIterator in value)
  );
}

/**
 * Checks attachment `index` and resolves its source.
 * @throws InvalidArgumentError `ERR_SMTP_INVALID_ATTACHMENT` (or `ERR_SMTP_HEADER_INJECTION` for
 *   CR/LF/NUL in the filename, content type or cid), naming `attachments[index]`.
 */
export function checkAttachment(att: AttachmentInput, index: number): CheckedAttachment {
  if (att === null || typeof att !== 'object' || Array.isArray(att)) throw attachmentError(index, 'must be an object');
  const field = `attachments[${index}]`;
  // An empty filename is allowed: the part then has no name parameter.
  if (typeof att.filename !== 'string') throw attachmentError(index, 'filename must be a string');
  assertNoInjection(att.filename, `${field}.filename`);

  const given = (['data', 'content', 'path'] as const).filter((k) => att[k] !== undefined && att[k] !== null);
  if (given.length !== 1) {
    throw attachmentError(
      index,
      `give exactly one of data, content or path${given.length === 0 ? ' (none given)' : ` (found ${given.join(' and ')})`}`,
    );
  }
  let source: AttachmentSource;
  let size: number | null;
  if (att.data !== undefined && att.data !== null) {
    if (typeof att.data !== 'string') throw attachmentError(index, 'data must be a base64 string');
    // Line-wrapped base64 (MIME style) is accepted: white space carries no data.
    const compact = att.data.replace(/[ \t\r\n]+/g, '');
    if (!BASE64_DATA.test(compact) || compact.length % 4 === 1 || (compact.includes('=') && compact.length % 4 !== 0)) {
      throw attachmentError(index, 'data is not valid base64 (RFC 4648 §4 alphabet, "=" padding only at the end)');
    }
    source = { kind: 'base64', data: Buffer.from(compact, 'base64') };
    size = source.data.length;
  } else if (att.content !== undefined && att.content !== null) {
    const c: unknown = att.content;
    if (typeof c === 'string') source = { kind: 'base64', data: Buffer.from(c, 'utf8') };
    else if (Buffer.isBuffer(c)) source = { kind: 'base64', data: c };
    else if (c instanceof Uint8Array)
      source = { kind: 'base64', data: Buffer.from(c.buffer, c.byteOffset, c.byteLength) };
    else if (isReadable(c)) source = { kind: 'stream', stream: c };
    else throw attachmentError(index, 'content must be a Buffer, Uint8Array, string or Readable');
    size = source.kind === 'base64' ? source.data.length : null;
  } else {
    if (typeof att.path !== 'string' || att.path === '')
      throw attachmentError(index, 'path must be a non-empty string');
    if (att.path.includes('\0')) throw attachmentError(index, 'path must not contain NUL');
    let bytes: number;
    try {
      const st = statSync(att.path);
      if (!st.isFile()) throw new Error(`${JSON.stringify(att.path)} is not a regular file`);
      bytes = st.size;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? `file not found: ${JSON.stringify(att.path)}` : (err as Error).message;
      throw attachmentError(index, why, err);
    }
    source = { kind: 'file', path: att.path, size: bytes };
    size = bytes;
  }

  const contentType =
    att.contentType === undefined || att.contentType === null
      ? guessContentType(att.filename)
      : checkContentType(att.contentType, `${field}.contentType`);
  const cid = att.cid === undefined || att.cid === null ? null : normalizeCid(att.cid, `${field}.cid`);
  return { source, size, contentType, cid };
}
