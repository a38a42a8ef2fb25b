/**
 * MIME header parameters (RFC 2045 §5.1, RFC 2183, RFC 2231) and the one encoding rule for
 * attachment names: the only module that writes `name=` / `filename=` / `*N*=` parameters.
 *
 * How a non-ASCII (or long) file name is written, decided from what readers do, not from taste
 * (checked by test/readers/reader-matrix.test.ts against Python `email` compat32 and default,
 * mailparser and ripmime, and by hand against the output of nodemailer and Thunderbird):
 *
 * - `Content-Disposition: attachment; filename*=utf-8''%E6%8A%A5…` (RFC 2231), split into
 *   `filename*0*=` / `filename*1*=` continuations of at most ~74 characters, and **no plain
 *   `filename=` before it**. An ASCII stand-in first (the RFC 6266 habit of HTTP) is what Python
 *   (`get_filename()`, both policies) returned: `__ 2026.zip` for `报告 2026.zip`. In mail,
 *   readers take the first `filename` they find.
 * - `Content-Type: …; name="=?UTF-8?B?…?="`: RFC 2047 encoded-words inside the quoted string.
 *   RFC 2047 §5 forbids that, but it is what Outlook and many mobile clients read (they ignore
 *   RFC 2231), what Thunderbird, Gmail and nodemailer write, and Python's default policy,
 *   mailparser and ripmime decode it. Long names become several encoded-words, folded between
 *   words (white space between adjacent encoded-words is not part of the text, RFC 2047 §6.2).
 * - In an attachment part Content-Disposition is written **before** Content-Type: ripmime takes
 *   the first name it meets, and it decodes the encoded-words of `name=` before splitting the
 *   parameters, so a `;` in the name cut it short there (`Ελληνικά; "q".txt` became `Ελληνικά; `).
 *   (ripmime also cuts every file name at 128 octets: nothing an encoding can change.)
 * - ASCII names stay readable: `filename="a b.pdf"` / `name="a b.pdf"` when the parameter fits on
 *   a line; longer ones become `filename*0="…"` continuations and an encoded-word `name=` (which
 *   folds; Outlook does not read `name*0=`). Names readers misread in plain form go the encoded
 *   way too: one that looks like an encoded-word (`=?`, `?=`: lenient readers decode it), one
 *   with `"` or `\` (ripmime lost its place after a quoted-pair), and one starting or ending with
 *   `<`, `>`, `'` or a space (Python unquotes `<…>`, ripmime strips quotes).
 *
 * Pure functions, values in, values out.
 */
import { encodeWords, MAX_ENCODED_WORD_LENGTH, MAX_LINE_LENGTH } from './encodings.js';

const CRLF = '\r\n';
const HEX = '0123456789ABCDEF';

/** RFC 2045 §5.1 token characters: printable ASCII except SPACE and tspecials. */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
/** Printable ASCII, the only text a plain parameter value may hold here. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/**
 * Text a lenient reader would take for (part of) an RFC 2047 encoded-word: ripmime cut
 * `a,b ?= x.pdf` at the `?=`, so either half sends the name to the RFC 2231 form.
 */
const LOOKS_ENCODED = /=\?|\?=/;

/** RFC 2231 §7 attribute-char: token characters except `*`, `'` and `%`. */
function isAttributeChar(byte: number): boolean {
  return byte < 0x80 && byte !== 0x2a && byte !== 0x27 && byte !== 0x25 && TOKEN.test(String.fromCharCode(byte));
}

function percentEncode(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    out += isAttributeChar(byte) ? String.fromCharCode(byte) : `%${HEX[byte >> 4]!}${HEX[byte & 15]!}`;
  }
  return out;
}

/**
 * Tokens written bare: RFC 2045 token characters except `'`, `%` and `*`, which mean something in
 * RFC 2231 values (Python's default policy read the bare token `'.pdf` as no file name at all).
 */
