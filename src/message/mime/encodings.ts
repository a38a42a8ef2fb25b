/**
 * Content and header encodings for the MIME builder: RFC 2047 encoded-words, quoted-printable and
 * base64 (RFC 2045 §6.7, §6.8) and RFC 5322 header folding (parameters: params.ts).
 *
 * Pure functions, values in, values out. Nothing here touches a socket.
 */
import { TextDecoder } from 'node:util';

/** RFC 2047 §2: an encoded-word may not be more than 75 characters long. */
export const MAX_ENCODED_WORD_LENGTH = 75;
/** RFC 5322 §2.1.1: lines SHOULD be no more than 78 characters, excluding the CRLF. */
export const MAX_LINE_LENGTH = 78;
/** RFC 5322 §2.1.1: lines MUST be no more than 998 characters, excluding the CRLF. */
export const MAX_HARD_LINE_LENGTH = 998;
/** RFC 2045 §6.7 (5) and §6.8: encoded lines are no more than 76 characters. */
export const MAX_ENCODED_LINE_LENGTH = 76;
/** 57 input bytes make exactly one 76-character base64 line. */
const BASE64_LINE_BYTES = (MAX_ENCODED_LINE_LENGTH / 4) * 3;

const CRLF = '\r\n';
const HEX = '0123456789ABCDEF';
const HEX_BYTES = Buffer.from(HEX, 'latin1');

// ---------------------------------------------------------------------------------------------
// RFC 2047 encoded-words
// ---------------------------------------------------------------------------------------------

/** `=?UTF-8?X?` + `?=`: the fixed part of every encoded-word we write. */
const WORD_OVERHEAD = '=?UTF-8?Q?'.length + '?='.length;

/**
 * Characters that may stand for themselves in a Q-encoded word in every context, including a
 * display name (RFC 2047 §5 (3): letters, digits, `!*+-/`; `=`, `?`, `_` and space are encoded).
 */
function isQSafe(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x21 ||
    byte === 0x2a ||
    byte === 0x2b ||
    byte === 0x2d ||
    byte === 0x2f
  );
}

/** Q-encoded length of one byte: itself, `_` for a space, or `=XX`. */
function qByteLength(byte: number): number {
  return isQSafe(byte) || byte === 0x20 ? 1 : 3;
}

function qEncode(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    if (isQSafe(byte)) out += String.fromCharCode(byte);
    else if (byte === 0x20) out += '_';
    else out += `=${HEX[byte >> 4]!}${HEX[byte & 15]!}`;
  }
  return out;
}

/**
 * Encodes `text` as one or more RFC 2047 encoded-words in UTF-8, using Q or B, whichever gives the
 * shorter result for the whole text.
 *
 * Each encoded-word is at most `maxWordLength` (default and maximum 75, RFC 2047 §2) characters
 * long and holds whole characters only: a multi-byte UTF-8 sequence or a surrogate pair is never
 * split across two words (RFC 2047 §5 (3)). Words are joined by a single space, which a decoder
 * drops between adjacent encoded-words (RFC 2047 §6.2), so the text round-trips exactly.
 * The result is safe both as unstructured text (Subject) and as a display-name phrase.
 * Always encodes, even pure ASCII; see {@link encodeUnstructured} for "only when needed".
 * Lone surrogates are written as U+FFFD, as `Buffer.from` does.
 */
