/**
 * Pure helpers for the server side of the SMTP DATA transparency procedure (RFC 5321 §4.5.2):
 * finding the end-of-data marker in a byte stream and removing the dot-stuffing. No sockets.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/** States of {@link DataTerminatorScanner}: where the stream stands relative to `CRLF.CRLF`. */
const ScanState = {
  MidLine: 0,
  SawCr: 1,
  LineStart: 2,
  LineStartDot: 3,
  LineStartDotCr: 4,
} as const;
type ScanState = (typeof ScanState)[keyof typeof ScanState];

/**
 * Incremental scanner for the end of a DATA body: `CRLF . CRLF` (RFC 5321 §4.1.1.4), where the
 * first CRLF may be the one that ended the `DATA` command itself (an empty body is just `.CRLF`).
 *
 * Strict on purpose: only CRLF counts as a line ending, so `LF.LF` or `CR.CR` (the SMTP-smuggling
 * shapes) never end the message; a test server that is stricter than real ones is what proves a
 * client never sends them. Linear: every byte is looked at once, whatever the chunking.
 */
export class DataTerminatorScanner {
  // The CRLF that ended the DATA command puts us at the start of a line.
  #state: ScanState = ScanState.LineStart;

  /**
   * Feed the next chunk.
   * @returns the index in `chunk` just past the terminator's final LF, or -1 when the terminator
   *   has not been seen yet. Bytes after that index belong to whatever follows the message.
   */
  push(chunk: Uint8Array): number {
    let state: ScanState = this.#state;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      switch (state) {
        case ScanState.MidLine:
          state = b === CR ? ScanState.SawCr : ScanState.MidLine;
          break;
        case ScanState.SawCr:
          state = b === LF ? ScanState.LineStart : b === CR ? ScanState.SawCr : ScanState.MidLine;
          break;
        case ScanState.LineStart:
          state = b === DOT ? ScanState.LineStartDot : b === CR ? ScanState.SawCr : ScanState.MidLine;
          break;
        case ScanState.LineStartDot:
          state = b === CR ? ScanState.LineStartDotCr : ScanState.MidLine;
          break;
        case ScanState.LineStartDotCr:
          if (b === LF) {
            this.#state = ScanState.LineStart;
            return i + 1;
          }
          state = b === CR ? ScanState.SawCr : ScanState.MidLine;
          break;
      }
    }
    this.#state = state;
    return -1;
  }
}

/**
 * Undo dot-stuffing (RFC 5321 §4.5.2): remove the final `.CRLF` and the leading dot of every
 * line that starts with one.
 *
 * @param raw - the DATA body exactly as received, ending with the terminator's `.CRLF` (the
 *   CRLF before it is kept: it ends the message's last line).
 * @returns a new Buffer with the message as the client meant it.
 */
export function unstuffDataBody(raw: Uint8Array): Buffer {
  const body = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const end = body.length >= 3 && body[body.length - 3] === DOT ? body.length - 3 : body.length;
  const parts: Buffer[] = [];
  let start = 0;
  if (end > 0 && body[0] === DOT) start = 1;
  let search = start;
  for (;;) {
    // A line start is the byte after CRLF; a dot there was added by the client.
    const at = body.indexOf('\r\n.', search);
    if (at === -1 || at + 2 >= end) break;
    parts.push(body.subarray(start, at + 2));
    start = at + 3;
    search = start;
  }
  parts.push(body.subarray(start, end));
  return Buffer.concat(parts);
}

/** Facts about a message body that a conformance test asserts on. */
export interface BodyFacts {
  /** An LF not preceded by CR. */
  bareLf: boolean;
  /** A CR not followed by LF. */
  bareCr: boolean;
  /** A byte >= 0x80 (needs BODY=8BITMIME, RFC 6152). */
  eightBit: boolean;
  /** A NUL byte (never legal in DATA, RFC 5321 §4.5.2 / RFC 6152). */
  nul: boolean;
  /** The longest line in octets, without its CRLF (RFC 5321 §4.5.3.1.6 caps it at 998). */
  longestLine: number;
}

/** Scan `data` once for bare CR/LF, 8-bit bytes, NUL and the longest line. */
export function bodyFacts(data: Uint8Array): BodyFacts {
  let bareLf = false;
  let bareCr = false;
  let eightBit = false;
  let nul = false;
  let longestLine = 0;
  let lineStart = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    if (b === LF) {
      const crlf = i > 0 && data[i - 1] === CR;
      if (!crlf) bareLf = true;
      const len = i - lineStart - (crlf ? 1 : 0);
      if (len > longestLine) longestLine = len;
      lineStart = i + 1;
    } else if (b === CR) {
      if (data[i + 1] !== LF) bareCr = true;
    } else if (b >= 0x80) {
      eightBit = true;
    } else if (b === 0) {
      nul = true;
    }
  }
  const tail = data.length - lineStart;
  if (tail > longestLine) longestLine = tail;
  return { bareLf, bareCr, eightBit, nul, longestLine };
}
