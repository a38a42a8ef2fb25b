/**
 * Deliberate non-conformances of the scripted server, so that every `conform` check can be shown
 * failing as well as passing. Off by default: the scripted server is strict. Pure helpers; the
 * session calls them at four points (DATA end, STARTTLS, enhanced codes, the greeting).
 */

/** Known-bad behaviours of real servers, each switchable on its own. */
export interface ServerQuirks {
  /**
   * Byte sequences that also end a DATA body, besides `CRLF.CRLF` (RFC 5321 §4.1.1.4), e.g.
   * `['\n.\n']`: the end-of-data recognizer of a server open to SMTP smuggling.
   */
  endOfData?: readonly string[];
  /**
   * Keep the plaintext received behind STARTTLS and obey it under TLS (the CVE-2011-0411 bug that
   * RFC 3207 §6 forbids).
   */
  starttlsKeepsPlaintext?: boolean;
  /** Reply classes (2, 4, 5) sent without an enhanced status code although ENHANCEDSTATUSCODES is on. */
  omitEnhancedCodes?: readonly number[];
  /**
   * Wait this many ms before the greeting; a client that sent anything meanwhile gets
   * `554 5.5.1` and is dropped (the early-talker defence of Postfix postscreen).
   */
  rejectEarlyTalkers?: number;
  /**
   * What happens to a command line longer than `maxLineLength` (correct: `500 5.5.2` for the whole
   * line). `'split'`: the first `maxLineLength` octets are a command and the rest is read as the next
   * one (Exim past its 16 KiB buffer: a desync and a command-injection path). `'truncate'`: the rest
   * of the line is dropped silently (Postfix at `line_length_limit`, 2,048).
   */
  longCommandLines?: 'split' | 'truncate';
  /**
   * A DATA body whose first line ends in a bare LF is read in LF-only framing: `\n.\n` ends it too
   * (Exim 4.96 does; in CRLF framing it needs `CRLF.CRLF`).
   */
  endOfDataInLfFraming?: boolean;
  /**
   * Count the DATA size without the CR of each CRLF (as Exim does): a message of long lines is
   * refused only when its octets without CRs exceed the SIZE limit.
   */
  sizeWithoutCr?: boolean;
}

/** The reply of {@link ServerQuirks.rejectEarlyTalkers}. */
export const EARLY_TALKER_REPLY = '554 5.5.1 Protocol error: talked before the greeting';

/** True when a reply with this code is to go without its enhanced code. */
export function omitsEnhancedCode(quirks: ServerQuirks, code: number): boolean {
  return quirks.omitEnhancedCodes?.includes(Math.floor(code / 100)) === true;
}

/**
 * End-of-data scanner that accepts `CRLF.CRLF` and the quirk's extra sequences, whichever comes
 * first. Same contract as `DataTerminatorScanner.push`: the index just past the end, or -1.
 * It keeps a short tail of earlier input so a sequence split across chunks is still found.
 */
export class LenientTerminatorScanner {
  readonly #sequences: Buffer[];
  readonly #keep: number;
  // The CRLF that ended the DATA command counts as the first line end.
  #tail: Buffer = Buffer.from('\r\n');

  constructor(extra: readonly string[]) {
    this.#sequences = ['\r\n.\r\n', ...extra].map((s) => Buffer.from(s, 'latin1'));
    this.#keep = Math.max(...this.#sequences.map((s) => s.length)) - 1;
  }

  push(chunk: Uint8Array): number {
    const tail = this.#tail;
    const all = Buffer.concat([tail, chunk]);
    let best = -1;
    for (const seq of this.#sequences) {
      let from = 0;
      for (;;) {
        const at = all.indexOf(seq, from);
        if (at === -1) break;
        const end = at + seq.length;
        // Only an end inside the new chunk counts (the tail was searched before).
        if (end > tail.length) {
          if (best === -1 || end < best) best = end;
          break;
        }
        from = at + 1;
      }
    }
    if (best !== -1) {
      this.#tail = Buffer.from('\r\n');
      return best - tail.length;
    }
    this.#tail = Buffer.from(all.subarray(Math.max(0, all.length - this.#keep)));
    return -1;
  }
}

/**
 * End-of-data scanner of {@link ServerQuirks.endOfDataInLfFraming}: undecided until the body's first
 * LF; a bare LF there switches to LF-only framing (`\n.\n` ends the body as well as `CRLF.CRLF`).
 * Same contract as `DataTerminatorScanner.push`.
 */
export class FramingTerminatorScanner {
  #inner: LenientTerminatorScanner | null = null;
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): number {
    if (this.#inner !== null) return this.#inner.push(chunk);
    const all = Buffer.concat([this.#pending, chunk]);
    const lf = all.indexOf(0x0a);
    // No line end yet: nothing can end the body in this chunk (every terminator holds an LF).
    if (lf === -1 && all.length < 65_536) {
      this.#pending = all;
      return -1;
    }
    const bareLf = lf > 0 && all[lf - 1] !== 0x0d;
    this.#inner = new LenientTerminatorScanner(bareLf ? ['\n.\n'] : []);
    const at = this.#inner.push(all);
    const offset = this.#pending.length;
    this.#pending = Buffer.alloc(0);
    return at === -1 ? -1 : at - offset;
  }
}