export function encodeWords(text: string, maxWordLength: number = MAX_ENCODED_WORD_LENGTH): string {
  if (text === '') return '';
  const budget = Math.min(maxWordLength, MAX_ENCODED_WORD_LENGTH) - WORD_OVERHEAD;
  // Whole code points (for...of iterates a string by code points, keeping surrogate pairs together).
  const chars = Array.from(text, (ch) => Buffer.from(ch, 'utf8'));

  let qTotal = 0;
  let byteTotal = 0;
  for (const bytes of chars) {
    byteTotal += bytes.length;
    for (const byte of bytes) qTotal += qByteLength(byte);
  }
  const useQ = qTotal <= Math.ceil(byteTotal / 3) * 4;

  const words: string[] = [];
  let pending: Buffer[] = [];
  const qLength = (bytes: Buffer): number => {
    let q = 0;
    for (const byte of bytes) q += qByteLength(byte);
    return q;
  };
  const emit = (part: Buffer[]): void => {
    if (part.length === 0) return;
    const bytes = Buffer.concat(part);
    words.push(useQ ? `=?UTF-8?Q?${qEncode(bytes)}?=` : `=?UTF-8?B?${bytes.toString('base64')}?=`);
  };
  // B: 4 characters per 3 bytes, so a budget of 63 characters holds 45 bytes.
  const maxBBytes = Math.floor(budget / 4) * 3;
  const fits = (part: readonly Buffer[]): boolean => {
    let total = 0;
    for (const b of part) total += useQ ? qLength(b) : b.length;
    return total <= (useQ ? budget : maxBBytes);
  };
  for (const bytes of chars) {
    if (!fits([...pending, bytes])) {
      // Break after the last space of the full word when there is one, so words end where the
      // text's words do: readers that wrongly keep the white space between two encoded-words
      // (Python's policy.default for display names, python/cpython#128110; some mail clients)
      // then show a doubled space instead of a space inside a word.
      let cut = pending.length;
      for (let i = pending.length - 1; i > 0; i--) {
        if (pending[i]!.length === 1 && pending[i]![0] === 0x20) {
          cut = i + 1;
          break;
        }
      }
      emit(pending.slice(0, cut));
      pending = pending.slice(cut);
    }
    pending.push(bytes);
  }
  emit(pending);
  return words.join(' ');
}

/** A token that must not appear raw in a header: non-printable-ASCII, or looks like an encoded-word. */
function tokenNeedsEncoding(token: string): boolean {
  return /[^\x21-\x7e]/.test(token) || /=\?.*\?=/.test(token);
}

/** Options of {@link encodeUnstructured}. */
export interface EncodeUnstructuredOptions {
  /**
   * Also encode ASCII tokens too long to fit on a 78-character line, so that the folded header
   * keeps to 78 characters. Only sound for unstructured fields such as Subject. Default false.
   */
  encodeLongTokens?: boolean;
  /** Longest encoded-word to write (at most 75), e.g. so the first one fits after `Subject: `. */
  maxWordLength?: number;
}

/**
 * Prepares an unstructured header value (RFC 5322 §3.2.5, e.g. Subject): returned as is when it is
 * printable ASCII, otherwise the span from the first to the last word that needs it is written
 * as encoded-words ({@link encodeWords}), keeping readable ASCII words around it readable.
 * Leading/trailing whitespace and runs of several spaces inside the span are preserved by the
 * encoding. Precondition: no CR, LF or NUL (checked by the caller).
 */
export function encodeUnstructured(value: string, options: EncodeUnstructuredOptions = {}): string {
  if (value === '') return '';
  // Split into alternating whitespace / word tokens.
  const tokens = value.match(/[ \t]+|[^ \t]+/g) ?? [];
  const isWs = (t: string): boolean => t[0] === ' ' || t[0] === '\t';
  const needs = (t: string, i: number): boolean => {
    if (isWs(t)) {
      // Leading or trailing whitespace would be lost by unfolding/trimming parsers; runs of
      // whitespace between words are kept by unfolding, so only the edges count.
      return i === 0 || i === tokens.length - 1;
    }
    return tokenNeedsEncoding(t) || (options.encodeLongTokens === true && t.length > MAX_LINE_LENGTH - 1);
  };
  let first = -1;
  let last = -1;
  tokens.forEach((t, i) => {
    if (needs(t, i)) {
      if (first < 0) first = i;
      last = i;
    }
  });
  if (first < 0) return value;
  // Decoders disagree on whitespace next to an encoded-word (some collapse or drop it, against
  // RFC 2047 §6.2), so the span grows over neighbouring whitespace runs other than one space,
  // and the words beyond them, until a single space separates it from plain text.
  // Python's compat32 (email.header.make_header) also drops the space between an encoded-word and
  // a plain word that touches it with `(`, `)` or `\\` (it takes them for comment delimiters), so
  // such a neighbour joins the span too (found by the reader matrix).
  const touchesAfter = (i: number): boolean => i < tokens.length && /^[()\\]/.test(tokens[i]!);
  const touchesBefore = (i: number): boolean => i >= 0 && /[()\\]$/.test(tokens[i]!);
  for (;;) {
    const grown = { first, last };
    while (last + 1 < tokens.length && (tokens[last + 1] !== ' ' || touchesAfter(last + 2))) {
      last = Math.min(last + 2, tokens.length - 1);
    }
    while (first > 0 && (tokens[first - 1] !== ' ' || touchesBefore(first - 2))) first = Math.max(first - 2, 0);
    if (grown.first === first && grown.last === last) break;
  }
  const before = tokens.slice(0, first).join('');
  const span = tokens.slice(first, last + 1).join('');
  const after = tokens.slice(last + 1).join('');
  return before + encodeWords(span, options.maxWordLength) + after;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

interface DecodedWord {
  charset: string;
  bytes: Buffer;
}

function decodeWordBytes(encoding: string, text: string): Buffer | null {
  if (encoding === 'B' || encoding === 'b') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
    const unpadded = text.replace(/=+$/, '');
    if (unpadded.length % 4 === 1) return null;
    return Buffer.from(unpadded, 'base64');
  }
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '_') out.push(0x20);
    else if (ch === '=') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      const code = ch.charCodeAt(0);
      if (code < 0x21 || code > 0x7e) return null;
      out.push(code);
    }
  }
  return Buffer.from(out);
}

