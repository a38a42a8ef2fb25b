/**
 * The DATA transparency encoder (RFC 5321 §4.5.2) as a small streaming state machine.
 *
 * Every bare CR and every bare LF becomes CRLF, so no `<LF>.<LF>`, `<CR>.<CR>` or other smuggling
 * sequence (CVE-2023-51764 and kin) can reach the wire; a `.` at the start of a line is doubled; `end()`
 * terminates the last line and, for DATA, appends the final `.` line. For BDAT (RFC 3030) the same
 * encoder runs with stuffing off: lines are still normalised, but no dot is added.
 */
import { ErrorCodes, InvalidArgumentError } from './errors.js';

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
  #bytesIn = 0;
  #has8bit = false;

  constructor(options: BodyEncoderOptions = {}) {
    this.#dotStuff = options.dotStuff ?? true;
    this.#maxLineLength = options.maxLineLength ?? MAX_BODY_LINE_LENGTH;
  }

  /** Octets given to `encode` so far. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** True once any byte over 0x7f has been seen (the body needs BODY=8BITMIME). */
  get has8bit(): boolean {
    return this.#has8bit;
  }

  /**
   * @throws InvalidArgumentError `ERR_SMTP_BODY_LINE_TOO_LONG` for a line over the limit.
   */
  encode(chunk: Uint8Array): Buffer {
    const n = chunk.length;
    this.#bytesIn += n;
    // Worst case every byte doubles (LF → CRLF, or a dot after a line break), plus a held CR.
    const out = Buffer.allocUnsafe(n * 2 + 2);
    const max = this.#maxLineLength;
    const stuff = this.#dotStuff;
    let o = 0;
    let atLineStart = this.#atLineStart;
    let pendingCr = this.#pendingCr;
    let lineLength = this.#lineLength;
    let high = 0;
    for (let i = 0; i < n; i++) {
      const b = chunk[i]!;
      if (pendingCr) {
        pendingCr = false;
        out[o++] = CR;
        out[o++] = LF;
        lineLength = 0;
        atLineStart = true;
        if (b === LF) continue;
      }
      if (b === CR) {
        pendingCr = true;
        continue;
      }
      if (b === LF) {
        out[o++] = CR;
        out[o++] = LF;
        lineLength = 0;
        atLineStart = true;
        continue;
      }
      if (atLineStart) {
        atLineStart = false;
        if (b === DOT && stuff) out[o++] = DOT;
      }
      high |= b;
      out[o++] = b;
      if (++lineLength > max) {
        throw new InvalidArgumentError(`message body has a line longer than ${max} octets (RFC 5321 §4.5.3.1.6)`, {
          code: ErrorCodes.BODY_LINE_TOO_LONG,
          field: 'body',
        });
      }
    }
    if (high & 0x80) this.#has8bit = true;
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

/** Encodes a whole in-memory body at once (DATA form unless `dotStuff: false`). */
export function encodeBody(body: Uint8Array, options?: BodyEncoderOptions): Buffer {
  const encoder = new BodyEncoder(options);
  const head = encoder.encode(body);
  const tail = encoder.end();
  return Buffer.concat([head, tail], head.length + tail.length);
}
