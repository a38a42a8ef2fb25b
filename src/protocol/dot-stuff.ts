/**
 * The DATA transparency encoder (RFC 5321 §4.5.2) as a small streaming state machine.
 *
 * Every bare CR and every bare LF becomes CRLF, so no `<LF>.<LF>`, `<CR>.<CR>` or other smuggling
 * sequence (CVE-2023-51764 and kin) can reach the wire; a `.` at the start of a line is doubled; `end()`
 * terminates the last line and, for DATA, appends the final `.` line. For BDAT (RFC 3030) the same
 * encoder runs with stuffing off: lines are still normalised, but no dot is added.
 */
import { ErrorCodes, InvalidArgumentError } from '../errors.js';

/** RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF. */
export const MAX_BODY_LINE_LENGTH = 998;

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

export interface BodyEncoderOptions {
  /** Double leading dots and end with `.` CRLF (DATA); off for BDAT. Default true. */
  dotStuff?: boolean;
  /** Longest line, CRLF excluded; a longer one throws. Default 998. */
  maxLineLength?: number;
}

/**
 * Encodes a message body chunk by chunk. State carries across chunks, so any split of the input
 * gives the same output as one call with the whole input.
 */
export class BodyEncoder {
  readonly #dotStuff: boolean;
  readonly #maxLineLength: number;
  #atLineStart = true;
  /** The previous chunk ended in CR: whether it is bare depends on the next byte. */
  #pendingCr = false;
  #lineLength = 0;
  #dotsAdded = 0;

  constructor(options: BodyEncoderOptions = {}) {
    this.#dotStuff = options.dotStuff ?? true;
    this.#maxLineLength = options.maxLineLength ?? MAX_BODY_LINE_LENGTH;
  }

  /** Dots added by stuffing so far: the transmitted size is the output less these and the final `.` line. */
  get dotsAdded(): number {
    return this.#dotsAdded;
  }

  /**
   * @throws InvalidArgumentError `ERR_SMTP_BODY_LINE_TOO_LONG` for a line over the limit.
   */
  encode(chunk: Uint8Array): Buffer {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const n = buf.length;
    // Worst case every byte doubles (LF → CRLF, or a dot after a line break), plus a held CR.
    const out = Buffer.allocUnsafe(n * 2 + 2);
    const max = this.#maxLineLength;
    const stuff = this.#dotStuff;
    let o = 0;
    let atLineStart = this.#atLineStart;
    let pendingCr = this.#pendingCr;
    let lineLength = this.#lineLength;
    // Runs between line breaks are found with the native indexOf and copied whole: the per-byte
    // work is only at line breaks. Each search moves forward, so the pass stays linear.
    let nextLf = -2;
    let nextCr = -2;
    let i = 0;
    while (i < n) {
      if (pendingCr) {
        pendingCr = false;
        out[o++] = CR;
        out[o++] = LF;
        lineLength = 0;
        atLineStart = true;
        if (buf[i] === LF) {
          i++;
          continue;
        }
      }
      if (nextLf < i && nextLf !== -1) nextLf = buf.indexOf(LF, i);
      if (nextCr < i && nextCr !== -1) nextCr = buf.indexOf(CR, i);
      const lf = nextLf === -1 ? n : nextLf;
      const cr = nextCr === -1 ? n : nextCr;
      const end = Math.min(lf, cr);
      if (end > i) {
        if (atLineStart && stuff && buf[i] === DOT) {
          out[o++] = DOT;
          this.#dotsAdded++;
        }
        atLineStart = false;
        lineLength += end - i;
        if (lineLength > max) {
          throw new InvalidArgumentError(`message body has a line longer than ${max} octets (RFC 5321 §4.5.3.1.6)`, {
            code: ErrorCodes.BODY_LINE_TOO_LONG,
            field: 'body',
          });
        }
        o += buf.copy(out, o, i, end);
      }
      if (end === n) break;
      if (end === lf) {
        out[o++] = CR;
        out[o++] = LF;
        lineLength = 0;
        atLineStart = true;
        i = end + 1;
      } else {
        // A CR: CRLF stays, a bare CR becomes CRLF; at the chunk's end, the next byte decides.
        pendingCr = true;
        i = end + 1;
        if (i < n) {
          pendingCr = false;
          out[o++] = CR;
          out[o++] = LF;
          lineLength = 0;
          atLineStart = true;
          if (buf[i] === LF) i++;
        }
      }
    }
    this.#atLineStart = atLineStart;
    this.#pendingCr = pendingCr;
    this.#lineLength = lineLength;
    return out.subarray(0, o);
  }