function makeDecoder(charset: string): TextDecoder | null {
  // RFC 2231 §5: a charset may carry a language, `utf-8*en`.
  const name = charset.split('*')[0]!.toLowerCase();
  try {
    return new TextDecoder(name);
  } catch {
    return null;
  }
}

/**
 * Decodes the RFC 2047 encoded-words in a header value. Any charset `TextDecoder` knows is
 * accepted (UTF-8, ISO-8859-1, US-ASCII and more). Whitespace between two adjacent encoded-words
 * is dropped (RFC 2047 §6.2); adjacent words in the same charset are decoded together, so a
 * multi-byte character split across two words by a careless encoder still decodes. A malformed
 * word (bad Q or base64, unknown charset) is left as is. Never throws.
 */
export function decodeWords(text: string): string {
  let out = '';
  let last = 0;
  let run: DecodedWord[] = [];
  let runEnd = 0;
  const flushRun = (): void => {
    let i = 0;
    while (i < run.length) {
      const charset = run[i]!.charset.toLowerCase();
      const parts: Buffer[] = [];
      while (i < run.length && run[i]!.charset.toLowerCase() === charset) parts.push(run[i++]!.bytes);
      out += makeDecoder(charset)!.decode(Buffer.concat(parts));
    }
    run = [];
  };
  for (const match of text.matchAll(ENCODED_WORD)) {
    const start = match.index;
    const [whole, charset, encoding, payload] = match as unknown as [string, string, string, string];
    const bytes = makeDecoder(charset) === null ? null : decodeWordBytes(encoding, payload);
    if (bytes === null) continue; // malformed: stays in the text between words
    const between = text.slice(run.length > 0 ? runEnd : last, start);
    if (run.length > 0 && /^[ \t\r\n]*$/.test(between)) {
      // Adjacent encoded-words: the whitespace between them is not part of the text.
    } else {
      flushRun();
      out += text.slice(last, start);
    }
    run.push({ charset, bytes });
    runEnd = start + whole.length;
    last = runEnd;
  }
  flushRun();
  return out + text.slice(last);
}

// ---------------------------------------------------------------------------------------------
// Quoted-printable (RFC 2045 §6.7)
// ---------------------------------------------------------------------------------------------

/** Bytes that quoted-printable writes literally (rule 2): `!`..`~` except `=`. Space/tab: rule 3. */
function qpLiteral(byte: number): boolean {
  return byte >= 0x21 && byte <= 0x7e && byte !== 0x3d;
}

/**
 * Quoted-printable encodes `input` (a string is taken as UTF-8) for a body.
 *
 * A CRLF pair in the input is a hard line break (written as CRLF); a lone CR or LF is encoded as
 * `=0D` / `=0A` so bytes round-trip exactly (callers normalise text to CRLF first). Space and tab
 * before a line break or at the end are encoded (rule 3), output lines are at most 76 characters
 * with `=` soft breaks (rule 5), never splitting an `=XX` triplet. Lines end in CRLF except the
 * last, which has no trailing line break unless the input ended in CRLF.
 */
