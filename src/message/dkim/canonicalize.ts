/**
 * DKIM canonicalization (RFC 6376 §3.4): header fields (simple, relaxed) and the body (simple, relaxed)
 * as a streaming state machine, so a 100 MB body is hashed chunk by chunk in constant memory.
 *
 * Input contract of the body canonicalizer: the body as transmitted, i.e. already CRLF-normalised by
 * `BodyEncoder` (the owner of line-ending normalisation). A line ends at CRLF only; a bare CR or LF, if
 * one still came through, is an ordinary byte. Pure module.
 */

/** `simple` or `relaxed` (RFC 6376 §3.4). */
export type Canonicalization = 'simple' | 'relaxed';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const CRLF = Buffer.from('\r\n', 'latin1');
const SPACE = Buffer.from(' ', 'latin1');

/**
 * Receives canonical body bytes. Views passed to it are only valid during the call (the hasher
 * consumes them at once; a collector must copy).
 */
export type CanonicalSink = (bytes: Buffer) => void;

/**
 * The body canonicalizer, chunk by chunk: any split of the input gives the same output as one call with
 * the whole body (property-tested against {@link canonicalizeBodyReference}).
 *
 * State carried across chunks: a CR that may start a CRLF, the count of empty lines not yet known to be
 * trailing (RFC 6376 §3.4.3/§3.4.4: trailing empty lines are ignored), and for relaxed a run of
 * whitespace not yet known to be trailing (§3.4.4: ignored at line end, else one SP).
 */
export class BodyCanonicalizer {
  readonly #relaxed: boolean;
  readonly #sink: CanonicalSink;
  /** The previous chunk ended in CR: a line end if the next byte is LF, else a content byte. */
  #pendingCr = false;
  /** Empty lines seen since the last non-empty one: written only if more content follows. */
  #emptyLines = 0;
  /** The current line has had content (relaxed: a non-WSP byte; simple: any byte). */
  #lineStarted = false;
  /** Relaxed: whitespace seen after the last content byte of this line, not yet written. */
  #pendingWsp = false;
  /** Canonical octets written so far (for `l=`). */
  #length = 0;
  #ended = false;

  constructor(canonicalization: Canonicalization, sink: CanonicalSink) {
    this.#relaxed = canonicalization === 'relaxed';
    this.#sink = sink;
  }

  /** Canonical body octets written so far. */
  get length(): number {
    return this.#length;
  }

  #emit(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#length += bytes.length;
    this.#sink(bytes);
  }

  /** Writes the empty lines held back: content follows them, so they were not trailing. */
  #flushEmptyLines(): void {
    for (; this.#emptyLines > 0; this.#emptyLines--) this.#emit(CRLF);
  }

  /**
   * Feeds the next chunk. Bytes that go out unchanged — whole lines with their CRLF, across many lines —
   * are passed on as one view, so a base64 attachment costs one hash update per chunk, not two per line.
   * Only empty lines (held back: they may be trailing) and, for relaxed, whitespace runs break a run.
   */
  update(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const n = buf.length;
    const relaxed = this.#relaxed;
    let i = 0;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (n === 0) {
        this.#pendingCr = true;
        return;
      }
      if (buf[0] === LF) {
        this.#lineEnd();
        i = 1;
      } else this.#content(Buffer.from([CR]));
    }
    // [runStart, i): bytes that go out unchanged. Invariant: nothing is held back (empty lines, whitespace)
    // from before runStart unless the run is empty.
    let runStart = i;
    let nextCr = -2;
    let nextSp = -2;
    let nextTab = -2;
    const flush = (): void => {
      if (i > runStart) this.#emit(buf.subarray(runStart, i));
    };
    while (i < n) {
      const b = buf[i]!;
      if (b === CR) {
        if (i + 1 === n) {
          flush();
          this.#pendingCr = true;
          return;
        }
        if (buf[i + 1] === LF) {
          if (this.#lineStarted) {
            // The end of a line with content stays in the run (trailing whitespace was already skipped,
            // and the run then starts at this CR).
            this.#pendingWsp = false;
            this.#lineStarted = false;
            i += 2;
          } else {
            // An empty line (relaxed: or one of only whitespace): held back until content follows.
            flush();
            this.#pendingWsp = false;
            this.#emptyLines++;
            i += 2;
            runStart = i;
          }
          continue;
        }
        // A bare CR is a content byte (it cannot be whitespace): below.
      } else if (relaxed && (b === SP || b === TAB)) {
        // One SP between content bytes needs no change: keep it in the run (the common case in text).
        if (b === SP && this.#lineStarted && !this.#pendingWsp && i + 1 < n) {
          const next = buf[i + 1]!;
          if (next !== SP && next !== TAB && next !== CR) {
            i += 1;
            continue;
          }
        }
        flush();
        this.#pendingWsp = true;
        i += 1;
        while (i < n && (buf[i] === SP || buf[i] === TAB)) i++;
        runStart = i;
        continue;
      }
      // A content byte: first write what was held back before it.
      if (!this.#lineStarted) {
        if (this.#emptyLines > 0) {
          flush();
          this.#flushEmptyLines();
          runStart = i;
        }
        this.#lineStarted = true;
      }
      if (this.#pendingWsp) {
        flush();
        this.#pendingWsp = false;
        this.#emit(SPACE);
        runStart = i;
      }
      // Content bytes change no state: jump to the next byte that may (native indexOf, each search moving
      // forward, so the pass stays linear).
      const from = i + 1;
      if (nextCr < from && nextCr !== -1) nextCr = buf.indexOf(CR, from);
      let next = nextCr === -1 ? n : nextCr;
      if (relaxed) {
        if (nextSp < from && nextSp !== -1) nextSp = buf.indexOf(SP, from);
        if (nextTab < from && nextTab !== -1) nextTab = buf.indexOf(TAB, from);
        if (nextSp !== -1 && nextSp < next) next = nextSp;
        if (nextTab !== -1 && nextTab < next) next = nextTab;
      }
      i = next;
    }
    flush();
  }

  /** A content byte outside a run (a CR held from the previous chunk). */
  #content(bytes: Buffer): void {
    if (!this.#lineStarted) {
      this.#flushEmptyLines();
      this.#lineStarted = true;
    }
    if (this.#pendingWsp) {
      this.#pendingWsp = false;
      this.#emit(SPACE);
    }
    this.#emit(bytes);
  }

  #lineEnd(): void {
    // Relaxed: whitespace before CRLF is dropped, and a line of only whitespace is an empty line.
    this.#pendingWsp = false;
    if (this.#lineStarted) {
      this.#emit(CRLF);
      this.#lineStarted = false;
    } else this.#emptyLines++;
  }

  /** Ends the body: a last line without CRLF gets one; trailing empty lines are dropped. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      this.#content(Buffer.from([CR]));
    }
    this.#pendingWsp = false;
    if (this.#lineStarted) {
      this.#emit(CRLF);
      this.#lineStarted = false;
    }
    // Simple (§3.4.3): an empty body is one CRLF. Relaxed (§3.4.4): an empty body stays empty.
    if (!this.#relaxed && this.#length === 0) this.#emit(CRLF);
  }
}

/**
 * The whole body canonicalized at once, written straight from RFC 6376 §3.4.3/§3.4.4 with regular
 * expressions: the reference the streaming {@link BodyCanonicalizer} is tested against.
 */
