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

/** Bodies found wire-clean: CRLF line ends only, no line over 998 octets, ending in CRLF. */
const wireClean = new WeakSet<Uint8Array>();

/**
 * Records whether `buf` is wire-clean (see `wireClean`), so the engine may send it without
 * re-encoding. Internal (not exported from the package root): `prepare` sets it for the buffer the
 * builder made (never handed out) and for a raw message it has just checked with `BodyEncoder`. The
 * engine still checks the dots itself at send time (`isWireReady`), so a buffer changed afterwards
 * can never smuggle an end of data.
 */
export function setWireClean(buf: Uint8Array, clean: boolean): void {
  if (clean) wireClean.add(buf);
  else wireClean.delete(buf);
}

/**
 * True when `buf` can go on the wire as it is: found wire-clean (CRLF-clean, lines within the limit)
 * and, for DATA, with no line starting with a dot (two native searches, no copy). Then only the final
 * `.` line is added: the 2× buffer and the copy of `BodyEncoder` are skipped.
 */
export function isWireReady(buf: Uint8Array, dotStuff: boolean): boolean {
  if (!wireClean.has(buf)) return false;
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = b.length;
  if (n < 2 || b[n - 2] !== CR || b[n - 1] !== LF) return false;
  return !dotStuff || (b[0] !== DOT && b.indexOf('\n.') === -1 && b.indexOf('\r.') === -1);
}

/** Encodes a whole in-memory body at once (DATA form unless `dotStuff: false`). */
export function encodeBody(body: Uint8Array, options?: BodyEncoderOptions): Buffer {
  const encoder = new BodyEncoder(options);
  const head = encoder.encode(body);
  const tail = encoder.end();
  return Buffer.concat([head, tail], head.length + tail.length);
}