export function encodeQuotedPrintable(input: Buffer | Uint8Array | string): string {
  const parts: string[] = [];
  for (const chunk of quotedPrintableChunks(input)) parts.push(chunk);
  return parts.join('');
}

/**
 * The same encoding as {@link encodeQuotedPrintable}, produced piecewise (about 64 KiB of output
 * per chunk), so that a large body is not built as one more giant string.
 */
export function* quotedPrintableChunks(input: Buffer | Uint8Array | string): Generator<string> {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const CHUNK = 64 * 1024;
  // Written byte by byte into a reused buffer: string concatenation per byte is ~30x slower.
  const out = Buffer.allocUnsafe(CHUNK + 16);
  let o = 0;
  let lineLength = 0;
  // Soft break: 75 characters plus '=' is the longest line (rule 5).
  const softLimit = MAX_ENCODED_LINE_LENGTH - 1;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const byte = bytes[i]!;
    if (byte === 0x0d && bytes[i + 1] === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      lineLength = 0;
      i++;
    } else {
      let literal = qpLiteral(byte);
      if (byte === 0x20 || byte === 0x09) {
        // Whitespace at the end of a line (hard or soft) is encoded (rule 3).
        const atEnd = i + 1 === n || (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a);
        literal = !atEnd && lineLength + 1 <= softLimit - 1;
      }
      const width = literal ? 1 : 3;
      if (lineLength + width > softLimit) {
        out[o++] = 0x3d;
        out[o++] = 0x0d;
        out[o++] = 0x0a;
        lineLength = 0;
      }
      if (literal) out[o++] = byte;
      else {
        out[o++] = 0x3d;
        out[o++] = HEX_BYTES[byte >> 4]!;
        out[o++] = HEX_BYTES[byte & 15]!;
      }
      lineLength += width;
    }
    if (o >= CHUNK) {
      yield out.toString('latin1', 0, o);
      o = 0;
    }
  }
  if (o > 0) yield out.toString('latin1', 0, o);
}

/**
 * Decodes quoted-printable text (soft breaks removed, `=XX` decoded, anything malformed kept
 * literally, RFC 2045 §6.7 note (2)). Used by tests and available to callers.
 */