const BARE_TOKEN = /^[!#$&+\-.0-9A-Z^_`a-z{|}~]+$/;

/** `value` as a bare token when that is unambiguous, else as a quoted-string (RFC 5322 §3.2.4). */
export function quoteParameterValue(value: string): string {
  if (BARE_TOKEN.test(value)) return value;
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** Longest `name*N*=…` segment we aim for, so a segment plus `; ` indent fits a 78-character line. */
const MAX_PARAMETER_SEGMENT = MAX_LINE_LENGTH - 4;

/**
 * Encodes one MIME parameter, returning the `attribute=value` segments to join with `; `.
 *
 * Printable ASCII that fits one line: `name=value` or `name="va lue"`. Non-ASCII (or control
 * characters): RFC 2231 §4 extended value `name*=utf-8''%E2%82%AC…`. Either form, when too long
 * for one line, is split into RFC 2231 §3 continuations (`name*0=`, `name*1=` …, or `name*0*=`
 * with the charset on the first segment only), each at most about 74 characters, never splitting
 * a `%XX` triplet or a UTF-8 sequence. `forceExtended` writes the extended form even for ASCII.
 * Precondition: no CR, LF or NUL.
 */
export function encodeParameter(name: string, value: string, forceExtended = false): string[] {
  const ascii = !forceExtended && PRINTABLE_ASCII.test(value);
  if (ascii) {
    const simple = `${name}=${quoteParameterValue(value)}`;
    if (simple.length <= MAX_PARAMETER_SEGMENT) return [simple];
    const segments: string[] = [];
    let rest = value;
    for (let n = 0; rest.length > 0; n++) {
      const prefix = `${name}*${n}=`;
      // Quoting may double some characters; take characters until the quoted form is full.
      let take = 0;
      let quotedLength = prefix.length + 2;
      while (take < rest.length) {
        const ch = rest[take]!;
        const add = ch === '"' || ch === '\\' ? 2 : 1;
        if (quotedLength + add > MAX_PARAMETER_SEGMENT && take > 0) break;
        quotedLength += add;
        take++;
      }
      segments.push(`${prefix}"${rest.slice(0, take).replace(/["\\]/g, '\\$&')}"`);
      rest = rest.slice(take);
    }
    return segments;
  }
  const encodedChars = Array.from(value, (ch) => percentEncode(Buffer.from(ch, 'utf8')));
  const whole = `${name}*=utf-8''${encodedChars.join('')}`;
  if (whole.length <= MAX_PARAMETER_SEGMENT) return [whole];
  const segments: string[] = [];
  let current = '';
  let n = 0;
  const prefixOf = (i: number): string => `${name}*${i}*=${i === 0 ? "utf-8''" : ''}`;
  for (const piece of encodedChars) {
    if (current !== '' && prefixOf(n).length + current.length + piece.length > MAX_PARAMETER_SEGMENT) {
      segments.push(prefixOf(n) + current);
      n++;
      current = '';
    }
    current += piece;
  }
  segments.push(prefixOf(n) + current);
  return segments;
}

/**
 * A name written as plain text: printable ASCII without a quote or backslash (ripmime lost its
 * place after a `\\` escape and dropped the next part's name), not looking encoded, and not
 * starting or ending with what readers strip.
 */
function plainName(filename: string): boolean {
  return (
    PRINTABLE_ASCII.test(filename) &&
    !LOOKS_ENCODED.test(filename) &&
    !/["\\]/.test(filename) &&
    // Python unquotes `<…>` (compat32 returned `angle` for `<angle>`, default `angle> x` for
    // `<angle> x`) and ripmime strips quote marks at the ends: those names go RFC 2231 too.
    !/^[<'\s]|[>'\s]$/.test(filename)
  );
}

/**
 * The `filename` parameter of Content-Disposition (RFC 2183 §2.3 with RFC 2231): plain when the
 * name is printable ASCII that does not look like an encoded-word, otherwise RFC 2231 only, with
 * no lossy ASCII stand-in before it (see the module comment). Empty name: no parameter.
 */
export function filenameParameter(filename: string): string[] {
  if (filename === '') return [];
  return encodeParameter('filename', filename, !plainName(filename));
}

/**
 * The `name` parameter of Content-Type, for readers that look only there (Outlook and many
 * mobile clients): a plain value when it is short printable ASCII, otherwise RFC 2047
 * encoded-words in a quoted string, separated by single spaces where {@link formatParameterField}
 * may fold. Empty name: no parameter.
 */
export function nameParameter(filename: string): string[] {
  if (filename === '') return [];
  if (plainName(filename)) {
    const simple = `name=${quoteParameterValue(filename)}`;
    if (simple.length <= MAX_PARAMETER_SEGMENT) return [simple];
  }
  // Each word fits a continuation line with its `name="` / `"` / `;` around it.
  return [`name="${encodeWords(filename, Math.min(MAX_ENCODED_WORD_LENGTH, MAX_PARAMETER_SEGMENT - 8))}"`];
}

/**
 * Writes `Field: value; p1; p2 …` folded to 78-character lines where the parameters allow: a fold
 * goes before a parameter (after its `;`) or between two encoded-words of a quoted
 * {@link nameParameter} value. It never goes inside any other quoted-string, where some readers
 * lose the space when they unfold. Returns the field with CRLF after every line.
 * Precondition: no CR, LF or NUL in any argument (checked by the caller).
 */
export function formatParameterField(field: string, value: string, params: readonly string[]): string {
  const single = `${field}: ${[value, ...params].join('; ')}`;
  if (single.length <= MAX_LINE_LENGTH) return single + CRLF;
  let out = `${field}: ${value}`;
  let lineLength = out.length;
  params.forEach((param) => {
    out += ';';
    lineLength += 1;
    const words = /^[a-z]+="=\?/i.test(param) ? param.split(' ') : [param];
    for (const word of words) {
      if (lineLength + 1 + word.length > MAX_LINE_LENGTH) {
        out += `${CRLF} `;
        lineLength = 1;
      } else {
        out += ' ';
        lineLength += 1;
      }
      out += word;
      lineLength += word.length;
    }
  });
  return out + CRLF;
}