  /** Terminates the last line; for DATA also the final `.` line. */
  end(): Buffer {
    const tail = this.#pendingCr || !this.#atLineStart ? '\r\n' : '';
    this.#pendingCr = false;
    this.#atLineStart = true;
    this.#lineLength = 0;
    return Buffer.from(this.#dotStuff ? `${tail}.\r\n` : tail, 'latin1');
  }
}

/**
 * An in-memory body in wire form, said so by its type: CRLF line ends only, no line over 998 octets,
 * CRLF at the end. This is the BDAT form; its length is the size as transmitted (SIZE=, RFC 1870: the
 * one formula). DATA adds only dot-stuffing and the final `.` line ({@link dataForm}).
 */
export interface WireBody {
  readonly kind: 'wire';
  readonly bytes: Buffer;
}

export function isWireBody(body: unknown): body is WireBody {
  return typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === 'wire';
}

/**
 * `body` in wire form: checked with one allocation-free scan (native searches for CR and LF), and
 * encoded only when it must change (a bare CR or LF, no CRLF at the end, or a line that may be too
 * long, where the encoder decides). The bytes are not copied when they are already in wire form.
 * @throws InvalidArgumentError `ERR_SMTP_BODY_LINE_TOO_LONG` for a line over 998 octets.
 */
export function toWireBody(body: Uint8Array): WireBody {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { kind: 'wire', bytes: isWireClean(buf) ? buf : encodeBody(buf, { dotStuff: false }) };
}

/** CRLF-only line ends, every line within the limit, CRLF at the end (an empty body is not). */
function isWireClean(buf: Buffer): boolean {
  const n = buf.length;
  if (n < 2 || buf[n - 2] !== CR || buf[n - 1] !== LF) return false;
  let start = 0;
  while (start < n) {
    const lf = buf.indexOf(LF, start);
    // A bare LF, or a line the encoder must measure (it may hold a bare CR that splits it).
    if (lf === start || buf[lf - 1] !== CR || lf - 1 - start > MAX_BODY_LINE_LENGTH) return false;
    start = lf + 1;
  }
  // Every LF has its CR; a CR elsewhere is bare.
  for (let cr = buf.indexOf(CR); cr !== -1; cr = buf.indexOf(CR, cr + 2)) if (buf[cr + 1] !== LF) return false;
  return true;
}

/**
 * The DATA form of a wire body: the bytes as they are when no line starts with a dot (only the final
 * `.` line follows: `ready`), else dot-stuffed with the final `.` line (`stuffed`). The dots are looked
 * for at send time, so bytes changed after the check cannot end the data early.
 */
export function dataForm(body: WireBody): { ready: Buffer; stuffed: null } | { ready: null; stuffed: Buffer } {
  const b = body.bytes;
  const n = b.length;
  const clean = n >= 2 && b[n - 2] === CR && b[n - 1] === LF && !dotAtLineStart(b);
  return clean ? { ready: b, stuffed: null } : { ready: null, stuffed: encodeBody(b) };
}

/** Dots looked at one by one before the search switches to the two-byte needles. */
const DOT_PROBES = 64;

/**
 * True when a line starts with a dot (after CR or LF, or at the start). Dots are rare in most bodies
 * (none in base64): a one-byte search skips to each, where a two-byte needle search costs a full pass
 * per needle; a body thick with dots goes over to the needle searches.
 */
function dotAtLineStart(b: Buffer): boolean {
  let i = b.indexOf(DOT);
  for (let probes = 0; i !== -1; probes++) {
    if (i === 0 || b[i - 1] === LF || b[i - 1] === CR) return true;
    if (probes === DOT_PROBES) return b.indexOf('\n.', i) !== -1 || b.indexOf('\r.', i) !== -1;
    i = b.indexOf(DOT, i + 1);
  }
  return false;
}

/** Encodes a whole in-memory body at once (DATA form unless `dotStuff: false`). */
export function encodeBody(body: Uint8Array, options?: BodyEncoderOptions): Buffer {
  const encoder = new BodyEncoder(options);
  const head = encoder.encode(body);
  const tail = encoder.end();
  return Buffer.concat([head, tail], head.length + tail.length);
}