export function decodeQuotedPrintable(text: string): Buffer {
  const cleaned = text.replace(/[ \t]+(?=\r?\n|$)/g, '').replace(/=\r?\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < cleaned.length; i++) {
    const ch = cleaned.charCodeAt(i);
    if (ch === 0x3d && /^[0-9A-Fa-f]{2}$/.test(cleaned.slice(i + 1, i + 3))) {
      out.push(parseInt(cleaned.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch < 0x80) {
      out.push(ch);
    } else {
      out.push(...Buffer.from(cleaned[i]!, 'utf8'));
    }
  }
  return Buffer.from(out);
}

// ---------------------------------------------------------------------------------------------
// Base64 (RFC 2045 §6.8)
// ---------------------------------------------------------------------------------------------

/**
 * Base64 with 76-character lines, each ending in CRLF (the last one too, unless `input` is empty).
 */
export function encodeBase64(input: Buffer | Uint8Array | string): string {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  return base64Lines(bytes).toString('latin1');
}

/**
 * Base64 of `input` in 76-character CRLF-terminated lines, written straight into one Buffer: one
 * native encode, then the lines moved apart in place (no per-line strings).
 */
export function base64Lines(input: Uint8Array): Buffer {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const out = Buffer.allocUnsafe(base64EncodedLength(bytes.length));
  const chars = out.write(bytes.toString('base64'), 0, 'latin1');
  const line = MAX_ENCODED_LINE_LENGTH;
  // From the last line backwards, so every line has moved before the one below spreads over it.
  for (let i = Math.ceil(chars / line) - 1; i >= 0; i--) {
    const from = i * line;
    const length = Math.min(line, chars - from);
    const to = i * (line + 2);
    if (to !== from) out.copyWithin(to, from, from + length);
    out[to + length] = 0x0d;
    out[to + length + 1] = 0x0a;
  }
  return out;
}

/** Exact byte length of {@link encodeBase64} for `byteLength` input bytes. */
export function base64EncodedLength(byteLength: number): number {
  const chars = Math.ceil(byteLength / 3) * 4;
  return chars + Math.ceil(chars / MAX_ENCODED_LINE_LENGTH) * CRLF.length;
}

/** In-memory data is encoded in slices of this many bytes (whole lines), so backpressure applies to it too. */
const BASE64_SLICE = BASE64_LINE_BYTES * 1024;

/** {@link base64Lines} in slices of about 76 KiB of output, for a large in-memory part. */
export function* base64Slices(input: Uint8Array): Generator<Buffer> {
  for (let offset = 0; offset < input.length; offset += BASE64_SLICE) {
    yield base64Lines(input.subarray(offset, Math.min(offset + BASE64_SLICE, input.length)));
  }
}

/**
 * The one base64 streamer: a byte stream in 76-character CRLF lines, the same output as
 * {@link encodeBase64} on the concatenated input however it is chunked. Memory is one chunk: the 0–56
 * bytes that do not fill a line are carried to the next. `end` gets the number of bytes read (and may
 * throw, e.g. when a file changed size while it was read).
 */
export async function* base64Stream(
  source: AsyncIterable<Uint8Array | string>,
  end?: (total: number) => void,
): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  let total = 0;
  for await (const raw of source) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    total += chunk.length;
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    const whole = data.length - (data.length % BASE64_LINE_BYTES);
    // Copy the carry out, so the (possibly large) input chunk can be collected.
    carry = Buffer.from(data.subarray(whole));
    if (whole > 0) yield* base64Slices(data.subarray(0, whole));
  }
  if (carry.length > 0) yield base64Lines(carry);
  if (total === 0) yield Buffer.from(CRLF);
  end?.(total);
}

// ---------------------------------------------------------------------------------------------
// Header folding (RFC 5322 §2.2.3)
// ---------------------------------------------------------------------------------------------

/** Options of {@link foldHeader}. */
export interface FoldOptions {
  /**
   * A structured field (addresses, Content-*): quoted-strings are kept whole on one line. Folding
   * inside one is legal (RFC 5322 §3.2.4) but some parsers lose a space when they unfold it.
   */
  structured?: boolean;
}

/**
 * Writes `Name: value` as a header field folded at whitespace so lines stay within 78 characters
 * where the value allows, returning the field with CRLF after every line (the last one too).
 *
 * Folding happens only before a run of whitespace (never inside an encoded-word, which holds
 * none; in a structured field never inside a quoted-string), and a line never consists of
 * whitespace alone. A word longer than a line stays whole on its own line. Precondition: `value`
 * holds no CR, LF or NUL; callers check the 998-octet limit (RFC 5322 §2.1.1) when the value may
 * carry over-long words.
 */
export function foldHeader(name: string, value: string, options: FoldOptions = {}): string {
  // Most fields fit on one line: no need to tokenise them.
  if (name.length + 2 + value.length <= MAX_LINE_LENGTH && !/[\t]| {2}/.test(value)) return `${name}: ${value}${CRLF}`;
  let out = `${name}:`;
  let lineLength = out.length;
  // Each token is a whitespace run followed by a word; the value starts after one space.
  const pattern =
    options.structured === true ? /[ \t]*(?:"(?:[^"\\]|\\.)*"?|[^ \t"])+|[ \t]+/g : /[ \t]*[^ \t]+|[ \t]+/g;
  const tokens = ` ${value}`.match(pattern) ?? [];
  // Never fold right after the colon: Python's email (policy.default) keeps the space of such a
  // fold as a leading space of the value (found by the reader matrix).
  let first = true;
  for (const token of tokens) {
    const foldable = token[0] === ' ' || token[0] === '\t';
    const hasWord = /[^ \t]/.test(token);
    if (foldable && hasWord && !first && lineLength + token.length > MAX_LINE_LENGTH && lineLength > 0) {
      out += CRLF;
      lineLength = 0;
    }
    out += token;
    lineLength += token.length;
    if (hasWord) first = false;
  }
  return out + CRLF;
}