export function canonicalizeBodyReference(body: Buffer, canonicalization: Canonicalization): Buffer {
  let text = body.toString('latin1');
  if (canonicalization === 'relaxed') {
    const lines = text.split('\r\n');
    text = lines.map((line) => line.replace(/[ \t]+/g, ' ').replace(/ $/, '')).join('\r\n');
    // A non-empty last line without CRLF is completed; then trailing empty lines go.
    if (!text.endsWith('\r\n') && text !== '') text += '\r\n';
    text = text.replace(/(\r\n)+$/, '\r\n');
    if (text === '\r\n') text = '';
  } else {
    if (!text.endsWith('\r\n')) text += '\r\n';
    text = text.replace(/(\r\n)+$/, '\r\n');
  }
  return Buffer.from(text, 'latin1');
}

/** One header field as it appears in the message: its name and the whole field (name, colon, value, CRLFs). */
export interface HeaderField {
  /** The name as written (case kept). */
  name: string;
  /** The name lower-cased (ASCII), for case-insensitive matching. */
  key: string;
  /** The whole field, folding kept, without the final CRLF. */
  raw: string;
}

/**
 * Splits a CRLF-normalised header block (without the empty separator line) into fields: a line that
 * begins with SP or TAB continues the previous field (RFC 5322 §2.2.3). Lines without a colon are kept
 * as fields named by the whole line, so they can never be mistaken for a signed field.
 */
export function parseHeaderFields(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  if (block === '') return fields;
  const lines = block.split('\r\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const first = line.charCodeAt(0);
    if ((first === SP || first === TAB) && fields.length > 0) {
      const last = fields[fields.length - 1]!;
      last.raw += `\r\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon).replace(/[ \t]+$/, '');
    fields.push({ name, key: asciiLower(name), raw: line });
  }
  return fields;
}

/**
 * One header field canonicalized (RFC 6376 §3.4.1 simple: unchanged; §3.4.2 relaxed: name lower-cased,
 * unfolded, whitespace runs to one SP, none at the ends of the value or around the colon). Without the
 * final CRLF.
 */
export function canonicalizeHeader(raw: string, canonicalization: Canonicalization): string {
  if (canonicalization === 'simple') return raw;
  const colon = raw.indexOf(':');
  const name = asciiLower((colon === -1 ? raw : raw.slice(0, colon)).replace(/[ \t]+$/, ''));
  if (colon === -1) return `${name}:`;
  // Each step only when needed: most values are one line with single spaces (this runs per signed field).
  let value = raw.slice(colon + 1);
  if (value.includes('\r\n')) value = value.replace(/\r\n/g, '');
  if (value.includes('\t') || value.includes('  ')) value = value.replace(/[ \t]+/g, ' ');
  // After the step above at most one SP is left at each end.
  const start = value.charCodeAt(0) === SP ? 1 : 0;
  const end = value.length > start && value.charCodeAt(value.length - 1) === SP ? value.length - 1 : value.length;
  return `${name}:${value.slice(start, end)}`;
}

/** ASCII-only lower-casing: header text is latin1-decoded bytes, whose 8-bit letters must stay as they are. */
export function asciiLower(text: string): string {
  return /[^\x00-\x7f]/.test(text) ? text.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : text.toLowerCase();
}
