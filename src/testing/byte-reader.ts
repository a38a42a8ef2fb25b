/**
 * The test server's input side: the client's bytes as they arrived, read back as SMTP lines, DATA
 * bodies (up to `CRLF.CRLF`) or BDAT chunks (exactly n octets), each line with its arrival facts
 * (when, and how many replies had been sent before it: what shows pipelining). Over-long lines are
 * skipped to their LF, so memory stays bounded.
 */
import { DataTerminatorScanner } from './message-body.js';

const LF = 0x0a;
const CR = 0x0d;

/** A received line with its arrival facts. */
export interface Line {
  text: string;
  crlf: boolean;
  overlong: boolean;
  at: number;
  repliesBefore: number;
}

/** Arrival facts of a received chunk: its end as an absolute stream offset. */
interface Mark {
  end: number;
  at: number;
  repliesBefore: number;
}

export class ByteReader {
  // Unconsumed bytes, total received, and arrival marks of the unconsumed chunks.
  #buf: Buffer = Buffer.alloc(0);
  #received = 0;
  #marks: Mark[] = [];
  #waiter: (() => void) | null = null;
  #closed = false;
  #discarding = false;
  /** The line being discarded was already returned cut (the `truncate` quirk): its LF ends it quietly. */
  #quietDiscard = false;
  #discardPrefix = '';

  /** Octets received and not yet read. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** Takes a chunk as it arrived, with the number of replies sent so far. */
  push(chunk: Buffer, repliesBefore: number): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#received += chunk.length;
    this.#marks.push({ end: this.#received, at: performance.now(), repliesBefore });
    this.#wake();
  }

  /** The connection closed: pending and later reads give null. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /** Drops what is buffered (plaintext before a TLS handshake, RFC 3207 §6); returns its length. */
  discardBuffered(): number {
    const n = this.#buf.length;
    this.#consume(n);
    return n;
  }

  /**
   * The next line, or null when the connection closed. Over-long lines are skipped to their LF (and
   * returned as `overlong`), unless `long` says how a known-bad server treats them: `split` returns
   * the first `max` octets as a line and reads on from there (what follows becomes a command of its
   * own, as Exim does past its 16 KiB buffer), `truncate` returns the first `max` octets as a line
   * and drops the rest up to the LF (as Postfix does at `line_length_limit`).
   */
  async readLine(
    max: number,
    repliesNow: number,
    long: 'refuse' | 'split' | 'truncate' = 'refuse',
  ): Promise<Line | null> {
    for (;;) {
      if (this.#closed) return null;
      const index = this.#buf.indexOf(LF);
      if (this.#discarding) {
        if (index === -1) {
          this.#consume(this.#buf.length);
          await this.#waitData();
          continue;
        }
        const mark = this.#markFor(index, repliesNow);
        this.#consume(index + 1);
        this.#discarding = false;
        if (this.#quietDiscard) {
          this.#quietDiscard = false;
          continue;
        }
        return {
          text: this.#discardPrefix,
          crlf: true,
          overlong: true,
          at: mark.at,
          repliesBefore: mark.repliesBefore,
        };
      }
      if (long !== 'refuse' && (index === -1 ? this.#buf.length > max + 1 : index > max + 1)) {
        const mark = this.#markFor(max - 1, repliesNow);
        const text = this.#buf.toString('utf8', 0, max);
        this.#consume(max);
        if (long === 'truncate') {
          this.#discarding = true;
          this.#quietDiscard = true;
        }
        return { text, crlf: true, overlong: false, at: mark.at, repliesBefore: mark.repliesBefore };
      }
      if (index === -1) {
        if (this.#buf.length > max + 1) {
          this.#discardPrefix = this.#buf.toString('utf8', 0, 80);
          this.#discarding = true;
          continue;
        }
        await this.#waitData();
        continue;
      }
      const crlf = index > 0 && this.#buf[index - 1] === CR;
      const length = crlf ? index - 1 : index;
      const mark = this.#markFor(index, repliesNow);
      const overlong = length > max;
      const text = this.#buf.toString('utf8', 0, overlong ? 80 : length);
      this.#consume(index + 1);
      return { text, crlf, overlong, at: mark.at, repliesBefore: mark.repliesBefore };
    }
  }

  /** A DATA body up to and including `CRLF.CRLF`, keeping at most `keep` octets; null when closed first. */
  async readDataBody(
    keep: number,
    scanner: { push(chunk: Buffer): number } = new DataTerminatorScanner(),
  ): Promise<{ raw: Buffer; size: number; oversize: boolean } | null> {
    let parts: Buffer[] = [];
    let size = 0;
    let oversize = false;
    for (;;) {
      if (this.#closed) return null;
      if (this.#buf.length === 0) {
        await this.#waitData();
        continue;
      }
      const chunk = this.#buf;
      const end = scanner.push(chunk);
      const take = end === -1 ? chunk : chunk.subarray(0, end);
      size += take.length;
      if (size > keep) {
        oversize = true;
        parts = [];
      } else {
        parts.push(take);
      }
      this.#consume(take.length);
      if (end !== -1) return { raw: oversize ? Buffer.alloc(0) : Buffer.concat(parts), size, oversize };
    }
  }

  /** Exactly `n` octets (a BDAT chunk), keeping them only when `n <= keep`; null when closed first. */
  async readExact(n: number, keep: number): Promise<{ bytes: Buffer; kept: boolean } | null> {
    const parts: Buffer[] = [];
    let left = n;
    const kept = n <= keep;
    while (left > 0) {
      if (this.#closed) return null;
      if (this.#buf.length === 0) {
        await this.#waitData();
        continue;
      }
      const take = this.#buf.subarray(0, Math.min(left, this.#buf.length));
      if (kept) parts.push(take);
      left -= take.length;
      this.#consume(take.length);
    }
    return { bytes: kept ? Buffer.concat(parts) : Buffer.alloc(0), kept };
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  #waitData(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  #consume(n: number): void {
    this.#buf = this.#buf.subarray(n);
    const start = this.#received - this.#buf.length;
    while (this.#marks.length > 1 && (this.#marks[0] as Mark).end <= start) this.#marks.shift();
  }

  /** Arrival facts of the byte at `index` in the unconsumed buffer. */
  #markFor(index: number, repliesNow: number): Mark {
    const absolute = this.#received - this.#buf.length + index;
    for (const mark of this.#marks) if (mark.end > absolute) return mark;
    return { end: absolute + 1, at: performance.now(), repliesBefore: repliesNow };
  }
}
